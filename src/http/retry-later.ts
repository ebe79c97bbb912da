// The one mapping of "the same request later will work" errors: the REST routes answer them 503 with Retry-After
// (src/http/app.ts, onError), the MCP tools as a tool error saying when to retry (src/mcp/tools.ts). Both front doors
// call createAgentOps (src/http/shares.ts), which throws these rather than answering them.
import { TemporalBusyError } from './admission.js';
import { RetryLaterError, TEMPORAL_DEADLINE_MS } from './shares.js';
import { temporalTrouble } from './temporal-errors.js';

export interface RetryLater {
  retryAfterSeconds: number;
  /** For the agent: what happened and what to do. */
  message: string;
  /** For the log line the front door writes (never the request's content). */
  log: { message: string; fields: Record<string, unknown> };
}

export interface RetryLaterContext {
  /** How long a request waits for Temporal (SharesDeps.temporalDeadlineMs; default TEMPORAL_DEADLINE_MS). */
  deadlineMs?: number;
  /** Whether the Temporal client's latest news is that the server could not be reached (src/temporal/client.ts). */
  seemsUnreachable?: () => boolean;
}

/** What to tell the agent when `err` means "retry later", or undefined when it is anything else (a bug: a 500). */
export function retryLaterOf(err: unknown, ctx: RetryLaterContext = {}): RetryLater | undefined {
  if (err instanceof TemporalBusyError) {
    // Overload, not an outage: nothing was sent to Temporal (src/http/admission.ts).
    return {
      retryAfterSeconds: 2,
      message: 'the service is busy; nothing was changed, retry shortly with the same Idempotency-Key',
      log: { message: 'Temporal busy', fields: { reason: err.message } },
    };
  }
  if (err instanceof RetryLaterError) {
    // A burn the hand-off did not take up in time, or that Onetime Secret could not do just now.
    return {
      retryAfterSeconds: err.retryAfterSeconds,
      message: err.message,
      log: { message: 'answered retry later', fields: { reason: err.message } },
    };
  }
  const trouble = temporalTrouble(err, {
    deadlineMs: ctx.deadlineMs ?? TEMPORAL_DEADLINE_MS,
    seemsUnreachable: ctx.seemsUnreachable?.() ?? false,
  });
  if (!trouble) return undefined;
  // Down or restarting, or up and overloaded: either way the same request later will work, never a 500.
  return {
    retryAfterSeconds: trouble.retryAfterSeconds,
    message: trouble.message,
    log: {
      message: trouble.kind === 'busy' ? 'Temporal busy' : 'Temporal unreachable',
      fields: { grpcCode: trouble.grpcCode },
    },
  };
}
