// The one way in to Onetime Secret: API v1 over undici (docs/onetime-secret.md, "API v1 as this client uses it").
// v1 is the version every server has (v0.23 self-hosted installs lack a usable v2) and the one the sandbox emulates.
//
// Wire choices: form-encoded bodies (JSON bodies fail on v0.23.x), HTTP Basic auth, and error mapping that reads
// v1's quirk of answering every error with 404 + `X-OTS-Intended-Status` (docs/onetime-secret.md, "Errors and rate
// limits").
// This module never logs: callers decide what to record, and errors carry no secret material.
import { request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { parseRetryAfter } from '../retry-after.js';
import {
  OtsAuthError,
  OtsBadRequestError,
  OtsNotFoundError,
  OtsProtocolError,
  OtsRateLimitedError,
  OtsUnavailableError,
  type OtsError,
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
  type OtsStatus,
  type Receipt,
} from './schemas.js';

export type { OtsStatus, Receipt } from './schemas.js';

export interface OtsClientOptions {
  /** Server root, e.g. https://us.onetimesecret.com or http://127.0.0.1:3000/sandbox/ots (a trailing /api is dropped). */
  baseUrl: string;
  /** Account email (or customer id); with `apiKey`, sent as HTTP Basic auth. */
  username?: string;
  apiKey?: string;
  /** Defaults to undici's global dispatcher (which is what nock replaces in tests). */
  dispatcher?: Dispatcher;
  /** Whole-request deadline, headers and body. Default 10 s. */
  timeoutMs?: number;
}

export interface ShareParams {
  secret: string;
  /** Seconds. OTS clamps to [60 s, account maximum] silently; read the effective value back from the receipt. */
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
  /** Scheme + host of the server that answered, e.g. https://us.onetimesecret.com. */
  shareDomain: string;
}

type Form = Record<string, string | number | undefined>;

const USER_AGENT = 'ots-handoff/0.1';
const DEFAULT_TIMEOUT_MS = 10_000;

/** Keys are capabilities: show only enough of one to tell them apart in a message. */
export const shortKey = (key: string): string => (key.length > 6 ? `${key.slice(0, 6)}…` : key);

export class OtsClient {
  /** The server root as requests use it, without credentials or a trailing slash. */
  readonly baseUrl: string;
  readonly #authorization: string | undefined;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #timeoutMs: number;

  constructor(opts: OtsClientOptions) {
    const url = new URL(opts.baseUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new TypeError(`OTS base URL must be http(s), got ${url.protocol}`);
    // Operators paste https://onetimesecret.com/api or …/api/v1 as often as the root; requests add /api/v1 themselves.
    const prefix = url.pathname.replace(/\/+$/, '').replace(/\/api(\/v1)?$/, '');
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
  }

  /** GET /api/v1/status: is the server up. Anonymous. */
  async status(): Promise<OtsStatus> {
    return this.#call('GET', '/api/v1/status', '/api/v1/status', statusSchema);
  }

  /** GET /api/v1/authcheck: throws OtsAuthError unless the configured account is accepted. */
  async authcheck(): Promise<OtsStatus> {
    return this.#call('GET', '/api/v1/authcheck', '/api/v1/authcheck', statusSchema);
  }

  /** POST /api/v1/share: stores `secret` and returns its receipt (keep `metadataKey`, share `secretKey`). */
  async share(p: ShareParams): Promise<Receipt> {
    const form: Form = { secret: p.secret, ttl: p.ttl, ...this.#createParams(p) };
    const wire = await this.#call('POST', '/api/v1/share', '/api/v1/share', receiptWireSchema, form);
    return toReceipt(wire);
  }

  /** POST /api/v1/generate: OTS makes up the value. It comes back once, here, as `value`. */
  async generate(p: GenerateParams): Promise<{ receipt: Receipt; value?: string }> {
    const form: Form = { ttl: p.ttl, length: p.length, ...this.#createParams(p) };
    const wire = await this.#call('POST', '/api/v1/generate', '/api/v1/generate', receiptWireSchema, form);
    const value = wire.value ?? wire.secret_value;
    return value === undefined ? { receipt: toReceipt(wire) } : { receipt: toReceipt(wire), value };
  }

  /**
   * POST /api/v1/secret/:key: reveals the value and destroys the secret (v1 forces continue=true). A wrong
   * passphrase is OtsNotFoundError too, and does not consume the secret (docs/onetime-secret.md, "API v1 as this
   * client uses it").
   */
  async retrieveSecret(secretKey: string, passphrase?: string): Promise<RetrievedSecret> {
    const path = `/api/v1/secret/${encodeURIComponent(secretKey)}`;
    const wire = await this.#call('POST', path, `/api/v1/secret/${shortKey(secretKey)}`, retrieveWireSchema, {
      passphrase,
    });
    return { value: wire.value, secretKey: wire.secret_key ?? secretKey, shareDomain: wire.share_domain ?? '' };
  }

  /** GET /api/v1/private/:key: the receipt; does not change state. `/private` is the alias every version has. */
  async receipt(metadataKey: string): Promise<Receipt> {
    const path = `/api/v1/private/${encodeURIComponent(metadataKey)}`;
    return toReceipt(await this.#call('GET', path, `/api/v1/private/${shortKey(metadataKey)}`, receiptWireSchema));
  }

  /** GET /api/v1/private/recent: the account's receipts of the last 30 days, without share keys. Needs auth. */
  async recent(): Promise<Receipt[]> {
    return (await this.#call('GET', '/api/v1/private/recent', '/api/v1/private/recent', recentWireSchema)).map(
      toReceipt,
    );
  }

  /**
   * POST /api/v1/private/:key/burn: destroys the secret unseen. `continue=true` is what old servers required
   * and current ones force. Needs the passphrase when one is set ("Double check that passphrase" otherwise).
   */
  async burn(metadataKey: string, passphrase?: string): Promise<Receipt> {
    const path = `/api/v1/private/${encodeURIComponent(metadataKey)}/burn`;
    const shown = `/api/v1/private/${shortKey(metadataKey)}/burn`;
    const wire = await this.#call('POST', path, shown, burnWireSchema, { passphrase, continue: 'true' });
    return toReceipt(wire.state);
  }

  /**
   * The link a recipient opens: https://<share_domain>/secret/<key> for a custom domain, else the server we called
   * (with its path prefix, e.g. the sandbox's /sandbox/ots). v1 answers no share URL, only metadata_url, so the link
   * is built here (docs/onetime-secret.md, "API v1 as this client uses it").
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

  /** One request. `shown` is the path with keys shortened, the only form of it that goes into errors. */
  async #call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    shown: string,
    schema: S,
    form?: Form,
  ): Promise<z.output<S>> {
    const where = `${method} ${shown}`;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
    if (this.#authorization) headers.authorization = this.#authorization;
    let body: string | undefined;
    if (method === 'POST') {
      const params = new URLSearchParams();
      // Unset and empty fields are left out: OTS treats an empty field as absent anyway.
      for (const [k, v] of Object.entries(form ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
      body = params.toString();
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
        body,
        dispatcher: this.#dispatcher,
        signal: deadline.signal,
      });
      statusCode = res.statusCode;
      responseHeaders = res.headers;
      // undici keeps the connection busy until the body is read: always consume it, error or not.
      text = await res.body.text();
    } catch (err) {
      if (deadline.signal.aborted) {
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
          `Onetime Secret answered ${where} with an unexpected body (${issues}): the server may not speak API v1`,
          { status: statusCode, request: where },
        );
      }
      return parsed.data;
    }
    throw this.#error(statusCode, responseHeaders, text, where);
  }

  /** Maps a non-2xx answer to a typed error (docs/onetime-secret.md, "Errors and rate limits"). */
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
    const status = statusCode === 404 && intended ? intended : statusCode;
    const serverMessage = wire.message?.slice(0, 300);
    const said = serverMessage ? `: "${serverMessage}"` : '';
    const http =
      intended && intended !== statusCode ? `HTTP ${statusCode}, intended ${intended}` : `HTTP ${statusCode}`;
    const details: OtsErrorDetails = { status, request: where, serverMessage };
    const retryAfterMs = parseRetryAfter(headers['retry-after']);

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
      if (wire.message === 'Unknown secret' || wire.message === 'Not Found') {
        // "Not Found" as a message is v1 refusing a key shorter than 20 chars: no such secret either.
        return new OtsNotFoundError(
          `Onetime Secret has no such secret for ${where} (${http}): it never existed, was already viewed or burned, has expired, or the passphrase is wrong (OTS does not say which)`,
          details,
        );
      }
      if (serverMessage && /is not available$/.test(serverMessage)) {
        return new OtsAuthError(
          `Onetime Secret at ${this.baseUrl} has API accounts disabled (${http})${said}: unset OTS_USERNAME/OTS_API_KEY or use a server with authentication on`,
          details,
        );
      }
      return new OtsProtocolError(
        `Onetime Secret has no route ${where} (${http}${wire.error ? `: "${wire.error.slice(0, 100)}"` : ''}): the base URL ${this.baseUrl} looks wrong; use the server root, e.g. https://us.onetimesecret.com`,
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
        `Onetime Secret refused ${where} (${http})${said}: fix the request; sending it again unchanged will fail the same way`,
        details,
      );
    }
    return new OtsProtocolError(
      `Onetime Secret answered ${where} with unexpected HTTP ${statusCode}: check the base URL ${this.baseUrl} (a redirect means http vs https or a wrong host)`,
      details,
    );
  }
}
