// The one way in to Onetime Secret, over undici: API v2 where the server offers it and the account may use it, else
// API v1 (docs/onetime-secret.md, "Which API version"). v2 is the maintained API (real HTTP statuses, 422 naming the
// field, 429 with Retry-After); v1 is frozen but is the one every server has, including v0.23 self-hosted installs
// without v2. The version is chosen once per client, by an authenticated call (`detectApiVersion`), or fixed by
// OTS_API_VERSION; every method then speaks it and returns the same shapes either way (src/ots/schemas.ts).
//
// Wire choices: HTTP Basic auth on both; v1 bodies form-encoded (JSON fails on v0.23.x) with errors read through
// v1's quirk of answering them all 404 + `X-OTS-Intended-Status` (docs/onetime-secret.md, "Errors and rate
// limits"); v2 bodies JSON, create parameters nested under `secret`.
// This module never logs: callers decide what to record, and errors carry no secret material.
import { request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { parseRetryAfter } from '../retry-after.js';
import type { OtsOp, OtsOutcome } from '../metrics.js';
import {
  OtsAuthError,
  OtsBadRequestError,
  OtsNotFoundError,
  OtsProtocolError,
  OtsRateLimitedError,
  OtsUnavailableError,
  OtsError,
  type OtsErrorDetails,
} from './errors.js';
import {
  burnWireSchema,
  errorWireSchema,
  receiptWireSchema,
  recentWireSchema,
  retrieveWireSchema,
  statusSchema,
  toReceipt,
  toReceiptV2,
  v2BurnWireSchema,
  v2CreateWireSchema,
  v2ErrorWireSchema,
  v2RecentWireSchema,
  v2RevealWireSchema,
  v2ShowReceiptWireSchema,
  type OtsApiChoice,
  type OtsApiVersion,
  type OtsStatus,
  type Receipt,
} from './schemas.js';

export type { OtsApiChoice, OtsApiVersion, OtsStatus, Receipt } from './schemas.js';

export interface OtsClientOptions {
  /** Server root, e.g. https://us.onetimesecret.com or http://127.0.0.1:3000/sandbox/ots (a trailing /api is dropped). */
  baseUrl: string;
  /** Account email (or customer id); with `apiKey`, sent as HTTP Basic auth. */
  username?: string;
  apiKey?: string;
  /** Which API to speak. Default `auto`. */
  apiVersion?: OtsApiChoice;
  /** Defaults to undici's global dispatcher (which is what nock replaces in tests). */
  dispatcher?: Dispatcher;
  /** Whole-request deadline, headers and body. Default 10 s. */
  timeoutMs?: number;
  /** Told of every request: its operation, what it came to and how long it took (src/metrics.ts otsObserver). */
  observe?: (call: { op: OtsOp; outcome: OtsOutcome; seconds: number }) => void;
}

/** The operation a request path is (a metric label: never the key the path holds). */
export function opOf(path: string): OtsOp {
  if (/\/(conceal|generate|share)$/.test(path)) return 'create';
  if (/\/reveal$/.test(path) || path.startsWith('/api/v1/secret/')) return 'reveal';
  if (/\/burn$/.test(path)) return 'burn';
  if (/\/recent$/.test(path)) return 'recent';
  if (path.startsWith('/api/v2/receipt/') || path.startsWith('/api/v1/private/')) return 'receipt';
  if (/\/status$/.test(path)) return 'status';
  return 'account';
}

/** What a failed request came to, from its typed error. */
function outcomeOf(err: unknown): OtsOutcome {
  if (err instanceof OtsRateLimitedError) return 'rate_limited';
  if (err instanceof OtsProtocolError) return 'protocol_error';
  if (err instanceof OtsUnavailableError) return err.status === undefined ? 'unreachable' : 'server_error';
  // Not an OtsError: a request this client could not even make (a bug, e.g. an invalid argument to undici).
  return 'client_error';
}

/** The version in use and why: the banner and the start-up log say it. */
export interface OtsApiSelection {
  version: OtsApiVersion;
  reason: string;
}

export interface ShareParams {
  secret: string;
  /**
   * Seconds. OTS clamps to [60 s, account maximum] silently (v2 refuses more than 14 days on a free plan instead);
   * read the effective value back from the receipt.
   */
  ttl: number;
  passphrase?: string;
  /** One email address; OTS mails it the link (never the value). Needs an account. */
  recipient?: string;
  shareDomain?: string;
}

export interface GenerateParams extends Omit<ShareParams, 'secret'> {
  /** Generated value length; OTS default 12, max 128. */
  length?: number;
}

export interface RetrievedSecret {
  value: string;
  secretKey: string;
  /** Scheme + host of the server that answered, e.g. https://us.onetimesecret.com ("" when v2 does not say). */
  shareDomain: string;
}

type Form = Record<string, string | number | undefined>;
type Json = Record<string, unknown>;
/** A request body: v1 sends a form, v2 JSON. */
type Body = { form: Form } | { json: Json };

/** Where a live account is unless OTS_BASE_URL says otherwise: the US region (regions do not share accounts). */
export const OTS_DEFAULT_BASE_URL = 'https://us.onetimesecret.com';

/** A live account's client options, as the OTS_* variables (src/config.ts) say. */
export function liveOtsOptions(c: {
  OTS_BASE_URL?: string;
  OTS_USERNAME?: string;
  OTS_API_KEY?: string;
  OTS_API_VERSION: OtsApiChoice;
}): OtsClientOptions {
  return {
    baseUrl: c.OTS_BASE_URL ?? OTS_DEFAULT_BASE_URL,
    username: c.OTS_USERNAME,
    apiKey: c.OTS_API_KEY,
    apiVersion: c.OTS_API_VERSION,
  };
}

const USER_AGENT = 'ots-handoff/0.1';
/** The request deadline when none is configured (createSecret counts on it: a lost create lands within it). */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Keys are capabilities: show only enough of one to tell them apart in a message. */
export const shortKey = (key: string): string => (key.length > 6 ? `${key.slice(0, 6)}…` : key);

/** `path` as messages show it: the key it holds shortened. */
const shown = (path: string, key: string): string => path.replace(encodeURIComponent(key), shortKey(key));

/**
 * A server message with every key-like token (20+ base36 characters: OTS keys are 62, legacy ones about 31)
 * shortened, then cut to 300 characters: v2 puts the key in some messages ("identifier: <key>",
 * apps/api/v2/logic/secrets/show_receipt.rb), a proxy may echo the path, and a key is a capability that must not
 * reach a log line or a ticket note.
 */
function withoutKeys(message: string): string {
  return message.replace(/(?<![0-9a-z])[0-9a-z]{20,}(?![0-9a-z])/g, (k) => shortKey(k)).slice(0, 300);
}

/** The fields of a JSON body that are set (an empty string is sent as it is: v2 reads a present key as given). */
function defined(o: Json): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export class OtsClient {
  /** The server root as requests use it, without credentials or a trailing slash. */
  readonly baseUrl: string;
  /** What the client was told to speak; `auto` until detectApiVersion has chosen. */
  readonly apiChoice: OtsApiChoice;
  readonly #authorization: string | undefined;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #timeoutMs: number;
  readonly #observe: OtsClientOptions['observe'];
  #selection: Promise<OtsApiSelection> | undefined;
  #version: OtsApiVersion | undefined;

  constructor(opts: OtsClientOptions) {
    const url = new URL(opts.baseUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new TypeError(`OTS base URL must be http(s), got ${url.protocol}`);
    // Operators paste https://onetimesecret.com/api or …/api/v1 as often as the root; requests add the prefix.
    const prefix = url.pathname.replace(/\/+$/, '').replace(/\/api(\/v[12])?$/, '');
    this.baseUrl = `${url.origin}${prefix}`;
    if (Boolean(opts.username) !== Boolean(opts.apiKey)) {
      throw new TypeError(
        'OTS username and API key go together: set both (account email + API token) or neither (anonymous)',
      );
    }
    this.#authorization =
      opts.username && opts.apiKey
        ? `Basic ${Buffer.from(`${opts.username}:${opts.apiKey}`).toString('base64')}`
        : undefined;
    this.#dispatcher = opts.dispatcher;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#observe = opts.observe;
    this.apiChoice = opts.apiVersion ?? 'auto';
  }

  /** The version in use: a fixed choice, or once detected (by detectApiVersion or the first call); undefined before. */
  get apiVersion(): OtsApiVersion | undefined {
    return this.apiChoice === 'auto' ? this.#version : this.apiChoice;
  }

  /**
   * Chooses the API version, once (later calls share the first answer; a failed choice is tried again next time).
   * With an account, GET /api/v2/receipt/recent, the cheapest authenticated v2 call that also checks the
   * `api_access` entitlement (apps/api/v2/logic/secrets/list_receipts.rb): answered → v2; refused for the
   * entitlement (403) or no such route (404) → v1, checked with GET /api/v1/authcheck. Wrong credentials are an
   * OtsAuthError whichever version refuses them. Without an account, v2 when GET /api/v2/status answers (anonymous
   * v2 calls need no entitlement: lib/onetime/logic/base.rb, require_entitlement!). A fixed choice (`v1`, `v2`) is
   * still checked the same way, and a v2 the server or account cannot use is an error that says so.
   */
  detectApiVersion(): Promise<OtsApiSelection> {
    this.#selection ??= this.#detect().then(
      (s) => {
        this.#version = s.version;
        return s;
      },
      (err: unknown) => {
        this.#selection = undefined;
        throw err;
      },
    );
    return this.#selection;
  }

  async #detect(): Promise<OtsApiSelection> {
    if (this.apiChoice === 'v1') {
      if (this.#authorization) await this.#v1Authcheck();
      return { version: 'v1', reason: 'OTS_API_VERSION=v1' };
    }
    const refused = await this.#v2Refusal();
    if (!refused)
      return { version: 'v2', reason: this.apiChoice === 'v2' ? 'OTS_API_VERSION=v2' : 'the server offers API v2' };
    if (this.apiChoice === 'v2' && refused.why !== 'credentials') {
      throw new OtsAuthError(
        `Onetime Secret at ${this.baseUrl} cannot be used with API v2: ${refused.why === 'entitlement' ? "the account's plan lacks the api_access entitlement" : 'the server has no API v2'} (${refused.err.message}). Set OTS_API_VERSION=auto or v1`,
        { status: refused.err.status, request: refused.err.request, serverMessage: refused.err.serverMessage },
      );
    }
    if (this.apiChoice === 'v2') throw refused.err;
    // v1 says whether credentials v2 refused are wrong (then its OtsAuthError stands) or only closed to v2. A server
    // without v1 either (v1 is frozen upstream) says nothing about them: then v2's refusal is the answer.
    if (this.#authorization) {
      try {
        await this.#v1Authcheck();
      } catch (err) {
        if (refused.why !== 'route' && err instanceof OtsProtocolError) throw refused.err;
        throw err;
      }
    }
    const reason = {
      entitlement: 'API v2 refused the account for the api_access entitlement, so API v1 is used',
      route: 'the server has no API v2 (an older install), so API v1 is used',
      credentials: 'API v2 refused the credentials and API v1 accepted them, so API v1 is used',
    }[refused.why];
    return { version: 'v1', reason };
  }

  /**
   * Undefined when v2 may be used; else why not: the plan lacks api_access (403 EntitlementRequired naming it), no
   * v2 routes (404), or v2 refused the credentials (401). Anything else says nothing about v2 and is thrown: an
   * outage, a proxy's 403 page, the server failing to load the account's entitlements.
   */
  async #v2Refusal(): Promise<{ why: 'entitlement' | 'route' | 'credentials'; err: OtsError } | undefined> {
    try {
      if (this.#authorization) {
        await this.#v2AccountCheck();
      } else {
        await this.#call('GET', '/api/v2/status', statusSchema);
      }
      return undefined;
    } catch (err) {
      if (err instanceof OtsAuthError && err.status === 403 && err.entitlement === 'api_access')
        return { why: 'entitlement', err };
      if (err instanceof OtsProtocolError && err.status === 404) return { why: 'route', err };
      if (err instanceof OtsAuthError && err.status === 401) return { why: 'credentials', err };
      throw err;
    }
  }

  async #v1Authcheck(): Promise<void> {
    await this.#call('GET', '/api/v1/authcheck', statusSchema);
  }

  /** The account may use v2: GET /api/v2/receipt/recent (authenticated, checks `api_access`, creates nothing). */
  async #v2AccountCheck(): Promise<void> {
    await this.#call('GET', '/api/v2/receipt/recent', v2RecentWireSchema);
  }

  /** The version a call speaks: a fixed choice at once (detectApiVersion still checks it at start-up), else detected. */
  async #ver(): Promise<OtsApiVersion> {
    if (this.apiChoice !== 'auto') return this.apiChoice;
    return this.#version ?? (await this.detectApiVersion()).version;
  }

  /** Is the server up. Anonymous, and answered whatever the account may do: GET /api/v{1,2}/status. */
  async status(): Promise<OtsStatus> {
    const v = await this.#ver();
    return this.#call('GET', `/api/${v}/status`, statusSchema);
  }

  /** Throws OtsAuthError unless the configured account is accepted (and, on v2, may use the API). */
  async authcheck(): Promise<void> {
    return (await this.#ver()) === 'v1' ? this.#v1Authcheck() : this.#v2AccountCheck();
  }

  /** Stores `secret` and returns its receipt (keep `metadataKey`, share `secretKey`). */
  async share(p: ShareParams): Promise<Receipt> {
    if ((await this.#ver()) === 'v2')
      return (await this.#createV2('conceal', { secret: p.secret, ...this.#v2Params(p) })).receipt;
    const form: Form = { secret: p.secret, ttl: p.ttl, ...this.#createParams(p) };
    return toReceipt(await this.#call('POST', '/api/v1/share', receiptWireSchema, { body: { form } }));
  }

  /**
   * OTS makes up the value. v1 returns it once, here, as `value`; v2 does not return it at all (the creator sees it
   * once on the receipt page instead), so `value` is absent on v2.
   */
  async generate(p: GenerateParams): Promise<{ receipt: Receipt; value?: string }> {
    if ((await this.#ver()) === 'v2') return this.#createV2('generate', { length: p.length, ...this.#v2Params(p) });
    const form: Form = { ttl: p.ttl, length: p.length, ...this.#createParams(p) };
    const wire = await this.#call('POST', '/api/v1/generate', receiptWireSchema, { body: { form } });
    const value = wire.value ?? wire.secret_value;
    return value === undefined ? { receipt: toReceipt(wire) } : { receipt: toReceipt(wire), value };
  }

  /**
   * Reveals the value and destroys the secret. A wrong passphrase is OtsNotFoundError on v1 (which says "Unknown
   * secret" for every failure) and OtsBadRequestError on v2; neither consumes the secret. The service never calls
   * this; tests and the sandbox's simulated caller do.
   */
  async retrieveSecret(secretKey: string, passphrase?: string): Promise<RetrievedSecret> {
    const key = encodeURIComponent(secretKey);
    if ((await this.#ver()) === 'v2') {
      const wire = await this.#call('POST', `/api/v2/secret/${key}/reveal`, v2RevealWireSchema, {
        key: secretKey,
        body: { json: defined({ passphrase, continue: true }) },
      });
      return { value: wire.record.secret_value, secretKey, shareDomain: wire.record.share_domain ?? '' };
    }
    const wire = await this.#call('POST', `/api/v1/secret/${key}`, retrieveWireSchema, {
      key: secretKey,
      body: { form: { passphrase } },
    });
    return { value: wire.value, secretKey: wire.secret_key ?? secretKey, shareDomain: wire.share_domain ?? '' };
  }

  /**
   * The receipt; does not change state, except that loading it is what marks a secret past its lifetime `expired`
   * on both versions. v1: GET /api/v1/private/:key (the alias every v1 has). v2: GET /api/v2/receipt/:key, whose
   * record leaves out the secret key of a passphrase-protected secret (apps/api/v2/logic/secrets/show_receipt.rb).
   */
  async receipt(metadataKey: string): Promise<Receipt> {
    const key = encodeURIComponent(metadataKey);
    if ((await this.#ver()) === 'v2') {
      const wire = await this.#call('GET', `/api/v2/receipt/${key}`, v2ShowReceiptWireSchema, { key: metadataKey });
      return toReceiptV2(wire.record, wire.details?.secret_realttl ?? (wire.details ? null : undefined));
    }
    return toReceipt(await this.#call('GET', `/api/v1/private/${key}`, receiptWireSchema, { key: metadataKey }));
  }

  /**
   * The account's receipts of the last 30 days, with their stored states. Needs auth. v1 leaves out every secret
   * key; v2 gives the secret key of each receipt whose secret is still there (list_receipts.rb, personal scope).
   */
  async recent(): Promise<Receipt[]> {
    if ((await this.#ver()) === 'v2') {
      const wire = await this.#call('GET', '/api/v2/receipt/recent', v2RecentWireSchema);
      return wire.records.map((r) => toReceiptV2(r));
    }
    return (await this.#call('GET', '/api/v1/private/recent', recentWireSchema)).map(toReceipt);
  }

  /**
   * Destroys the secret unseen. Needs the passphrase when one is set. `continue=true` is what old v1 servers
   * required (current ones force it) and what v2 requires (apps/api/v2/logic/secrets/burn_secret.rb: anything else
   * burns nothing). A secret already gone is OtsNotFoundError on both: v1 says "Unknown secret", v2 answers without a
   * record, or with `success: false` when a concurrent reveal or burn won. Both versions answer with the receipt as
   * it was loaded before the burn, still `new` (src/ots/schemas.ts, v2BurnWireSchema), so a burn they report done
   * is returned as `burned`.
   */
  async burn(metadataKey: string, passphrase?: string): Promise<Receipt> {
    const key = encodeURIComponent(metadataKey);
    if ((await this.#ver()) === 'v2') {
      const path = `/api/v2/receipt/${key}/burn`;
      const wire = await this.#call('POST', path, v2BurnWireSchema, {
        key: metadataKey,
        body: { json: defined({ passphrase, continue: true }) },
      });
      if (!wire.record || wire.success === false) {
        const where = `POST ${shown(path, metadataKey)}`;
        throw new OtsNotFoundError(
          `Onetime Secret has no secret left to burn for ${where}: it was already viewed, burned or expired`,
          { status: 200, request: where },
        );
      }
      return { ...toReceiptV2(wire.record), state: 'burned' };
    }
    const wire = await this.#call('POST', `/api/v1/private/${key}/burn`, burnWireSchema, {
      key: metadataKey,
      body: { form: { passphrase, continue: 'true' } },
    });
    // v1 answers 200 only when this request burned it (apps/api/v1/controllers/index.rb, burn_secret).
    return { ...toReceipt(wire.state), state: 'burned' };
  }

  /**
   * The link a recipient opens: https://<share_domain>/secret/<key> for a custom domain, else the server we called
   * (with its path prefix, e.g. the sandbox's /sandbox/ots). Neither version answers a share URL on create (v1 has
   * only metadata_url; v2's create record has none), so the link is built here, as the web app routes it
   * (docs/onetime-secret.md, "API v1 as this client uses it").
   */
  shareLink(receipt: Receipt): string {
    if (!receipt.secretKey) {
      throw new TypeError(
        `receipt ${shortKey(receipt.metadataKey)} has no secret key (state ${receipt.state}): only a fresh share/generate receipt has a link`,
      );
    }
    const key = encodeURIComponent(receipt.secretKey);
    const domain = receipt.shareDomain.replace(/\/+$/, '');
    if (domain) return /^https?:\/\//.test(domain) ? `${domain}/secret/${key}` : `https://${domain}/secret/${key}`;
    return `${this.baseUrl}/secret/${key}`;
  }

  #createParams(p: Omit<ShareParams, 'secret' | 'ttl'>): Form {
    return { passphrase: p.passphrase, recipient: p.recipient, share_domain: p.shareDomain };
  }

  /** v2's create parameters, nested under `secret` by #createV2; `recipient` is a list. */
  #v2Params(p: Omit<ShareParams, 'secret'>): Json {
    return {
      ttl: p.ttl,
      passphrase: p.passphrase,
      recipient: p.recipient ? [p.recipient] : undefined,
      share_domain: p.shareDomain,
    };
  }

  /** POST /api/v2/secret/{conceal,generate} with `{secret: {...}}` (base_secret_action.rb, process_params). */
  async #createV2(kind: 'conceal' | 'generate', params: Json): Promise<{ receipt: Receipt }> {
    const wire = await this.#call('POST', `/api/v2/secret/${kind}`, v2CreateWireSchema, {
      body: { json: { secret: defined(params) } },
    });
    const { receipt, secret, share_domain } = wire.record;
    const r = toReceiptV2(receipt);
    r.secretKey = secret.identifier ?? secret.key;
    // The record's share_domain is the one the link is for (the receipt keeps it too; either may be null).
    if (!r.shareDomain && share_domain) r.shareDomain = share_domain;
    return { receipt: r };
  }

  /**
   * One request. The version it speaks is in its path; `key` is the receipt or secret key the path holds, shortened
   * in the only form of the path that goes into errors.
   */
  async #call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    args: { key?: string; body?: Body } = {},
  ): Promise<z.output<S>> {
    if (!this.#observe) return this.#exchange(method, path, schema, args);
    const started = performance.now();
    const seen = { timedOut: false };
    let outcome: OtsOutcome = 'ok';
    try {
      return await this.#exchange(method, path, schema, args, seen);
    } catch (err) {
      outcome = seen.timedOut ? 'timeout' : outcomeOf(err);
      throw err;
    } finally {
      this.#observe({ op: opOf(path), outcome, seconds: (performance.now() - started) / 1000 });
    }
  }

  async #exchange<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    { key, body }: { key?: string; body?: Body },
    seen?: { timedOut: boolean },
  ): Promise<z.output<S>> {
    const version: OtsApiVersion = path.startsWith('/api/v2/') ? 'v2' : 'v1';
    const where = `${method} ${key === undefined ? path : shown(path, key)}`;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
    if (this.#authorization) headers.authorization = this.#authorization;
    let payload: string | undefined;
    if (body && 'json' in body) {
      payload = JSON.stringify(body.json);
      headers['content-type'] = 'application/json';
    } else if (method === 'POST') {
      const params = new URLSearchParams();
      // Unset and empty fields are left out: OTS treats an empty field as absent anyway.
      for (const [k, v] of Object.entries(body?.form ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
      payload = params.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }

    // One deadline for connect, headers and body, so a server that trickles its answer cannot hold an activity.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#timeoutMs);
    let statusCode: number;
    let responseHeaders: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const res = await request(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: payload,
        dispatcher: this.#dispatcher,
        signal: deadline.signal,
      });
      statusCode = res.statusCode;
      responseHeaders = res.headers;
      // undici keeps the connection busy until the body is read: always consume it, error or not.
      text = await res.body.text();
    } catch (err) {
      if (deadline.signal.aborted) {
        if (seen) seen.timedOut = true;
        throw new OtsUnavailableError(
          `Onetime Secret did not answer ${where} within ${this.#timeoutMs} ms: retry later`,
          { request: where, cause: err },
        );
      }
      const code = (err as { code?: unknown }).code;
      if (code === 'UND_ERR_INVALID_ARG') throw err; // a bug here, not an outage
      throw new OtsUnavailableError(
        `Onetime Secret could not be reached for ${where} (${typeof code === 'string' ? code : (err as Error).name}): check the network and ${this.baseUrl}, then retry`,
        { request: where, cause: err },
      );
    } finally {
      clearTimeout(timer);
    }

    if (statusCode >= 200 && statusCode < 300) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new OtsProtocolError(
          `Onetime Secret answered ${where} with HTTP ${statusCode} but the body is not JSON: is ${this.baseUrl} an OTS server?`,
          { status: statusCode, request: where },
        );
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        // Paths and issue codes only: a response body (a revealed value!) must not reach the message.
        const issues = parsed.error.issues
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`)
          .slice(0, 5)
          .join(', ');
        throw new OtsProtocolError(
          `Onetime Secret answered ${where} with an unexpected body (${issues}): the server may not speak API ${version}`,
          { status: statusCode, request: where },
        );
      }
      return parsed.data;
    }
    throw version === 'v2'
      ? this.#errorV2(statusCode, responseHeaders, text, where)
      : this.#error(statusCode, responseHeaders, text, where);
  }

  /**
   * Reads a v1 error (docs/onetime-secret.md, "Errors and rate limits"): every application error is HTTP 404 with
   * `{message}` and the status meant in `X-OTS-Intended-Status`; "Unknown secret" is any missing secret.
   */
  #error(
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    text: string,
    where: string,
  ): OtsError {
    let wire: z.infer<typeof errorWireSchema> = {};
    try {
      wire = errorWireSchema.parse(JSON.parse(text));
    } catch {
      /* a proxy's HTML page or an empty body: judged by status alone */
    }
    const intendedHeader = headers['x-ots-intended-status'];
    const intended = Number(Array.isArray(intendedHeader) ? intendedHeader[0] : intendedHeader) || undefined;
    return this.#typed({
      statusCode,
      status: statusCode === 404 && intended ? intended : statusCode,
      intended,
      where,
      serverMessage: wire.message,
      routeError: wire.error,
      retryAfterMs: parseRetryAfter(headers['retry-after']),
      // "Not Found" as a message is v1 refusing a key shorter than 20 chars: no such secret either.
      missing: wire.message === 'Unknown secret' || wire.message === 'Not Found',
      // A server with accounts disabled answers Basic-auth requests "<path> is not available".
      accountsDisabled: Boolean(wire.message && /is not available$/.test(wire.message)),
    });
  }

  /**
   * Reads a v2 error: real statuses, `{error, error_type, field?, retry_after?}` (lib/onetime/errors.rb, rendered by
   * lib/onetime/application/otto_hooks.rb); 404 is RecordNotFound for a missing secret or receipt and NotFound for
   * an unmatched route (apps/api/v2/application.rb); 429 carries Retry-After.
   */
  #errorV2(
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    text: string,
    where: string,
  ): OtsError {
    let wire: z.infer<typeof v2ErrorWireSchema> = {};
    try {
      wire = v2ErrorWireSchema.parse(JSON.parse(text));
    } catch {
      /* not a v2 body: judged by status alone */
    }
    // delano/otto's authentication failure says {error: "Authentication Required", message: "[REASON] …"}.
    const said = [wire.error, wire.error_type ? undefined : wire.message].filter(Boolean).join(': ') || undefined;
    const retryAfterMs =
      parseRetryAfter(headers['retry-after']) ?? (wire.retry_after != null ? wire.retry_after * 1000 : undefined);
    return this.#typed({
      statusCode,
      status: statusCode,
      where,
      serverMessage: said,
      routeError: wire.error_type === 'NotFound' ? wire.error : undefined,
      retryAfterMs,
      missing: statusCode === 404 && wire.error_type === 'RecordNotFound',
      field: wire.field ?? undefined,
      // "Unable to verify entitlements (organization context unavailable)" is a fault on the server's side
      // (lib/onetime/logic/base.rb, require_entitlement!), not a plan without the entitlement.
      entitlement:
        wire.error_type === 'EntitlementRequired' && wire.error_key !== 'api.entitlements.errors.context_unavailable'
          ? (wire.entitlement ?? undefined)
          : undefined,
      forbidden: wire.error_type === 'Forbidden',
    });
  }

  /** One refusal, whichever version said it, as the typed error callers branch on (src/ots/errors.ts). */
  #typed(r: {
    statusCode: number;
    /** The status OTS meant. */
    status: number;
    intended?: number;
    where: string;
    serverMessage?: string;
    routeError?: string;
    retryAfterMs?: number;
    /** The secret or receipt does not exist (any more). */
    missing: boolean;
    accountsDisabled?: boolean;
    /** v2's 422 names the form field. */
    field?: string;
    /** v2's 403 for a plan without this entitlement. */
    entitlement?: string;
    /** v2's 403 Forbidden: the account may not do what was asked (e.g. use that share domain). */
    forbidden?: boolean;
  }): OtsError {
    const { statusCode, status, intended, where, retryAfterMs } = r;
    const serverMessage = r.serverMessage && withoutKeys(r.serverMessage);
    const routeError = r.routeError && withoutKeys(r.routeError).slice(0, 100);
    const said = serverMessage ? `: "${serverMessage}"` : '';
    const http =
      intended && intended !== statusCode ? `HTTP ${statusCode}, intended ${intended}` : `HTTP ${statusCode}`;
    const details: OtsErrorDetails = { status, request: where, serverMessage };

    // Messages that mean the same whatever status carries them: v1's own limiter and outage texts come as 404/400.
    if (serverMessage && /rate limit exceeded/i.test(serverMessage)) {
      return new OtsRateLimitedError(
        `Onetime Secret rate limit reached on ${where} (${http})${said}: back off and retry later`,
        { ...details, retryAfterMs },
      );
    }
    if (serverMessage && /temporarily unavailable|unexpected error occurred/i.test(serverMessage)) {
      return new OtsUnavailableError(`Onetime Secret failed on ${where} (${http})${said}: retry later`, details);
    }

    if (r.entitlement) {
      // api_access gates the whole v2 API (the version is chosen at start-up: a plan that lost it since needs a
      // restart to fall back); extended_default_expiration a TTL over the free plan's 14 days, which v2 refuses where
      // v1 would clamp (apps/api/v2/logic/secrets/base_secret_action.rb, process_ttl).
      const fix =
        r.entitlement === 'api_access'
          ? 'restart the service with OTS_API_VERSION=auto (the default) or v1 to use API v1, or use a plan with API access'
          : r.entitlement === 'extended_default_expiration'
            ? 'ask for a TTL of at most 14 days, or upgrade the plan'
            : 'upgrade the plan or use API v1';
      return new OtsAuthError(
        `Onetime Secret refused ${where} (${http})${said}: the account's plan lacks the ${r.entitlement} entitlement; ${fix}`,
        { ...details, entitlement: r.entitlement },
      );
    }
    if (r.forbidden) {
      return new OtsBadRequestError(
        `Onetime Secret refused ${where} (${http})${said}: the account may not do this; sending it again unchanged will fail the same way`,
        details,
      );
    }
    if (status === 401 || status === 403) {
      const fix = this.#authorization
        ? 'check OTS_USERNAME (the account email) and OTS_API_KEY, and that the account belongs to this region'
        : 'this needs an account: set OTS_USERNAME and OTS_API_KEY';
      return new OtsAuthError(`Onetime Secret refused the credentials for ${where} (${http})${said}: ${fix}`, details);
    }
    if (status === 429) {
      const wait =
        retryAfterMs === undefined ? 'back off and retry later' : `retry in ${Math.ceil(retryAfterMs / 1000)} s`;
      return new OtsRateLimitedError(`Onetime Secret rate limit reached on ${where} (${http}): ${wait}`, {
        ...details,
        retryAfterMs,
      });
    }
    if (status >= 500 || status === 408) {
      return new OtsUnavailableError(`Onetime Secret failed on ${where} (${http})${said}: retry later`, details);
    }
    if (status === 404) {
      if (r.missing) {
        return new OtsNotFoundError(
          `Onetime Secret has no such secret for ${where} (${http}): it never existed, was already viewed or burned, has expired, or the passphrase is wrong (OTS does not say which)`,
          details,
        );
      }
      if (r.accountsDisabled) {
        return new OtsAuthError(
          `Onetime Secret at ${this.baseUrl} has API accounts disabled (${http})${said}: unset OTS_USERNAME/OTS_API_KEY or use a server with authentication on`,
          details,
        );
      }
      return new OtsProtocolError(
        `Onetime Secret has no route ${where} (${http}${routeError ? `: "${routeError}"` : ''}): the base URL ${this.baseUrl} looks wrong; use the server root, e.g. https://us.onetimesecret.com`,
        details,
      );
    }
    if (status >= 400 && status < 500 && serverMessage && /^Undeliverable email address/i.test(serverMessage)) {
      // The server's email check refused the recipient (src/ots/recipient.ts; it may also check MX records, which
      // the agent API cannot): say so plainly, and keep the address out of the message, which becomes a ticket note.
      return new OtsBadRequestError(
        `Onetime Secret would not email the link: it found the recipient's address undeliverable (${http}). ` +
          'Check the address with the caller and start a new hand-off with the right one; a retry will fail the same way',
        { ...details, serverMessage: 'Undeliverable email address' },
      );
    }
    if (status >= 400 && status < 500) {
      return new OtsBadRequestError(
        `Onetime Secret refused ${where} (${http}${r.field ? `, field ${r.field}` : ''})${said}: fix the request; sending it again unchanged will fail the same way`,
        details,
      );
    }
    return new OtsProtocolError(
      `Onetime Secret answered ${where} with unexpected HTTP ${statusCode}: check the base URL ${this.baseUrl} (a redirect means http vs https or a wrong host)`,
      details,
    );
  }
}
