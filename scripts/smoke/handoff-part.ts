// The hand-off part: the service itself, started in this process exactly as src/main.ts starts it (startService,
// with the live credentials), against a throwaway Temporal dev server (or TEMPORAL_ADDRESS, on a task queue of its
// own). One hand-off goes through the agent API as a voice agent would send it: POST /v1/shares with a random value
// made here, the link by SMS to SMOKE_SMS_TO; GET /v1/shares/:id until the link is sent (and, when Twilio can call
// back, delivered); POST /v1/shares/:id/burn; then Onetime Secret itself, through the OTS client, must say burned.
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { request } from 'undici';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/log.js';
import { fingerprintCandidates } from '../../src/ots/create-recovery.js';
import type { OtsClient, Receipt } from '../../src/ots/client.js';
import { makeSandboxSecrets, startService, StartupError, type RunningService } from '../../src/service.js';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { temporalConnectionOptions } from '../../src/temporal/connection-options.js';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { freePort } from '../../src/temporal/ports.js';
import { registerSearchAttributes } from '../../src/temporal/register-search-attributes.js';
import { allSearchAttributes } from '../../workflows/search-attributes.js';
import type { ShareState, ShareStatus, SmsStatus } from '../../workflows/types.js';
import type { Interrupt, Ledger } from './ledger.js';
import { burnWithClient, randomValue, SMOKE_TTL_SECONDS, StepFailed } from './ots-part.js';
import { errorText, showKey, showPhone, showSid, type Output } from './output.js';
import { smokeEnv, TWILIO_MAGIC_FROM, type Env, type Fillers } from './plan.js';
import { installTemporalLogging } from '../../src/temporal/runtime-logging.js';

const projectDir = fileURLToPath(new URL('../..', import.meta.url));

/** Creating the secret is retried by the workflow (5 attempts, up to 30 s apart): give it that long, and a bit. */
const LINK_SENT_TIMEOUT_MS = 90_000;
/** Twilio's first callbacks (queued, sent) come within seconds; delivery to a handset usually within a minute. */
const DELIVERY_TIMEOUT_MS = 60_000;
const POLL_MS = 300;
/** The agent API answers within 10 s (README.md, "The agent API"); a little more for the network. */
const API_TIMEOUT_MS = 15_000;

/** Final SMS statuses (workflows/sms-status.ts ranks them above sent). */
const FINAL_SMS: readonly SmsStatus[] = [
  'delivered',
  'read',
  'undelivered',
  'failed',
  'canceled',
  'partially_delivered',
];
const BAD_SMS: readonly SmsStatus[] = ['undelivered', 'failed', 'canceled', 'partially_delivered'];

export interface HandoffPartContext {
  out: Output;
  ledger: Ledger;
  interrupt: Interrupt;
  /** The operator's environment (validated by the plan). */
  env: Env;
  fillers: Fillers;
  /** Smoke's own OTS client, for the check that Onetime Secret says burned. */
  ots: OtsClient;
  runId: string;
  twilio: { from: string; to: string };
  /** Closers, run after the cleanup has burned everything (the service must still be up for its burn API). */
  teardown: (() => Promise<void>)[];
  /** The service's and Temporal's warnings and errors, printed when a step fails. */
  logs: string[];
}

