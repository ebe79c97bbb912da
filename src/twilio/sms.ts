// The only way in to Twilio Messages: twilio-node's `messages.create`. In sandbox mode the SDK runs unchanged with
// the fake's httpClient (src/sandbox/twilio-fake.ts), so URL building, form encoding and error parsing are the SDK's
// own either way (twilio-node lib/base/BaseTwilio.js `request` hands every call to `httpClient.request`).
//
// Errors: one class per case a caller must tell apart, each with a stable `code`, on the service-error base
// (src/errors.ts). Their messages carry Twilio's error code and text but never the message body: the body holds a
// one-time link, which is a credential.
import twilio from 'twilio';
import { ServiceError, type ServiceErrorDetails } from '../errors.js';
import { maskRecipient } from '../../workflows/technician-view.js';
import { parseRetryAfter } from '../retry-after.js';

export interface SmsSender {
  send(msg: { to: string; body: string; statusCallback?: string }): Promise<{ sid: string; status: string }>;
}

/** The request twilio-node hands its httpClient (lib/base/BaseTwilio.js `request`; lib/base/RequestClient.d.ts). */
export interface TwilioHttpRequest {
  /** Lower case as the SDK sends it: 'post', 'get' … */
  method: string;
  uri: string;
  username?: string;
  password?: string;
  authStrategy?: unknown;
  headers?: Record<string, string>;
  /** Query string parameters. */
  params?: unknown;
  /** Form fields, not yet encoded: RequestClient encodes them when Content-Type is form-urlencoded. */
  data?: unknown;
  timeout?: number;
  allowRedirects?: boolean;
  logLevel?: string;
}

/** What RequestClient.request resolves to: `{ statusCode, body (parsed JSON or its text), headers }`. */
export interface TwilioHttpResponse {
  statusCode: number;
  body: unknown;
  headers: unknown;
}

/** twilio-node's httpClient contract: anything with RequestClient's `request` (ClientOpts.httpClient). */
export interface TwilioHttpClient {
  request(opts: TwilioHttpRequest): Promise<TwilioHttpResponse>;
}

export type SmsErrorCode = 'SMS_RATE_LIMITED' | 'SMS_UNAVAILABLE' | 'SMS_REJECTED';

/** No `cause`: what the SDK threw may hold the encoded form, message body included. */
export interface SmsErrorDetails extends Omit<ServiceErrorDetails, 'cause'> {
  /** HTTP status Twilio answered (undefined: no answer at all). */
  status?: number;
  /** Twilio's numeric error code, e.g. 21211 (https://www.twilio.com/docs/api/errors/<code>). */
  twilioCode?: number;
  /** Twilio's `more_info` link for that code. */
  moreInfo?: string;
}

export abstract class SmsError extends ServiceError {
  abstract override readonly code: SmsErrorCode;
  readonly twilioCode: number | undefined;
  readonly moreInfo: string | undefined;

  constructor(message: string, details: SmsErrorDetails = {}) {
    super(message, { status: details.status, retryAfterMs: details.retryAfterMs });
    this.twilioCode = details.twilioCode;
    this.moreInfo = details.moreInfo;
  }
}

/**
 * HTTP 429 (Twilio code 20429, "too many concurrent requests"). Twilio did not process the request, so retrying is
 * always safe (https://www.twilio.com/docs/api/errors/20429). `retryAfterMs` comes from `Retry-After` when sent.
 */
export class SmsRateLimitedError extends SmsError {
  readonly code = 'SMS_RATE_LIMITED';
  readonly retryable = true;
  readonly refused = true;
}

/** Twilio answered 5xx, or did not answer (refused, reset, timeout): it may have sent. Retry with backoff. */
export class SmsUnavailableError extends SmsError {
  readonly code = 'SMS_UNAVAILABLE';
  readonly retryable = true;
  readonly refused = false;
}

/**
 * Any other 4xx: invalid 'To' (21211), unsubscribed recipient (21610), bad credentials (20003) … Retrying the same
 * request will not help; `twilioCode` and `moreInfo` say why.
 */
export class SmsRejectedError extends SmsError {
  readonly code = 'SMS_REJECTED';
  readonly retryable = false;
  readonly refused = true;
}

const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

