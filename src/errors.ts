// The one base of the typed errors the service clients throw (Onetime Secret: src/ots/errors.ts; Twilio SMS:
// src/twilio/sms.ts). Modelled on nodejs/undici lib/core/errors.js (one class per case, each with a stable `code`)
// and on temporalio/sdk-typescript packages/common/src/failure.ts (ApplicationFailure: `type`, `nonRetryable`,
// `nextRetryDelay`): a caller branches on `code`, `retryable` and `refused`, never on the class list or the message
// text, and activities/failures.ts turns any of them into an ApplicationFailure in one place.

export interface ServiceErrorDetails {
  /** The HTTP status the service answered (or meant); undefined when there was no answer. */
  status?: number;
  /** How long the service asked to be left alone (its Retry-After), when it said. */
  retryAfterMs?: number;
  cause?: unknown;
}

export abstract class ServiceError extends Error {
  /** Stable, e.g. 'OTS_RATE_LIMITED': the failure's type in Temporal, in notes and in tests. Never reworded. */
  abstract readonly code: string;
  /** Whether the same request may succeed later (after `retryAfterMs`, when set). */
  abstract readonly retryable: boolean;
  /**
   * The service answered no, so the request certainly had no effect (nothing created, nothing sent). False when
   * it may have taken effect: no answer, a timeout, a 5xx, an answer that could not be read.
   */
  abstract readonly refused: boolean;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, details: ServiceErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
  }
}
