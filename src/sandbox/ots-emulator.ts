// Onetime Secret API v1 emulator for sandbox mode and tests, mounted at /sandbox/ots. It speaks the real wire
// format described in docs/onetime-secret.md ("API v1 as this client uses it"), as the server's own code has it
// (onetimesecret/onetimesecret apps/api/v1/routes.txt and apps/api/v1/logic/secrets/*.rb), and
// test/fixtures/ots-fixtures.json, recorded from the real server, is replayed against it: the same paths and aliases,
// JSON field names and types, and v1's error quirk: every application error is HTTP 404 with
// `X-OTS-Intended-Status`, and "Unknown secret" covers unknown, consumed, expired and wrong-passphrase alike.
//
// Deliberate differences from the real server (all for tests and demos):
//  - TTLs clamp to [minTtlSeconds (default 1), 30 d] instead of [60 s, 30 d], so expiry can be shown in seconds.
//  - `rateLimit` answers a real HTTP 429 + Retry-After like an edge proxy would; v1's own 1000-per-20-min limiter
//    is not emulated. `injectFault` answers the next matching requests with any canned response, a dropped
//    connection, or the real answer held back (tests of outages and crashes).
//  - No custom domains (share_domain is always ""), no Truemail, and mail is recorded in `mail()`, not sent.
//  - GET/POST /secret/:key is a bare-bones reveal page so sandbox links open in a browser.
import { randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { isOtsRecipient } from '../ots/recipient.js';
import { MAX_TTL_SECONDS } from '../ots/ttl.js';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

const DAY = 86_400;
const MAX_TTL_ANONYMOUS = 7 * DAY; // TTL_MAX_ANONYMOUS
const DEFAULT_TTL = 7 * DAY;
const MAX_SECRET_BYTES = 10_000;
const PASSPHRASE_MIN = 4; // PASSPHRASE_MIN_LENGTH default
const PASSPHRASE_MAX = 128;
const GENERATE_LENGTH = 12;
const GENERATE_MAX = 128;
const GENERATED_VALUE_DISPLAY_MS = 60_000; // generated_value_display_ttl
const PASSPHRASE_FAILURES_PER_SECRET = 20; // passphrase_rate_limiter.rb, global tier
const RECENT_WINDOW_MS = 30 * DAY * 1000;
// Onetime::Utils.strand without look-alikes (0/O, 1/l/I), as in the generated example "k*8mN2qR9xPw".
const GENERATE_ALPHABET = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789*$%&!@#';

export type EmulatorState = 'new' | 'viewed' | 'received' | 'burned' | 'expired' | 'orphaned';

export interface StoredSecret {
  key: string;
  metadataKey: string;
  value: string;
  /** scrypt(passphrase, salt); the passphrase itself is never kept. */
  passphrase?: { salt: Buffer; hash: Buffer };
  expiresAtMs: number;
  failedAttempts: number;
}

export interface StoredReceipt {
  key: string;
  secretKey: string;
  custid: string;
  ttl: number;
  createdMs: number;
  updatedMs: number;
  receivedMs?: number;
  state: EmulatorState;
  recipient: string[];
  hasPassphrase: boolean;
  secretExpiresAtMs: number;
  /** Receipts live 2×ttl: docs/onetime-secret.md ("Receipt states"), metadata_ttl in base_secret_action.rb. */
  expiresAtMs: number;
  /** generate: shown once on the receipt within 60 s, then dropped. */
  generatedValue?: string;
}

export interface SentMail {
  to: string;
  link: string;
  metadataKey: string;
  at: number;
}

export interface InjectedFault {
  /** Any method when omitted. */
  method?: string;
  /** Path under the mount point, e.g. /api/v1/share. */
  path: string;
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** The canned answer's status (unless `reset` or `stall`). */
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Drop the connection without answering, before the request is handled (a connection reset). */
  reset?: true;
  /**
   * Handle the request normally (a create does create the secret) but hold its answer back: for `ms`, or until
   * releaseStalled(). The client times out or its process dies while the server has done the work: the ambiguous
   * failure a retried create must not turn into a second secret.
   */
  stall?: { ms?: number };
  /** Handle the request normally, then answer 200 with its JSON cut in half (a proxy truncating the body). */
  garble?: true;
}

export interface OtsEmulatorOptions {
  /** The one account the emulator knows (HTTP Basic: username + API key). */
  credentials?: { username: string; apiKey: string };
  /** Clock in ms; inject one to test expiry. */
  now?: () => number;
  /** Edge-proxy limiter over all API requests: above `max` per fixed window → HTTP 429 + Retry-After (seconds). */
  rateLimit?: { max: number; windowMs: number };
  /** Base URL the emulator is reached at (…/sandbox/ots), for metadata_url and mailed links; default: from the request. */
  publicBaseUrl?: () => string;
  /** Emulator-only TTL floor, default 1 s. The real server clamps to 60 s; pass 60 to behave exactly like it. */
  minTtlSeconds?: number;
}

export type OtsEmulator = ReturnType<typeof createOtsEmulator>;

/** The emulator's whole state as plain JSON (Buffers as base64), so the sandbox can keep it across restarts. */
export interface OtsEmulatorSnapshot {
  secrets: (Omit<StoredSecret, 'passphrase'> & { passphrase?: { salt: string; hash: string } })[];
  receipts: StoredReceipt[];
  mail: SentMail[];
  created: number;
}

/** 62 chars of [0-9a-z]: base36 of 320 random bits, left-padded, like Familia's verifiable identifiers. */
function newKey(): string {
  return BigInt(`0x${randomBytes(40).toString('hex')}`)
    .toString(36)
    .padStart(62, '0');
}

/** bob@example.org → bo***@e***.org (OT::Utils.obscure_email). */
function obscureEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  const dot = domain.lastIndexOf('.');
  const tld = dot >= 0 ? domain.slice(dot) : '';
  return `${local.slice(0, 2)}***@${domain.slice(0, 1)}***${tld}`;
}

