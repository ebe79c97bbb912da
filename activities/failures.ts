// How activities fail: every client error becomes an ApplicationFailure here, in one place. Its type is the
// service's stable code (OTS_RATE_LIMITED, SMS_REJECTED, …), what people read in notes and in Temporal UI; its
// details say whether the service refused (workflows/failures.ts); workflows never branch on codes or messages.
import { ApplicationFailure } from '@temporalio/common';
import { ServiceError } from '../src/errors.js';
import { OtsProtocolError } from '../src/ots/errors.js';
import { SealError } from '../src/seal.js';
import type { FailureFacts, FailureOutcome } from '../workflows/failures.js';

/**
 * The longest Retry-After the activity waits out by itself. A server asking for more (an hour, a day) is not
 * retried early against its word, nor waited for silently: the step fails at once and a technician decides.
 */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Retry-After as a retry decision: wait that long (bounded), or stop and hand over when it is longer. */
export function retryDecision(
  retryable: boolean,
  retryAfterMs: number | undefined,
  message: string,
): { message: string; nonRetryable: boolean; nextRetryDelay?: number } {
  if (!retryable || retryAfterMs === undefined || retryAfterMs <= MAX_RETRY_AFTER_MS) {
    return { message, nonRetryable: !retryable, nextRetryDelay: retryAfterMs };
  }
  return {
    message: `${message} (asked to wait ${Math.ceil(retryAfterMs / 1000)} s, more than the ${MAX_RETRY_AFTER_MS / 1000} s retried automatically)`,
    nonRetryable: true,
  };
}

/**
 * Turns a client error into an ApplicationFailure whose type is the service's code and whose details say whether
 * the service refused (workflows/failures.ts; a workflow never branches on codes or messages).
 * Retryable ones keep Temporal's retry policy, honouring Retry-After through nextRetryDelay up to
 * MAX_RETRY_AFTER_MS; the rest stop at once.
 */
export function toFailure(err: unknown): unknown {
  if (err instanceof ServiceError) {
    // A 2xx whose body is cut or garbled (a proxy, a dropped connection mid-body) is retried: every OTS activity
    // is safe to run again (createSecret finds a secret it made, checks only read, a repeated burn answers
    // "Unknown secret"). A wrong base URL (no such route) still stops at once.
    const garbled =
      err instanceof OtsProtocolError && err.status !== undefined && err.status >= 200 && err.status < 300;
    return ApplicationFailure.create({
      type: err.code,
      ...retryDecision(err.retryable || garbled, err.retryAfterMs, err.message),
      details: [facts(err.refused ? 'refused' : 'unknown')],
    });
  }
  if (err instanceof SealError)
    return ApplicationFailure.create({ message: err.message, type: err.code, nonRetryable: true });
  return err;
}

/** What the workflow learns of a failure (workflows/failures.ts), attached as the failure's details. */
export function facts(outcome: FailureOutcome): FailureFacts {
  return { outcome };
}

/** Runs an activity's body, turning what it throws into a failure (toFailure). */
export async function failing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err);
  }
}
