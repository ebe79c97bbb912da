// Typed Onetime Secret failures, one class per case a caller must tell apart, each with a stable `code` (the way
// undici's errors.js does it). Activities branch on `code` and `retryable`, never on message text.
//
// Messages say what went wrong and what to do. They name the HTTP method and path (keys shortened) and may quote
// the server's `message` (OTS never echoes the secret), but never carry a request body, secret or passphrase.

export interface OtsErrorDetails {
  /** The status OTS meant: `X-OTS-Intended-Status` on v1's 404s, else the HTTP status (undefined: no response). */
  status?: number;
  /** "POST /api/v1/secret/dvmted…": where it happened, keys shortened. */
  request?: string;
  /** The server's own `message`, when it sent one. */
  serverMessage?: string;
  cause?: unknown;
}

export abstract class OtsError extends Error {
  abstract readonly code: string;
  abstract readonly retryable: boolean;
  readonly status: number | undefined;
  readonly request: string | undefined;
  readonly serverMessage: string | undefined;

  constructor(message: string, details: OtsErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.request = details.request;
    this.serverMessage = details.serverMessage;
  }
}

/** Credentials missing, wrong, or not accepted by this server (v1: 404 + intended 401). */
export class OtsAuthError extends OtsError {
  readonly code = 'OTS_AUTH';
  readonly retryable = false;
}

/** "Unknown secret": never existed, consumed, expired, or wrong passphrase; OTS makes these indistinguishable. */
export class OtsNotFoundError extends OtsError {
  readonly code = 'OTS_NOT_FOUND';
  readonly retryable = false;
}

/** An edge 429 or v1's own limiter (404 + intended 400, "Rate limit exceeded…"). Retry after `retryAfterMs`. */
export class OtsRateLimitedError extends OtsError {
  readonly code = 'OTS_RATE_LIMITED';
  readonly retryable = true;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, details: OtsErrorDetails & { retryAfterMs?: number } = {}) {
    super(message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** OTS refused the request itself (validation: too large, passphrase too short, no account for email …). */
export class OtsBadRequestError extends OtsError {
  readonly code = 'OTS_BAD_REQUEST';
  readonly retryable = false;
}

/** 5xx, network failure, timeout, or OTS saying it is temporarily broken. Safe to retry later. */
export class OtsUnavailableError extends OtsError {
  readonly code = 'OTS_UNAVAILABLE';
  readonly retryable = true;
}

/** The answer is not what OTS v1 sends: bad JSON, a body that fails the schema, or no such route (wrong base URL). */
export class OtsProtocolError extends OtsError {
  readonly code = 'OTS_BAD_RESPONSE';
  readonly retryable = false;
}

export type OtsErrorCode =
  | OtsAuthError['code']
  | OtsNotFoundError['code']
  | OtsRateLimitedError['code']
  | OtsBadRequestError['code']
  | OtsUnavailableError['code']
  | OtsProtocolError['code'];