async function hashPassphrase(passphrase: string): Promise<{ salt: Buffer; hash: Buffer }> {
  const salt = randomBytes(16);
  return { salt, hash: await scryptAsync(passphrase, salt, 32) };
}

async function passphraseMatches(stored: { salt: Buffer; hash: Buffer }, given: string): Promise<boolean> {
  return timingSafeEqual(stored.hash, await scryptAsync(given, stored.salt, 32));
}

/** A request param as the real server sees it: query string and body merged, first value of a list. */
function paramsOf(req: Request): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const merge = (src: unknown) => {
    if (!src || typeof src !== 'object') return;
    for (const [k, v] of Object.entries(src)) {
      const first = Array.isArray(v) ? v[0] : v;
      if (first !== undefined && first !== null && typeof first !== 'object') out[k] = String(first);
    }
  };
  merge(req.query);
  merge(req.body);
  return out;
}

// ---- v1 wire answers (apps/api/v1/controllers/base.rb, helpers.rb) ----
const INTENDED = 'X-OTS-Intended-Status';
const notAuthorized = (res: Response) => res.status(404).set(INTENDED, '401').json({ message: 'Not authorized' });
const formError = (res: Response, message: string) => res.status(404).set(INTENDED, '400').json({ message });
const unknownSecret = (res: Response, key: string) =>
  res.status(404).json({ secret_key: key, message: 'Unknown secret' });
/** Keys shorter than 20 chars never reach the controller. */
const shortKeyNotFound = (res: Response) => res.status(404).json({ message: 'Not Found' });
/** The router's own answers: content-type without charset (apps/api/v1/application.rb). */
const routerAnswer = (res: Response, status: number, body: unknown) =>
  res.status(status).setHeader('Content-Type', 'application/json').end(JSON.stringify(body)); // res.type would add a charset