export async function runHandoffPart(ctx: HandoffPartContext): Promise<void> {
  const { out, interrupt } = ctx;
  const config = serviceConfig(ctx, await chooseListener(ctx.env));
  const log = capturingLogger(ctx.logs);
  // Without shutdown signals: on SIGINT the runtime would stop every worker at once, and a hand-off without a worker
  // cannot be burned through the API. Smoke burns first and stops the workers after.
  installTemporalLogging(log, 'WARN', { shutdownSignals: [] });

  const temporalAddress = await interrupt.guard(startTemporal(ctx, config, log));
  out.say('Service: starting in this process with the live credentials (the workflows are bundled first) …');
  let svc: RunningService;
  try {
    svc = await interrupt.guard(
      startService({ config, temporalAddress, log, sandboxSecrets: makeSandboxSecrets() }).then((s) => {
        ctx.teardown.push(() => s.stop());
        return s;
      }),
    );
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    const busy = ctx.env.PUBLIC_BASE_URL && /cannot listen/.test(err.message);
    throw new StepFailed(
      'service start',
      err.message +
        (busy
          ? ' With PUBLIC_BASE_URL set, smoke listens where Twilio calls back (HOST:PORT): stop the service running there for the smoke test, or unset PUBLIC_BASE_URL to skip the delivery check.'
          : ''),
    );
  }
  out.say(
    `Service: ${svc.url}, Onetime Secret API ${svc.ots.apiVersion ?? '?'}, Twilio live` +
      (ctx.twilio.from === TWILIO_MAGIC_FROM ? ' (test credentials: From is the magic +15005550006)' : '') +
      `, task queue ${config.TEMPORAL_TASK_QUEUE}`,
  );
  const api = agentApi(svc.url, ctx.fillers.agentToken);

  // The hand-off, as a voice agent asks for it. Not raced against Ctrl-C: once sent, its answer (the share id) is
  // what lets the cleanup burn it.
  const value = randomValue(24);
  out.sensitive(value);
  const ticketId = `SMOKE-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  const start = () =>
    api('POST', '/v1/shares', {
      body: {
        ticketId,
        secret: { value },
        ttl: SMOKE_TTL_SECONDS,
        link: { channel: 'sms', to: ctx.twilio.to },
      },
      headers: { 'idempotency-key': `smoke-${ctx.runId}` },
    });
  // An answer lost on the way (a timeout) may hide a hand-off that started and texts a live link: the same request
  // again, with the same Idempotency-Key, answers that hand-off's id (README, "The agent API") so it can be burned.
  let started: Awaited<ReturnType<typeof start>> | undefined;
  for (let attempt = 1; !started; attempt++) {
    started = await start().catch((err: unknown) => {
      if (attempt >= 3) throw new StepFailed('hand-off start', `POST /v1/shares: ${errorText(err)}`);
      return undefined;
    });
  }
  if (started.status !== 202 || typeof started.body?.shareId !== 'string')
    throw new StepFailed('hand-off start', `POST /v1/shares answered ${started.status} ${describeError(started.body)}`);
  const shareId: string = started.body.shareId;
  const expiresAt = new Date(Date.now() + SMOKE_TTL_SECONDS * 1000);
  ctx.ledger.add({
    what: `hand-off ${shareId}`,
    key: shareId,
    expiresAt,
    burn: () => burnHandoff(ctx, api, shareId),
  });
  out.say(
    `Hand-off: POST /v1/shares → 202 ${shareId} (ticket ${ticketId}; value redacted, ${value.length} chars; ` +
      `link by SMS to ${showPhone(ctx.twilio.to)}; ttl ${SMOKE_TTL_SECONDS} s)`,
  );

  // Follow it until the link is sent, printing its notes (written for technicians: no secret, link or key in them).
  const seen = new Set<string>();
  const follow = async (until: (s: ShareStatus) => boolean, timeoutMs: number, what: string): Promise<ShareStatus> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await interrupt.guard(api('GET', `/v1/shares/${shareId}`));
      if (res.status !== 200) throw new StepFailed(what, `GET /v1/shares/${shareId} answered ${res.status}`);
      const status = res.body as ShareStatus;
      for (const n of status.notes ?? [])
        if (!seen.has(`${n.at} ${n.text}`)) {
          seen.add(`${n.at} ${n.text}`);
          out.say(`Hand-off: note: ${n.text}`);
        }
      if (until(status)) return status;
      if (Date.now() > deadline)
        throw new StepFailed(what, `still ${status.state} after ${timeoutMs / 1000} s (notes above)`);
      await interrupt.sleep(POLL_MS);
    }
  };
  const settledStates: readonly ShareState[] = ['awaiting_view', 'needs_technician', 'viewed', 'expired', 'burned'];
  const sent = await follow(
    (s) => settledStates.includes(s.state) || s.state === ('terminated' as ShareState),
    LINK_SENT_TIMEOUT_MS,
    'hand-off link',
  );
  if (sent.state !== 'awaiting_view') {
    // Twilio documents 21609 for a StatusCallback it cannot use, which a loopback one may be
    // (https://www.twilio.com/docs/api/errors/21609).
    const loopbackCallback = !ctx.env.PUBLIC_BASE_URL && /\b21609\b/.test([...seen].join('\n'));
    throw new StepFailed(
      'hand-off link',
      sent.state === 'needs_technician'
        ? `the hand-off paused for a technician (its last note says why)${loopbackCallback ? '; Twilio refused the status callback URL on this machine: set PUBLIC_BASE_URL to a public URL that reaches this port' : ''}`
        : `the hand-off ended ${sent.state} before its link was sent`,
    );
  }
  const sid = /\(message (SM[0-9a-fA-F]+)\)/.exec([...seen].join('\n'))?.[1];
  out.say(
    `SMS: sent ${sid ? showSid(sid) : 'the link'} to ${showPhone(ctx.twilio.to)} at ${sent.link.sentAt ?? '?'} (body redacted: it holds the link); hand-off awaiting_view`,
  );

  await waitForDelivery(ctx, follow);

  // Burn it through the agent API, as an agent would when the caller hangs up.
  const burned = await api('POST', `/v1/shares/${shareId}/burn`).catch((err: unknown) => {
    throw new StepFailed('hand-off burn', `POST /v1/shares/${shareId}/burn: ${errorText(err)}`);
  });
  let expected: 'burned' | 'received' = 'burned';
  if (burned.status === 202) {
    out.say(`Hand-off: POST /v1/shares/${shareId}/burn → 202 burn_requested; waiting for it`);
    await follow((s) => s.state === 'burned', 30_000, 'hand-off burn');
  } else if (burned.status === 409 && burned.body?.state === 'viewed') {
    // Someone at SMOKE_SMS_TO opened the link first: revealing it destroyed the secret, so nothing is left live.
    expected = 'received';
    out.say(`Hand-off: POST /v1/shares/${shareId}/burn → 409: the link was already opened, which destroyed it`);
  } else if (burned.status !== 200 || burned.body?.state !== 'burned') {
    throw new StepFailed(
      'hand-off burn',
      `POST /v1/shares/${shareId}/burn answered ${burned.status} ${describeError(burned.body)}`,
    );
  }
  ctx.ledger.markBurned(shareId);
  if (expected === 'burned') out.say(`Hand-off: POST /v1/shares/${shareId}/burn → ${burned.status} burned`);

  // And Onetime Secret itself must say so.
  const receipt = await interrupt.guard(findReceipt(ctx, shareId, [...seen].join('\n')));
  const now = await interrupt.guard(ctx.ots.receipt(receipt.metadataKey));
  if (now.state !== expected)
    throw new StepFailed(
      'hand-off check',
      `Onetime Secret says ${now.state} for ${showKey(receipt.metadataKey)}, expected ${expected}`,
    );
  out.say(`OTS: receipt ${showKey(receipt.metadataKey)} of ${shareId} says ${now.state} (checked with the OTS client)`);
}

/** Waits for Twilio's delivery report only when it can arrive, and says why not otherwise. */
async function waitForDelivery(
  ctx: HandoffPartContext,
  follow: (until: (s: ShareStatus) => boolean, timeoutMs: number, what: string) => Promise<ShareStatus>,
): Promise<void> {
  const { out } = ctx;
  if (ctx.twilio.from === TWILIO_MAGIC_FROM) {
    out.say(
      'Hand-off: not waiting for delivery: with test credentials Twilio accepts the message but sends nothing and calls no status callback',
    );
    return;
  }
  if (!ctx.env.PUBLIC_BASE_URL) {
    out.say(
      "Hand-off: not waiting for delivery: PUBLIC_BASE_URL is not set, so Twilio's status callbacks cannot reach this machine (check the phone; set PUBLIC_BASE_URL to a URL that reaches this port to check delivery too)",
    );
    return;
  }
  out.say(`Hand-off: waiting up to ${DELIVERY_TIMEOUT_MS / 1000} s for Twilio's status callbacks at PUBLIC_BASE_URL …`);
  let last: ShareStatus | undefined;
  try {
    last = await follow(
      (s) => {
        last = s;
        return FINAL_SMS.includes(s.link.deliveryStatus as SmsStatus) || s.state === 'needs_technician';
      },
      DELIVERY_TIMEOUT_MS,
      'SMS delivery',
    );
  } catch (err) {
    if (!(err instanceof StepFailed) || !last) throw err;
    // Some callback came (queued, sent): the webhook works; the handset has not reported yet.
    if (last.link.deliveryStatus) {
      out.say(
        `Hand-off: Twilio reports ${last.link.deliveryStatus} (status callbacks reach PUBLIC_BASE_URL); no delivery report within ${DELIVERY_TIMEOUT_MS / 1000} s`,
      );
      return;
    }
    throw new StepFailed(
      'SMS delivery',
      `no status callback reached PUBLIC_BASE_URL within ${DELIVERY_TIMEOUT_MS / 1000} s: check that it reaches this process's port, and Twilio's debugger for webhook errors (11200)`,
    );
  }
  const status = last.link.deliveryStatus;
  if (BAD_SMS.includes(status as SmsStatus) || last.state === 'needs_technician')
    throw new StepFailed('SMS delivery', `Twilio reports ${status ?? 'a failure'} for the link SMS (notes above)`);
  out.say(`Hand-off: Twilio reports ${status} (a signed status callback reached PUBLIC_BASE_URL)`);
}