export function createSmsSender(opts: {
  accountSid: string;
  authToken: string;
  /** E.164 sender number, or a Messaging Service SID ('MG…') to send from the service's pool. */
  from: string;
  httpClient?: TwilioHttpClient;
}): SmsSender {
  // One RequestClient for the process (it owns the keep-alive agent). Constructed lazily by BaseTwilio otherwise.
  const base: TwilioHttpClient = opts.httpClient ?? new twilio.RequestClient();
  // With a Messaging Service SID and no `from`, Twilio picks the sender from the service's pool
  // (twilio-node MessageListInstanceCreateOptions; https://www.twilio.com/docs/messaging/services).
  const sender = MESSAGING_SERVICE_SID.test(opts.from) ? { messagingServiceSid: opts.from } : { from: opts.from };

  return {
    async send(msg) {
      // RestException drops the response headers, and 429's Retry-After lives there; so each send gets its own
      // client whose httpClient notes the headers of its own response (safe with concurrent sends). A client is
      // cheap: BaseTwilio builds its domains lazily.
      let headers: unknown;
      const noting: TwilioHttpClient = {
        async request(req) {
          const res = await base.request(req);
          headers = res.headers;
          return res;
        },
      };
      // ClientOpts.httpClient is typed as the RequestClient class, but BaseTwilio only ever calls `.request()`.
      const client = twilio(opts.accountSid, opts.authToken, { httpClient: noting as unknown as twilio.RequestClient });
      try {
        const m = await client.messages.create({
          to: msg.to,
          body: msg.body,
          statusCallback: msg.statusCallback,
          ...sender,
        });
        return { sid: m.sid, status: m.status };
      } catch (err) {
        throw toSmsError(err, headers, msg.body, msg.to);
      }
    },
  };
}

/**
 * Maps what the SDK threw to a typed error. RestException (lib/base/RestException.js) and TwilioServiceException
 * carry `status`, `code`, `message`, `moreInfo`; network failures come from axios with a string `code`.
 */
function toSmsError(err: unknown, headers: unknown, body: string, to: string): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as Error & { status?: unknown; code?: unknown; moreInfo?: unknown; title?: unknown; detail?: unknown };
  if (typeof e.status === 'number') {
    const status = e.status;
    const twilioCode = typeof e.code === 'number' ? e.code : undefined;
    const moreInfo = typeof e.moreInfo === 'string' ? e.moreInfo : undefined;
    const said = scrub([twilioCode, e.message || e.title || e.detail].filter(Boolean).join(' '), body, to);
    const details = { status, twilioCode, moreInfo };
    if (status === 429) {
      return new SmsRateLimitedError(`Twilio is rate limiting message creation (HTTP 429: ${said}); retry later.`, {
        ...details,
        retryAfterMs: parseRetryAfter(header(headers, 'retry-after')),
      });
    }
    if (status >= 500)
      return new SmsUnavailableError(
        `Twilio failed to create the message (HTTP ${status}: ${said}); retry later.`,
        details,
      );
    return new SmsRejectedError(
      `Twilio rejected the message (HTTP ${status}: ${said})${moreInfo ? `, see ${moreInfo}` : ''}; fix the request, retrying will not help.`,
      details,
    );
  }
  // No HTTP answer: axios errors carry a string code (ECONNREFUSED, ETIMEDOUT, ECONNABORTED, ERR_NETWORK …). The
  // axios error itself is not kept as `cause`: its `config.data` holds the encoded form, body included.
  if (typeof e.code === 'string') {
    return new SmsUnavailableError(
      `Twilio could not be reached (${e.code}: ${scrub(e.message, body, to)}); retry later.`,
    );
  }
  return err; // a programming error (e.g. the SDK's "Required parameter missing"): not Twilio's answer
}

/**
 * Removes the message body, and any link in it, from text that is about to go into an error message, and masks
 * the recipient as notes show it (Twilio's 21211 says "The 'To' number +1555… is not a valid phone number."): the
 * message reaches logs, traces and the ticket.
 */
function scrub(text: string, body: string, to: string): string {
  let out = body ? text.split(body).join('[body]') : text;
  if (to) out = out.split(to).join(maskRecipient(to));
  for (const link of body.match(/\bhttps?:\/\/\S+/g) ?? []) out = out.split(link).join('[link]');
  return out;
}

/** Reads a header from axios' AxiosHeaders or a plain object, whatever the case of its name. */
function header(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? String(v[0]) : v == null ? undefined : String(v);
  }
  return undefined;
}