export function createOtsEmulator(opts: OtsEmulatorOptions = {}) {
  const now = opts.now ?? Date.now;
  const minTtl = Math.max(1, Math.floor(opts.minTtlSeconds ?? 1));
  const secrets = new Map<string, StoredSecret>();
  const receipts = new Map<string, StoredReceipt>();
  const sentMail: SentMail[] = [];
  const faults: InjectedFault[] = [];
  const stalled = new Set<() => void>();
  let created = 0;
  let rateWindow = { start: 0, count: 0 };
  let rateLimited = 0;
  let apiRequests = 0;

  const base = (req: Request) =>
    (opts.publicBaseUrl?.() ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`).replace(/\/+$/, '');
  const secs = (ms: number) => Math.floor(ms / 1000);
  const left = (atMs: number) => Math.max(0, Math.ceil((atMs - now()) / 1000));

  /** Basic auth: absent → anonymous; present but wrong → rejected, with no anonymous fallback (base.rb#authorized). */
  function identify(req: Request): { custid: string; authed: boolean } | undefined {
    const header = req.get('authorization');
    if (!header) return { custid: 'anon', authed: false };
    const m = /^Basic\s+(.+)$/i.exec(header);
    if (!m || !opts.credentials) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    const [user, key] = [decoded.slice(0, sep), decoded.slice(sep + 1)];
    const want = opts.credentials;
    const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
    return sep > 0 && same(user, want.username) && same(key, want.apiKey)
      ? { custid: want.username, authed: true }
      : undefined;
  }

  /** The receipt with lazy expiry applied: secret TTL over → expired; receipt TTL over → gone. */
  function loadReceipt(key: string): StoredReceipt | undefined {
    const r = receipts.get(key);
    if (!r) return undefined;
    if (now() >= r.expiresAtMs) {
      receipts.delete(key);
      secrets.delete(r.secretKey);
      return undefined;
    }
    if (r.state === 'new' || r.state === 'viewed') {
      if (now() >= r.secretExpiresAtMs) {
        secrets.delete(r.secretKey);
        r.state = 'expired';
        r.updatedMs = r.secretExpiresAtMs;
      } else if (!secrets.has(r.secretKey)) {
        r.state = 'orphaned';
        r.updatedMs = now();
      }
    }
    return r;
  }

  function loadSecret(key: string): StoredSecret | undefined {
    const s = secrets.get(key);
    if (s && now() >= s.expiresAtMs) {
      secrets.delete(key);
      loadReceipt(s.metadataKey);
      return undefined;
    }
    return s;
  }

  /**
   * receipt_hsh (class_methods.rb): v0.23 names, then the v0.24 aliases. While the secret exists it carries
   * secret_ttl and passphrase_required; once it is gone secret_ttl is null and passphrase_required absent; once
   * received, secret_key and secret_ttl are omitted. `list` is the recent/burn form (secret_ttl null).
   */
  function receiptHsh(req: Request, r: StoredReceipt, o: { list?: boolean; withValue?: boolean } = {}) {
    const received = r.state === 'received';
    const secretLives = (r.state === 'new' || r.state === 'viewed') && secrets.has(r.secretKey);
    const url = `${base(req)}/receipt/${r.key}`;
    const metadataTtl = left(r.expiresAtMs);
    const h: Record<string, unknown> = { custid: r.custid, metadata_key: r.key };
    if (!received) h.secret_key = r.secretKey;
    h.ttl = r.ttl;
    h.metadata_ttl = metadataTtl;
    if (!received) h.secret_ttl = secretLives && !o.list ? left(r.secretExpiresAtMs) : null;
    h.metadata_url = url;
    h.state = r.state;
    h.updated = secs(r.updatedMs);
    h.created = secs(r.createdMs);
    if (r.receivedMs !== undefined) h.received = secs(r.receivedMs);
    h.recipient = r.recipient;
    h.share_domain = '';
    if (o.withValue && r.generatedValue !== undefined) h.value = r.generatedValue;
    if (secretLives && !o.list) h.passphrase_required = r.hasPassphrase;
    h.identifier = r.key;
    if (!received) h.secret_identifier = r.secretKey;
    if ('passphrase_required' in h) h.has_passphrase = h.passphrase_required;
    h.recipients = r.recipient;
    h.receipt_ttl = metadataTtl;
    h.receipt_url = url;
    if ('value' in h) h.secret_value = h.value;
    return h;
  }

  async function create(req: Request, res: Response, kind: 'share' | 'generate') {
    const who = identify(req);
    if (!who) return notAuthorized(res);
    const p = paramsOf(req);

    let value: string;
    if (kind === 'share') {
      value = p.secret ?? '';
      if (value.trim() === '') return formError(res, 'You did not provide anything to share');
      if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES)
        return formError(res, `Secret value exceeds the maximum size of ${MAX_SECRET_BYTES} bytes`);
    } else {
      const asked = Number.parseInt(p.length ?? '', 10);
      const length = Number.isFinite(asked) && asked > 0 ? Math.min(asked, GENERATE_MAX) : GENERATE_LENGTH;
      value = Array.from({ length }, () => GENERATE_ALPHABET[randomInt(GENERATE_ALPHABET.length)]).join('');
    }
    const passphrase = p.passphrase || undefined;
    if (passphrase !== undefined && passphrase.length < PASSPHRASE_MIN)
      return formError(res, `Passphrase must be at least ${PASSPHRASE_MIN} characters long`);
    if (passphrase !== undefined && passphrase.length > PASSPHRASE_MAX)
      return formError(res, `Passphrase must be no more than ${PASSPHRASE_MAX} characters long`);
    const recipient = p.recipient?.trim() || undefined;
    if (recipient !== undefined && !who.authed) return formError(res, 'An account is required to send emails.');
    // The server's own check (src/ots/recipient.ts: Truemail's regex, as onetimesecret/onetimesecret does).
    if (recipient !== undefined && !isOtsRecipient(recipient))
      return formError(res, `Undeliverable email address: ${recipient}`);
    if (p.share_domain) return formError(res, `Unknown domain: ${p.share_domain}`);

    // Out-of-range TTLs are clamped, never rejected: docs/onetime-secret.md ("TTL bounds"), and
    // onetimesecret/onetimesecret apps/api/v1/logic/secrets/base_secret_action.rb, process_ttl.
    const asked = Number.parseInt(p.ttl ?? '', 10);
    const ttl = Math.min(
      Math.max(Number.isFinite(asked) ? asked : DEFAULT_TTL, minTtl),
      who.authed ? MAX_TTL_SECONDS : MAX_TTL_ANONYMOUS,
    );

    const t = now();
    const secret: StoredSecret = {
      key: newKey(),
      metadataKey: newKey(),
      value,
      expiresAtMs: t + ttl * 1000,
      failedAttempts: 0,
    };
    if (passphrase !== undefined) secret.passphrase = await hashPassphrase(passphrase);
    const receipt: StoredReceipt = {
      key: secret.metadataKey,
      secretKey: secret.key,
      custid: who.custid,
      ttl,
      createdMs: t,
      updatedMs: t,
      state: 'new',
      recipient: recipient ? [obscureEmail(recipient)] : [],
      hasPassphrase: passphrase !== undefined,
      secretExpiresAtMs: t + ttl * 1000,
      expiresAtMs: t + 2 * ttl * 1000,
    };
    if (kind === 'generate') receipt.generatedValue = value;
    secrets.set(secret.key, secret);
    receipts.set(receipt.key, receipt);
    created += 1;
    // The real server mails the link (never the value) to the first recipient only.
    if (recipient)
      sentMail.push({ to: recipient, link: `${base(req)}/secret/${secret.key}`, metadataKey: receipt.key, at: t });
    // generate answers with the value (value + secret_value); the receipt may show it once more (see below).
    res.json(receiptHsh(req, receipt, { withValue: kind === 'generate' }));
  }

  /** Reveal and destroy; a wrong passphrase answers exactly like an unknown key and consumes nothing. */
  async function reveal(
    key: string,
    passphrase: string | undefined,
  ): Promise<{ ok: true; value: string } | { ok: false; lockedOut?: true }> {
    const s = loadSecret(key);
    if (!s) return { ok: false };
    if (s.passphrase) {
      if (s.failedAttempts >= PASSPHRASE_FAILURES_PER_SECRET) return { ok: false, lockedOut: true };
      if (!passphrase || !(await passphraseMatches(s.passphrase, passphrase))) {
        s.failedAttempts += 1;
        return { ok: false };
      }
    }
    secrets.delete(key);
    const r = receipts.get(s.metadataKey);
    if (r) {
      r.state = 'received';
      r.receivedMs = r.updatedMs = now();
      delete r.generatedValue;
    }
    return { ok: true, value: s.value };
  }

  const router = Router();
  // Not part of Onetime Secret's API: what the sandbox counted, for `npm run bench` and the curious.
  router.get('/_stats', (_req, res) => {
    res.json({ apiRequests, rateLimited, secretsCreated: created });
  });
  router.use(express.urlencoded({ extended: false, limit: '1mb' }), express.json({ limit: '1mb' }));

  router.use((req, res, next) => {
    const i = faults.findIndex((f) => f.path === req.path && (!f.method || f.method.toUpperCase() === req.method));
    const f = faults[i];
    if (!f) return next();
    if ((f.times ?? 1) <= 1) faults.splice(i, 1);
    else f.times = (f.times ?? 1) - 1;
    if (f.reset) return void req.socket.destroy();
    if (f.stall) {
      // Every answer the handlers give goes through res.json: keep it until the stall ends.
      const answer = res.json.bind(res);
      res.json = (body: unknown) => {
        const release = () => {
          stalled.delete(release);
          if (!res.destroyed && !res.writableEnded) answer(body);
        };
        stalled.add(release);
        if (f.stall?.ms !== undefined) setTimeout(release, f.stall.ms).unref();
        return res;
      };
      return next();
    }
    if (f.garble) {
      res.json = (body: unknown) => {
        const text = JSON.stringify(body);
        return res
          .status(200)
          .type('application/json')
          .send(text.slice(0, Math.floor(text.length / 2)));
      };
      return next();
    }
    res.status(f.status ?? 500).set(f.headers ?? {});
    if (f.body === undefined) return res.end();
    return typeof f.body === 'string' ? res.send(f.body) : res.json(f.body);
  });

  router.use('/api', (_req, res, next) => {
    apiRequests += 1;
    if (!opts.rateLimit) return next();
    const { max, windowMs } = opts.rateLimit;
    const t = now();
    if (t - rateWindow.start >= windowMs) rateWindow = { start: t, count: 0 };
    rateWindow.count += 1;
    if (rateWindow.count <= max) return next();
    rateLimited += 1;
    const retryAfter = Math.max(1, Math.ceil((rateWindow.start + windowMs - t) / 1000));
    // An edge proxy's answer, not the app's: real 429, plain text: docs/onetime-secret.md ("Errors and rate limits").
    return res.status(429).set('Retry-After', String(retryAfter)).type('text/plain').send('Too Many Requests');
  });

  router.get('/api/v1/status', (req, res) => {
    if (!identify(req)) return notAuthorized(res);
    res.json({ status: 'nominal', locale: 'en' });
  });

  router.get('/api/v1/authcheck', (req, res) => {
    if (!identify(req)?.authed) return notAuthorized(res);
    res.json({ status: 'nominal', locale: 'en' });
  });

  router.post(['/api/v1/share', '/api/v1/create'], (req, res) => create(req, res, 'share'));
  router.post('/api/v1/generate', (req, res) => create(req, res, 'generate'));

  router.post('/api/v1/secret/:key', async (req, res) => {
    if (!identify(req)) return notAuthorized(res);
    const key = String(req.params.key);
    if (key.length < 20) return shortKeyNotFound(res);
    const r = await reveal(key, paramsOf(req).passphrase || undefined);
    if (!r.ok && r.lockedOut) return formError(res, 'An unexpected error occurred :[');
    if (!r.ok) return unknownSecret(res, key);
    // share_domain here is the site's scheme+host (+ our mount path), not the receipt's bare domain.
    res.json({ value: r.value, secret_key: key, share_domain: base(req) });
  });

  const RECEIPT_PREFIXES = ['/api/v1/private', '/api/v1/receipt', '/api/v1/metadata'];

  // Before /:key, so "recent" is not taken for a key.
  router.get(
    RECEIPT_PREFIXES.map((p) => `${p}/recent`),
    (req, res) => {
      const who = identify(req);
      if (!who?.authed) return notAuthorized(res);
      const since = now() - RECENT_WINDOW_MS;
      const list = [...receipts.keys()]
        .map(loadReceipt)
        .filter((r): r is StoredReceipt => r !== undefined && r.custid === who.custid && r.createdMs >= since)
        .sort((a, b) => b.createdMs - a.createdMs)
        .map((r) => {
          const h = receiptHsh(req, r, { list: true });
          delete h.secret_key; // secret_identifier stays: the delete happens after the alias copy (fixture "recent")
          return h;
        });
      res.json(list);
    },
  );

  router.all(
    RECEIPT_PREFIXES.map((p) => `${p}/:key`),
    (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'POST') return next();
      if (!identify(req)) return notAuthorized(res);
      const key = String(req.params.key);
      if (key.length < 20) return shortKeyNotFound(res);
      const r = loadReceipt(key);
      if (!r) return unknownSecret(res, key);
      // A generated value shows on the first receipt view within generated_value_display_ttl, then never again.
      const showValue = r.generatedValue !== undefined && now() - r.createdMs < GENERATED_VALUE_DISPLAY_MS;
      const body = receiptHsh(req, r, { withValue: showValue });
      delete r.generatedValue;
      res.json(body);
    },
  );

  router.post(
    RECEIPT_PREFIXES.map((p) => `${p}/:key/burn`),
    async (req, res) => {
      if (!identify(req)) return notAuthorized(res);
      const key = String(req.params.key);
      if (key.length < 20) return shortKeyNotFound(res);
      const r = loadReceipt(key);
      const s = r && loadSecret(r.secretKey);
      if (!r || !s) return unknownSecret(res, key);
      if (s.passphrase) {
        const given = paramsOf(req).passphrase;
        if (!given || !(await passphraseMatches(s.passphrase, given)))
          return formError(res, 'Double check that passphrase');
      }
      secrets.delete(s.key);
      r.state = 'burned';
      r.updatedMs = now();
      delete r.generatedValue;
      res.json({ state: receiptHsh(req, r, { list: true }), secret_shortkey: r.secretKey.slice(0, 8) });
    },
  );

  // The recipient's page (the real web app's /secret/:key): opening shows a button; only the POST reveals.
  router.get('/secret/:key', (req, res) => {
    const r = loadSecret(String(req.params.key));
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
    const r = await reveal(String(req.params.key), paramsOf(req).passphrase || undefined);
    page(
      res,
      r.ok
        ? `<p>Copy it now; it is gone from the server:</p><pre>${escapeHtml(r.value)}</pre>`
        : '<p>This secret is unknown, expired or already viewed, or the passphrase is wrong.</p>',
    );
  });

  router.use((_req, res) => routerAnswer(res, 404, { error: 'Not Found' }));

  router.use((err: { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    // Unparseable or oversized bodies are refused before the app, like Rack's parsers; anything else escaped it.
    if (typeof err.status === 'number' && err.status >= 400 && err.status < 500)
      return routerAnswer(res, err.status, { error: STATUS_CODES[err.status] ?? 'Bad Request' });
    return routerAnswer(res, 500, { error: 'Internal Server Error' });
  });

  return {
    router,
    /** Live state, for tests that look behind the API. */
    store: { secrets, receipts } as {
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
    /** Answer the next `times` requests to `path` with a canned response (e.g. an intended-401 404 or a 429). */
    injectFault(fault: InjectedFault): void {
      faults.push({ ...fault });
    },
    /** Injected faults not yet used up (a test watches it fall to time the client's retries). */
    pendingFaults: (): number => faults.reduce((n, f) => n + (f.times ?? 1), 0),
    /** Sends every answer held back by a `stall` fault (to a client that may be long gone). */
    releaseStalled(): void {
      for (const release of [...stalled]) release();
    },
    snapshot(): OtsEmulatorSnapshot {
      return {
        secrets: [...secrets.values()].map((x) => ({
          ...x,
          passphrase: x.passphrase && {
            salt: x.passphrase.salt.toString('base64'),
            hash: x.passphrase.hash.toString('base64'),
          },
        })),
        receipts: [...receipts.values()],
        mail: [...sentMail],
        created,
      };
    },
    restore(snap: OtsEmulatorSnapshot): void {
      for (const x of snap.secrets) {
        const { passphrase, ...rest } = x;
        secrets.set(x.key, {
          ...rest,
          ...(passphrase
            ? {
                passphrase: {
                  salt: Buffer.from(passphrase.salt, 'base64'),
                  hash: Buffer.from(passphrase.hash, 'base64'),
                },
              }
            : {}),
        });
      }
      for (const r of snap.receipts) receipts.set(r.key, r);
      sentMail.push(...snap.mail);
      created = snap.created;
    },
    reset(): void {
      secrets.clear();
      receipts.clear();
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

/** Runs the emulator alone on loopback, mounted at /sandbox/ots as in the service. For tests. */
export async function startOtsEmulatorServer(
  opts: OtsEmulatorOptions & { port?: number } = {},
): Promise<{ baseUrl: string; close(): Promise<void>; emulator: OtsEmulator }> {
  const emulator = createOtsEmulator(opts);
  const app = express();
  app.use('/sandbox/ots', emulator.router);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(opts.port ?? 0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/sandbox/ots`,
    emulator,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