/**
 * The receipt of the hand-off's secret, by the public API only: its notes name the receipt's first 8 characters,
 * and the service asked Onetime Secret for one of this share id's TTL fingerprints (src/ots/create-recovery.ts).
 */
async function findReceipt(ctx: HandoffPartContext, shareId: string, notes: string): Promise<Receipt> {
  const ref = /receipt ([0-9a-z]{6,})…/.exec(notes)?.[1];
  if (!ref) throw new StepFailed('hand-off check', 'the notes name no receipt');
  let found = (await ctx.ots.recent()).filter((r) => r.metadataKey.startsWith(ref));
  // 8 characters of a 62-character key tell receipts apart; should they not, the TTLs this share id may ask for do.
  if (found.length > 1) {
    const ttls = fingerprintCandidates(shareId, SMOKE_TTL_SECONDS);
    found = found.filter((r) => ttls.includes(r.ttl));
  }
  if (found.length !== 1)
    throw new StepFailed(
      'hand-off check',
      `${found.length} receipts in the account's recent list start with ${ref} (expected exactly one)`,
    );
  ctx.out.sensitive(found[0]!.metadataKey, found[0]!.secretKey);
  return found[0]!;
}

/** The cleanup's burn of a hand-off: through the agent API; if the API cannot, directly through the OTS client. */
async function burnHandoff(ctx: HandoffPartContext, api: AgentApi, shareId: string): Promise<string> {
  let why: string;
  try {
    const res = await api('POST', `/v1/shares/${shareId}/burn`);
    if (res.status === 200 && res.body?.state === 'burned') return 'burned through POST /v1/shares/:id/burn';
    // 409: the hand-off had ended with its link dead (burned, opened, expired, …); one that closed with the link
    // possibly live is burned by the API itself and answers 200 (README.md, "Burn").
    if (res.status === 409)
      return `needed no burn: the hand-off had already ended ${res.body?.state ?? '(state not said)'}`;
    why = `POST /v1/shares/${shareId}/burn answered ${res.status} ${describeError(res.body)}`;
  } catch (err) {
    why = errorText(err);
  }
  // The API did not do it (a 202 still running, the service stuck): burn the receipt itself.
  const status = await api('GET', `/v1/shares/${shareId}`).catch(() => undefined);
  const notes = ((status?.body as ShareStatus | undefined)?.notes ?? []).map((n) => n.text).join('\n');
  try {
    const receipt = await findReceipt(ctx, shareId, notes);
    return `${await burnWithClient(ctx.ots, receipt.metadataKey)} with the OTS client (the API could not: ${why})`;
  } catch (err) {
    throw new Error(`${why}; and directly: ${errorText(err)}`, { cause: err });
  }
}

