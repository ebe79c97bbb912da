// Typed Onetime Secret failures, one class per case a caller must tell apart, each with a stable `code`, on the
// service-error base (src/errors.ts). Activities branch on `code`, `retryable` and `refused`, never on message text.
//
// Messages say what went wrong and what to do. They name the HTTP method and path (keys shortened) and may quote
// the server's `message` (OTS never echoes the secret), but never carry a request body, secret or passphrase.
import { ServiceError, type ServiceErrorDetails } from '../errors.js';

export interface OtsErrorDetails extends ServiceErrorDetails {
  /** The status OTS meant: `X-OTS-Intended-Status` on v1's 404s, else the HTTP status (undefined: no response). */
  status?: number;
  /** "POST /api/v1/secret/dvmted…": where it happened, keys shortened. */
  request?: string;
  /** The server's own `message`, when it sent one. */
  serverMessage?: string;
  /** v2's 403 EntitlementRequired: the entitlement the account's plan lacks (e.g. api_access). */
  entitlement?: string;
}

export abstract class OtsError extends ServiceError {
  abstract override readonly code: OtsErrorCode;
  readonly request: string | undefined;
  readonly serverMessage: string | undefined;
  readonly entitlement: string | undefined;

  constructor(message: string, details: OtsErrorDetails = {}) {
    super(message, details);
    this.request = details.request;
    this.serverMessage = details.serverMessage;
    this.entitlement = details.entitlement;
  }
}

/** Credentials missing, wrong, or not accepted by this server (v1: 404 + intended 401). */
export class OtsAuthError extends OtsError {
  readonly code = 'OTS_AUTH';
  readonly retryable = false;
  readonly refused = true;
}

/** "Unknown secret": never existed, consumed, expired, or wrong passphrase; OTS makes these indistinguishable. */
export class OtsNotFoundError extends OtsError {
  readonly code = 'OTS_NOT_FOUND';
  readonly retryable = false;
  readonly refused = true;
}

/** An edge 429 or v1's own limiter (404 + intended 400, "Rate limit exceeded…"). Retry after `retryAfterMs`. */
export class OtsRateLimitedError extends OtsError {
  readonly code = 'OTS_RATE_LIMITED';
  readonly retryable = true;
  readonly refused = true;
}

/** OTS refused the request itself (validation: too large, passphrase too short, no account for email …). */
export class OtsBadRequestError extends OtsError {
  readonly code = 'OTS_BAD_REQUEST';
  readonly retryable = false;
  readonly refused = true;
}

/** 5xx, network failure, timeout, or OTS saying it is temporarily broken. Safe to retry later. */
export class OtsUnavailableError extends OtsError {
  readonly code = 'OTS_UNAVAILABLE';
  readonly retryable = true;
  readonly refused = false;
}

/**
 * The answer is not what OTS sends: bad JSON, a body that fails the schema, or no such route (wrong base URL).
 * Not `refused`: a 2xx whose body was cut may still have done what was asked.
 */
export class OtsProtocolError extends OtsError {
  readonly code = 'OTS_BAD_RESPONSE';
  readonly retryable = false;
  readonly refused = false;
}

export type OtsErrorCode =
  'OTS_AUTH' | 'OTS_NOT_FOUND' | 'OTS_RATE_LIMITED' | 'OTS_BAD_REQUEST' | 'OTS_UNAVAILABLE' | 'OTS_BAD_RESPONSE';
