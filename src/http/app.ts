// The HTTP app: agent API, Twilio webhooks, the codec server, health, and (in sandbox mode only) the local fakes.
import express, { type ErrorRequestHandler, type Router } from 'express';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { OtsApiVersion } from '../ots/schemas.js';
import type { Metrics } from '../metrics.js';
import { bearerAuth } from './auth.js';
import { metricsRouter } from './metrics.js';
import { openApiRouter } from './openapi.js';
import { codecRouter, type CodecServerOptions } from './codec-server.js';
import { createAgentOps, sharesRouter, type SharesDeps } from './shares.js';
import { retryLaterOf } from './retry-later.js';
import { grpcCodeOf } from './temporal-errors.js';
import { mcpRouter } from '../mcp/http.js';
import { twilioRouter, type VoiceWebhookDeps } from './twilio-webhooks.js';
import type { TwilioWebhookKey } from '../twilio/webhook-keys.js';

export interface AppDeps extends Omit<SharesDeps, 'log' | 'client'> {
  client: Client;
  log: Logger;
  tokens: readonly string[];
  twilioAuthToken: string;
  /** TWILIO_WEBHOOK_KEYS. */
  twilioWebhookKeys?: readonly TwilioWebhookKey[];
  voice?: VoiceWebhookDeps;
  codec: Omit<CodecServerOptions, 'log'>;
  /** Temporal reachable and workers polling. */
  ready(): Promise<Record<string, boolean>>;
  /** Whether the Temporal client's latest news is that the server could not be reached (src/temporal/client.ts). */
  temporalSeemsUnreachable?: () => boolean;
  /** The Onetime Secret API version in use, once chosen at start-up (src/ots/client.ts, detectApiVersion). */
  otsApiVersion?: () => OtsApiVersion | undefined;
  /** Mounted only in sandbox mode. */
  sandbox?: Router[];
  /** What the routes record into (shares started, webhooks). */
  metrics?: Metrics;
  /** What GET /metrics serves (src/http/metrics.ts), with METRICS_TOKENS if set; default `metrics`. */
  metricsServed?: Metrics;
  metricsTokens?: readonly string[];
  /**
   * Whether the fake SMS outbox needs the bearer token: yes as soon as any service is live, because then it lists
   * links to real secrets. (The OTS emulator keeps its own Basic auth, like the real server.)
   */
  outboxNeedsAuth?: boolean;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await deps.ready().catch(() => ({ temporal: false }));
    const ok = Object.values(checks).every(Boolean);
    res.status(ok ? 200 : 503).json({ ok, checks, otsApiVersion: deps.otsApiVersion?.() ?? null });
  });

  const served = deps.metricsServed ?? deps.metrics;
  if (served) app.use(metricsRouter({ metrics: served, tokens: deps.metricsTokens }));

  app.use(codecRouter({ ...deps.codec, log: deps.log }));
  app.use(
    twilioRouter({
      client: deps.client,
      authToken: deps.twilioAuthToken,
      sharedKeys: deps.twilioWebhookKeys,
      publicBaseUrl: deps.publicBaseUrl,
      log: deps.log,
      voice: deps.voice,
      metrics: deps.metrics,
    }),
  );
  const auth = bearerAuth(deps.tokens);
  // The outbox and the simulated calls show what reached the caller (links, the passphrase the caller heard).
  if (deps.outboxNeedsAuth) app.use(['/sandbox/outbox', '/sandbox/calls'], auth);
  for (const r of deps.sandbox ?? []) app.use(r);
  app.use(openApiRouter());
  // What a retry-later error says (src/http/retry-later.ts), for the REST routes and the MCP tools alike.
  const retryContext = { deadlineMs: deps.temporalDeadlineMs, seemsUnreachable: deps.temporalSeemsUnreachable };
  // One set of operations behind both front doors: the REST routes and the MCP tools (README.md, "MCP").
  const ops = createAgentOps(deps);
  // Before sharesRouter, whose body parser runs for every path it sees: /mcp reads its body with its own limit.
  app.use(mcpRouter({ ops, tokens: deps.tokens, log: deps.log, retryContext }));
  app.use('/v1', auth);
  app.use(sharesRouter(deps, ops));

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    // The same request later will work: a 503 with Retry-After says so to the agent's HTTP client, where a 500 would
    // read as a bug. The agent retries with the same Idempotency-Key (scripts/lib/agent.ts does).
    const retryLater = (retryAfterSeconds: number, error: string) => {
      if (!res.headersSent) res.status(503).set('Retry-After', String(retryAfterSeconds)).json({ error });
    };
    // Temporal busy or unreachable, a burn not taken up in time, Onetime Secret unable to burn just now.
    const later = retryLaterOf(err, retryContext);
    if (later) {
      deps.log.warn({ path: req.path, ...later.log.fields }, later.log.message);
      retryLater(later.retryAfterSeconds, later.message);
      return;
    }
    // Body parser errors carry a status (400 bad JSON, 413 too large, 415); never echo what was sent.
    const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500)
      deps.log.error(
        { err: { type: err?.name, code: err?.code, message: err?.message }, grpcCode: grpcCodeOf(err), path: req.path },
        'request failed',
      );
    const message =
      status === 400
        ? 'the request body is not valid JSON or form data'
        : status === 413
          ? 'the request body is too large'
          : status === 415
            ? 'unsupported content type'
            : status < 500
              ? 'bad request'
              : 'internal error; the hand-off state is unchanged, try again';
    if (!res.headersSent) res.status(status).json({ error: message });
  };
  app.use(onError);
  return app;
}
