// Onetime Secret emulator for sandbox mode and tests, mounted at /sandbox/ots. It speaks API v1 and API v2 as the
// real server's code has them (onetimesecret/onetimesecret apps/api/v1/** and apps/api/v2/**, lib/onetime/**), and
// test/fixtures/ots-fixtures.json is replayed against it (test/unit/ots-emulator.test.ts); each behaviour, with the
// server file it comes from, is a case of test/conformance/ots-conformance.test.ts. The pieces:
//   ots-emulator/store.ts    secrets, receipts, state transitions, the passphrase limiter (both versions share them)
//   ots-emulator/create.ts   conceal/share/generate, with each version's parameter reading and check order
//   ots-emulator/v1.ts       /api/v1: v0.23 field names, every application error a 404 + X-OTS-Intended-Status
//   ots-emulator/v2.ts       /api/v2: safe_dump records, Otto's error bodies and status codes
//   ots-emulator/params.ts   parameters parsed as Rack parses them, and the Ruby conversions the logic applies
//   ots-emulator/faults.ts   the faults a test can inject (injectFault), and their JSON schema
//   ots-emulator/control.ts  the control API for tests of an emulator in its own process (faults, counters)
//
// Deliberate differences from the real server (all for tests and demos):
//  - One account (HTTP Basic: username + API key), billing disabled: v1 allows it 30-day TTLs, v2 up to its 365-day
//    safety bound; no plans, so no 14-day free-tier 403. `apiAccess: false` stands in for an account whose plan or
//    role lacks api_access; `apiVersions: ['v1']` for a server without the v2 app.
//  - `rateLimit` answers a real HTTP 429 + Retry-After like an edge proxy would (v1: plain text; v2: the body of
//    Onetime::LimitExceeded); v1's own 1000-per-20-min limiter is not emulated. `injectFault` answers the next
//    matching requests with any canned response, a dropped connection, or the real answer held back or cut short.
//  - No custom domains or link pool (a valid share_domain is refused as the server refuses an unknown one), no
//    Truemail MX/SMTP check (its regex only), generated passwords from a smaller alphabet, and mail is recorded in
//    `mail()`, not sent. The Public Suffix List is approximated (ots-emulator/params.ts, isPublicDomain).
//  - Float timestamps whose fraction is zero print as integers (1787400000, where Ruby prints 1787400000.0).
//  - Not emulated: v2's PATCH /receipt/:id, GET /secret/:id, POST /secret/status, /guest/*, /supported-locales,
//    OPTIONS preflights; sessions; security headers.
//  - GET/POST /secret/:key is a bare-bones reveal page so sandbox links open in a browser.
// The emulator writes no log lines.
import { STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { isLoopbackAddress } from '../loopback.js';
import type { Sealer } from '../seal.js';
import { type Ctx, objidFor, requestId } from './ots-emulator/context.js';
import { OTS_CONTROL_PATH, otsControlRouter } from './ots-emulator/control.js';
import { type InjectedFault, OPERATIONS } from './ots-emulator/faults.js';
import { isHash, parseNestedQuery, type Params, rbToS } from './ots-emulator/params.js';
import {
  createLimiter,
  createStore,
  type EmulatorState,
  type LimiterState,
  migrateReceipt,
  passphraseMatches,
  PASSPHRASE_MAX_ATTEMPTS,
  type SentMail,
  type StoredReceipt,
  type StoredSecret,
} from './ots-emulator/store.js';
import { mountV1 } from './ots-emulator/v1.js';
import { mountV2 } from './ots-emulator/v2.js';
import { persistEmulator } from './persist.js';

export type { EmulatorState, SentMail, StoredReceipt, StoredSecret } from './ots-emulator/store.js';
export type { FaultOperation, InjectedFault } from './ots-emulator/faults.js';

export interface OtsEmulatorOptions {
  /** The one account the emulator knows (HTTP Basic: username + API key). */
  credentials?: { username: string; apiKey: string };
  /** Clock in ms; inject one to test expiry (TTLs start at the real 60 s minimum: advance this clock past them). */
  now?: () => number;
  /** Edge-proxy limiter over all API requests: above `max` per fixed window → HTTP 429 + Retry-After (seconds). */
  rateLimit?: { max: number; windowMs: number };
  /** Base URL the emulator is reached at (…/sandbox/ots), for links and mailed links; default: from the request. */
  publicBaseUrl?: () => string;
  /**
   * The API versions the emulated server has (default both). A version left out answers every path under its prefix
   * as the server's web app answers a path no app claims: 404, text/html, "Not Found" (apps/web/core/application.rb,
   * router.not_found), which is what a request for /api/v2/… reaches on a server without the v2 app.
   */
  apiVersions?: readonly ('v1' | 'v2')[];
  /**
   * Whether the account holds the api_access entitlement (default true). false: every authenticated v2 endpoint
   * that checks it answers 403 EntitlementRequired (lib/onetime/logic/base.rb, require_entitlement!); v1 has no
   * entitlement checks and is unaffected.
   */
  apiAccess?: boolean;
  /** The account's plan id, shown as current_plan in EntitlementRequired answers (the server omits a nil one). */
  plan?: string;
}

export type OtsEmulator = ReturnType<typeof createOtsEmulator>;

/** The emulator's whole state as plain JSON (Buffers as base64), so the sandbox can keep it across restarts. */
export interface OtsEmulatorSnapshot {
  secrets: (Omit<StoredSecret, 'passphrase'> & { passphrase?: { salt: string; hash: string } })[];
  receipts: StoredReceipt[];
  mail: SentMail[];
  created: number;
  /** Passphrase limiter counters (absent in snapshots written before v2 support). */
  limiter?: LimiterState;
}

/** What the emulator counts and holds, cheap to read: GET …/_stats and the control API's GET /_control/stats. */
export interface OtsEmulatorStats {
  /** API requests received since start (what an account's rate limit counts). */
  apiRequests: number;
  /** Requests answered 429 by the rate limit since start. */
  rateLimited: number;
  /** Secrets created since start or reset, whatever became of them (secretCount(); kept in snapshots). */
  secretsCreated: number;
  /** Secrets stored now: not revealed, burned or past their lifetime. */
  secretsStored: number;
  /** Receipts stored now (a receipt outlives its secret: it lives 2×ttl). */
  receipts: number;
  /** Injected faults not yet used up (pendingFaults()). */
  pendingFaults: number;
  /** Answers held back by a `stall` fault until releaseStalled() or their `ms`. */
  stalled: number;
}

/**
 * One stored secret as tests may see it: its receipt's facts, never the value, the passphrase (or its hash) or the
 * secret key (the link's capability). For checks like "exactly one secret per hand-off".
 */
export interface SecretListing {
  /** The receipt (metadata) key the creator keeps. */
  receiptKey: string;
  /** The receipt's stored state (a receipt view is what marks one whose secret ran out `expired`). */
  state: EmulatorState;
  kind: 'conceal' | 'generate';
  /** ISO 8601. */
  created: string;
  /** The lifespan in seconds, after clamping. */
  ttl: number;
  /** When the secret's own lifetime ends, ISO 8601. */
  secretExpires: string;
  /** The secret is still stored: not revealed, burned or past its lifetime. */
  secretStored: boolean;
  passphrase: boolean;
  /** The first recipient, obscured as the receipt keeps it (bo***@e***.org); absent when none was given. */
  recipient?: string;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  type: string;
  text: string;
}

/** The router's own answers (no charset): apps/api/v1/application.rb not_found / server_error. */
const routerAnswer = (res: Response, status: number, body: unknown) =>
  res.status(status).setHeader('Content-Type', 'application/json').end(JSON.stringify(body));

export function createOtsEmulator(opts: OtsEmulatorOptions = {}) {
  const now = opts.now ?? Date.now;
  const versions = opts.apiVersions ?? ['v1', 'v2'];
  const store = createStore(now);
  const limiter = createLimiter(now);
  const sentMail: SentMail[] = [];
  const faults: InjectedFault[] = [];
  const stalled = new Set<() => void>();
  let created = 0;
  let rateWindow = { start: 0, count: 0 };
  let rateLimited = 0;
  let apiRequests = 0;

  const pendingFaults = (): number => faults.reduce((n, f) => n + (f.times ?? 1), 0);
  const live = (m: ReadonlyMap<string, { expiresAtMs: number }>) => {
    let n = 0;
    for (const x of m.values()) if (now() < x.expiresAtMs) n += 1;
    return n;
  };
  const stats = (): OtsEmulatorStats => ({
    apiRequests,
    rateLimited,
    secretsCreated: created,
    secretsStored: live(store.secrets),
    receipts: live(store.receipts),
    pendingFaults: pendingFaults(),
    stalled: stalled.size,
  });

  const base = (req: Request) =>
    (opts.publicBaseUrl?.() ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`).replace(/\/+$/, '');

  function write(res: Response, a: Answer) {
    if (res.destroyed || res.writableEnded) return;
    res.status(a.status);
    for (const [k, v] of Object.entries(a.headers)) res.setHeader(k, v);
    res.setHeader('Content-Type', a.type);
    res.end(a.text);
  }

  const ctx: Ctx = {
    now,
    store,
    limiter,
    account: opts.credentials && { ...opts.credentials, objid: objidFor(opts.credentials.username) },
    apiAccess: opts.apiAccess ?? true,
    plan: opts.plan,
    mail: sentMail,
    countCreate: () => void (created += 1),
    base,
    reply(res, status, body, o = {}) {
      const a: Answer = {
        status,
        headers: o.headers ?? {},
        type: o.type ?? 'application/json',
        text: JSON.stringify(body),
      };
      const intercept = res.locals.intercept as ((a: Answer) => void) | undefined;
      if (intercept) intercept(a);
      else write(res, a);
    },
    params(req, route) {
      const query = (req.res?.locals.query ?? {}) as Params;
      const body = isHash(req.body) ? (req.body as Params) : {};
      const merged: Params = { ...query, ...body };
      if (route) Object.assign(merged, route, req.is('application/json') ? body : {});
      return merged;
    },
  };

  const router = Router();
  // Not part of Onetime Secret's API: what the sandbox counted, for `npm run bench` and the curious.
  router.get('/_stats', (_req, res) => {
    res.json(stats());
  });

  // Rack::RequestId (lib/middleware/request_id.rb, in the universal middleware stack): every answer carries one.
  router.use((req, res, next) => {
    res.setHeader('x-request-id', requestId(req));
    next();
  });

  router.use((req, res, next) => {
    const i = faults.findIndex(
      (f) =>
        (f.op ? OPERATIONS[f.op].test(req.path) : f.path === req.path) &&
        (!f.method || f.method.toUpperCase() === req.method),
    );
    const f = faults[i];
    if (!f) return next();
    if ((f.times ?? 1) <= 1) faults.splice(i, 1);
    else f.times = (f.times ?? 1) - 1;
    if (f.reset) return void req.socket.destroy();
    if (f.stall) {
      // Every API answer goes through ctx.reply: keep it until the stall ends.
      res.locals.intercept = (a: Answer) => {
        const release = () => {
          stalled.delete(release);
          write(res, a);
        };
        stalled.add(release);
        if (f.stall?.ms !== undefined) setTimeout(release, f.stall.ms).unref();
      };
      return next();
    }
    if (f.garble) {
      res.locals.intercept = (a: Answer) =>
        write(res, {
          status: 200,
          headers: {},
          type: 'application/json; charset=utf-8',
          text: a.text.slice(0, Math.floor(a.text.length / 2)),
        });
      return next();
    }
    res.status(f.status ?? 500).set(f.headers ?? {});
    if (f.body === undefined) return res.end();
    return typeof f.body === 'string' ? res.send(f.body) : res.json(f.body);
  });

  router.use('/api', (req, res, next) => {
    apiRequests += 1;
    if (!opts.rateLimit) return next();
    const { max, windowMs } = opts.rateLimit;
    const t = now();
    if (t - rateWindow.start >= windowMs) rateWindow = { start: t, count: 0 };
    rateWindow.count += 1;
    if (rateWindow.count <= max) return next();
    rateLimited += 1;
    const retryAfter = Math.max(1, Math.ceil((rateWindow.start + windowMs - t) / 1000));
    res.status(429).set('Retry-After', String(retryAfter));
    if (req.path.startsWith('/v2/') && versions.includes('v2')) {
      // Onetime::LimitExceeded#to_h with its default message (lib/onetime/errors.rb), the request id added by
      // error_correlation.rb, the header by lib/onetime/middleware/retry_after_header.rb.
      const body = { error: 'Rate limit exceeded', error_type: 'LimitExceeded', retry_after: retryAfter };
      return void res
        .setHeader('Content-Type', 'application/json')
        .end(JSON.stringify({ ...body, request_id: String(res.getHeader('x-request-id')) }));
    }
    // An edge proxy's answer, not the app's: real 429, plain text: docs/onetime-secret.md ("Errors and rate limits").
    return void res.type('text/plain').send('Too Many Requests');
  });

  for (const v of ['v1', 'v2'] as const)
    if (!versions.includes(v))
      router.use(
        `/api/${v}`,
        (_req, res) => void res.status(404).setHeader('Content-Type', 'text/html').end('Not Found'),
      );

  // Bodies and query strings as Rack parses them: JSON (Rack::JSONBodyParser) or form (parse_nested_query).
  router.use(express.json({ limit: '1mb' }), express.text({ type: 'application/x-www-form-urlencoded', limit: '1mb' }));
  router.use((req, res, next) => {
    try {
      const q = req.originalUrl.indexOf('?');
      res.locals.query = q >= 0 ? parseNestedQuery(req.originalUrl.slice(q + 1)) : {};
      if (typeof req.body === 'string' && req.is('application/x-www-form-urlencoded'))
        req.body = parseNestedQuery(req.body);
    } catch {
      return routerAnswer(res, 400, { error: 'Bad Request' });
    }
    next();
  });

  if (versions.includes('v1')) mountV1(router, ctx);
  if (versions.includes('v2')) mountV2(router, ctx);

  /** The recipient's page reveal: like v1's (a non-empty wrong passphrase counts; the global limiter tier). */
  async function pageReveal(key: string, passphrase: string): Promise<string | undefined> {
    const s = store.secret(key);
    if (!s || (s.passphrase && limiter.check(s.key))) return undefined;
    if (s.passphrase) {
      const ok = await passphraseMatches(s.passphrase, passphrase);
      if (passphrase !== '') (ok ? limiter.clear : limiter.record)(s.key);
      if (!ok) return undefined;
    }
    store.consume(s);
    return s.value;
  }

  // The recipient's page (the real web app's /secret/:key): opening shows a button; only the POST reveals.
  router.get('/secret/:key', (req, res) => {
    const r = store.secret(String(req.params.key));
    const field = r?.passphrase
      ? '<p><label>Passphrase <input name="passphrase" type="password" autocomplete="off" required></label></p>'
      : '';
    page(
      res,
      r
        ? `<form method="post"><p>This secret can be viewed once.</p>${field}<button>Reveal secret</button></form>`
        : '<p>This secret is unknown, expired or already viewed.</p>',
    );
  });
  router.post('/secret/:key', async (req, res) => {
    const value = await pageReveal(String(req.params.key), rbToS(ctx.params(req).passphrase));
    page(
      res,
      value !== undefined
        ? `<p>Copy it now; it is gone from the server:</p><pre>${escapeHtml(value)}</pre>`
        : '<p>This secret is unknown, expired or already viewed, or the passphrase is wrong.</p>',
    );
  });

  router.use((_req, res) => routerAnswer(res, 404, { error: 'Not Found' }));

  router.use((err: { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    // Unparseable or oversized bodies are refused before the app, like Rack's parsers; anything else escaped it.
    if (typeof err.status === 'number' && err.status >= 400 && err.status < 500)
      return routerAnswer(res, err.status, { error: STATUS_CODES[err.status] ?? 'Bad Request' });
    if (req.path.startsWith('/api/v2/'))
      return routerAnswer(res, 500, {
        error: 'Internal Server Error',
        message: 'An error occurred. Please try again later.',
      });
    return routerAnswer(res, 500, { error: 'Internal Server Error' });
  });

  return {
    router,
    /** Live state, for tests that look behind the API. */
    store: { secrets: store.secrets, receipts: store.receipts } as {
      readonly secrets: ReadonlyMap<string, StoredSecret>;
      readonly receipts: ReadonlyMap<string, StoredReceipt>;
    },
    /** Secrets created since start or reset, whatever became of them. */
    secretCount: () => created,
    /** Requests answered 429 by the rate limit since start. */
    rateLimitedCount: () => rateLimited,
    /** API requests received since start (what an account's rate limit counts). */
    apiRequestCount: () => apiRequests,
    /** Mail the real server would have sent for `recipient` (the link only). */
    mail: (): SentMail[] => [...sentMail],
    /** Answer the next `times` requests to `path` (or `op`) with a canned response (e.g. a 503 or a 429). */
    injectFault(fault: InjectedFault): void {
      if (!fault.path === !fault.op) throw new TypeError('injectFault: give a path or an op, not both');
      faults.push({ ...fault });
    },
    /** Injected faults not yet used up (a test watches it fall to time the client's retries). */
    pendingFaults,
    /** Drops every injected fault not yet used up (answers already held back stay held); returns how many. */
    clearFaults(): number {
      const n = pendingFaults();
      faults.length = 0;
      return n;
    },
    /** Sends every answer held back by a `stall` fault (to a client that may be long gone); returns how many. */
    releaseStalled(): number {
      const held = [...stalled];
      for (const release of held) release();
      return held.length;
    },
    /** The counters and sizes above in one object (what GET …/_stats answers). */
    stats,
    /** Every stored receipt and whether its secret is still there, oldest first: no values, passphrases or keys. */
    listSecrets(): SecretListing[] {
      const t = now();
      return [...store.receipts.values()]
        .filter((r) => t < r.expiresAtMs)
        .sort((a, b) => a.createdMs - b.createdMs)
        .map((r) => {
          const s = store.secrets.get(r.secretKey);
          return {
            receiptKey: r.key,
            state: r.state,
            kind: r.kind ?? 'conceal',
            created: new Date(r.createdMs).toISOString(),
            ttl: r.ttl,
            secretExpires: new Date(r.secretExpiresAtMs).toISOString(),
            secretStored: s !== undefined && t < s.expiresAtMs,
            passphrase: r.hasPassphrase,
            ...(r.recipient[0] !== undefined ? { recipient: r.recipient[0] } : {}),
          };
        });
    },
    snapshot(): OtsEmulatorSnapshot {
      return {
        secrets: [...store.secrets.values()].map((x) => ({
          ...x,
          passphrase: x.passphrase && {
            salt: x.passphrase.salt.toString('base64'),
            hash: x.passphrase.hash.toString('base64'),
          },
        })),
        receipts: [...store.receipts.values()],
        mail: [...sentMail],
        created,
        limiter: limiter.snapshot(),
      };
    },
    restore(snap: OtsEmulatorSnapshot): void {
      if (snap.limiter) limiter.restore(snap.limiter);
      for (const x of snap.secrets) {
        const { passphrase, ...rest } = x;
        store.secrets.set(x.key, {
          ...rest,
          failedAttempts: 0,
          ...(passphrase
            ? {
                passphrase: {
                  salt: Buffer.from(passphrase.salt, 'base64'),
                  hash: Buffer.from(passphrase.hash, 'base64'),
                },
              }
            : {}),
        });
        // Failures counted by the v1-only emulator: carried into the limiter's global tier from now.
        if (!snap.limiter)
          for (let i = 0; i < Math.min(x.failedAttempts ?? 0, PASSPHRASE_MAX_ATTEMPTS); i++) limiter.record(x.key);
      }
      for (const r of snap.receipts) store.receipts.set(r.key, migrateReceipt(r));
      sentMail.push(...snap.mail);
      created = snap.created;
    },
    reset(): void {
      store.clear();
      limiter.reset();
      sentMail.length = 0;
      faults.length = 0;
      stalled.clear();
      created = 0;
      rateWindow = { start: 0, count: 0 };
    },
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: Response, content: string): void {
  res
    .set({
      'Content-Security-Policy': "default-src 'none'; form-action 'self'",
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
    })
    .type('html')
    .send(`<!doctype html><meta charset="utf-8"><title>Onetime Secret (sandbox)</title>${content}`);
}

/**
 * Runs the emulator alone, mounted at /sandbox/ots as in the service: for tests, and as a process of its own
 * (scripts/stack/ots-emulator.ts). Loopback only: 127.0.0.1 unless `host` is another loopback address or localhost.
 * `control` mounts the control API beside it (ots-emulator/control.ts, at /_control); `state` keeps its state in a
 * sealed file (persist.ts), read before it listens and written on close().
 */
export async function startOtsEmulatorServer(
  opts: OtsEmulatorOptions & {
    port?: number;
    host?: string;
    control?: boolean;
    state?: { file: string; sealer: Sealer };
  } = {},
): Promise<{ baseUrl: string; close(): Promise<void>; emulator: OtsEmulator }> {
  const host = opts.host ?? '127.0.0.1';
  if (host !== 'localhost' && !isLoopbackAddress(host))
    throw new TypeError(`the OTS emulator listens on this machine only (a loopback address or localhost), not ${host}`);
  const emulator = createOtsEmulator(opts);
  const persistence = opts.state && persistEmulator(emulator, opts.state.file, opts.state.sealer);
  const app = express();
  if (opts.control) app.use(OTS_CONTROL_PATH, otsControlRouter(emulator));
  if (persistence) app.use('/sandbox/ots', persistence.middleware, emulator.router);
  else app.use('/sandbox/ots', emulator.router);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(opts.port ?? 0, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://${host.includes(':') ? `[${host}]` : host}:${port}/sandbox/ots`,
    emulator,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      persistence?.flush();
    },
  };
}