/**
 * Where smoke's service listens. With PUBLIC_BASE_URL set, Twilio's callbacks arrive at HOST:PORT as they would for
 * the service (a tunnel or proxy in front), so smoke listens there; otherwise on a free loopback port.
 */
async function chooseListener(env: Env): Promise<{ host: string; port: number }> {
  if (env.PUBLIC_BASE_URL) return { host: env.HOST || '127.0.0.1', port: Number(env.PORT || 3000) };
  return { host: '127.0.0.1', port: await freePort() };
}

/** The service's configuration for this run: the operator's, through loadConfig, with smoke's own queue and port. */
function serviceConfig(ctx: HandoffPartContext, at: { host: string; port: number }): Config {
  const env = smokeEnv(ctx.env, ctx.fillers, `http://127.0.0.1:${at.port}`);
  return loadConfig({
    ...env,
    HOST: at.host,
    PORT: String(at.port),
    // Its own task queue: on a shared Temporal (TEMPORAL_ADDRESS) no worker of the running service takes its tasks.
    TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE || 'ots-handoff'}-smoke-${ctx.runId}`,
    // A smoke hand-off is not a ticket: no notes to the PSA.
    NOTES_WEBHOOK_URL: undefined,
    NOTES_WEBHOOK_SECRET: undefined,
    // Smoke's hand-off has no passphrase (one would need an email link or a live call); the policy is the agent
    // API's, and the OTS part already creates a passphrase-protected secret.
    OTS_REQUIRE_PASSPHRASE: undefined,
  });
}

/** TEMPORAL_ADDRESS, or a throwaway dev server (in memory, headless, free port) stopped at the end. */
async function startTemporal(ctx: HandoffPartContext, config: Config, log: Logger): Promise<string> {
  const { out } = ctx;
  let address: string;
  if (config.TEMPORAL_ADDRESS) {
    address = config.TEMPORAL_ADDRESS;
    out.say(`Temporal: ${address} (TEMPORAL_ADDRESS), namespace ${config.TEMPORAL_NAMESPACE}`);
  } else {
    const cliPath = await ensureTemporalCli({
      projectDir,
      env: process.env,
      log: (line) => out.say(`Temporal: ${line}`),
    });
    const dev: DevServer = await startDevServer({
      cliPath,
      port: await freePort(),
      namespace: config.TEMPORAL_NAMESPACE,
      searchAttributes: allSearchAttributes,
      log: (line) => log.warn({ component: 'temporal-dev-server' }, line),
    });
    ctx.teardown.push(() => dev.stop());
    address = dev.address;
    out.say(`Temporal: throwaway dev server at ${address} (in memory, no UI; stopped at the end)`);
  }
  // As src/main.ts does before starting the service.
  const connection = await Connection.connect(temporalConnectionOptions(config, address));
  try {
    await registerSearchAttributes(connection, config.TEMPORAL_NAMESPACE, allSearchAttributes);
  } finally {
    await connection.close();
  }
  return address;
}

/** The service's pino logger, keeping only warnings and errors (as JSON lines) for the failure report. */
function capturingLogger(lines: string[]): Logger {
  return createLogger({
    level: 'warn',
    destination: {
      write(line: string) {
        if (lines.length < 200) lines.push(line.trimEnd());
      },
    },
  });
}

interface ApiAnswer {
  status: number;
  body: any;
}
type AgentApi = (
  method: 'GET' | 'POST',
  path: string,
  opts?: { body?: unknown; headers?: Record<string, string> },
) => Promise<ApiAnswer>;

function agentApi(base: string, token: string): AgentApi {
  return async (method, path, opts = {}) => {
    const res = await request(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      headersTimeout: API_TIMEOUT_MS,
      bodyTimeout: API_TIMEOUT_MS,
    });
    const text = await res.body.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.statusCode, body };
  };
}

/** The API's error body in a line: `error`, and each issue's path and message (it never echoes values). */
function describeError(body: any): string {
  if (!body || typeof body !== 'object') return '(no JSON body)';
  const issues = Array.isArray(body.issues)
    ? `: ${body.issues.map((i: any) => `${i.path} ${i.message}`).join('; ')}`
    : '';
  return `"${body.error ?? body.state ?? 'unknown'}"${issues}`;
}
