// What a workflow needs to know about a failed activity, declared here so that workflows never learn a service's
// error codes. The activities map every Onetime Secret and Twilio error onto it (activities/failures.ts) and attach
// it as the failure's details. The failure's type stays the service's own code (OTS_RATE_LIMITED, SMS_REJECTED, …),
// which is what people read in notes and in Temporal UI.
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';

/**
 * `refused`: the service answered no (bad credentials, bad request, rate limited, no such route), so the request
 * certainly did nothing. `unknown`: no answer, a timeout or a garbled one, so it may have taken effect (a create may
 * have made a secret: see docs/onetime-secret.md, "Creating exactly once").
 */
export type FailureOutcome = 'refused' | 'unknown';

/** The details an activity attaches to its ApplicationFailure. */
export interface FailureFacts {
  outcome: FailureOutcome;
  /**
   * The hand-off cannot go on whatever a technician decides (its input is not the agent API's): the workflow fails
   * at once, with no note and nothing sent.
   */
  fatal?: true;
  /**
   * createSecret's marker of its last send (src/ots/create-recovery.ts, CreateMarker), for a technician's retry of
   * the step to look where that send could have landed. Opaque to the workflow.
   */
  createMarker?: unknown;
}

/** Whether an activity failure ends the hand-off outright (FailureFacts.fatal). */
export function isFatal(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return (
    cause instanceof ApplicationFailure && (cause.details?.[0] as Partial<FailureFacts> | undefined)?.fatal === true
  );
}

/**
 * The create marker a failed createSecret left: in its failure's facts, or, when the attempt timed out (a process
 * killed mid-create), in its last heartbeat. Undefined when it left none.
 */
export function createMarkerOf(err: unknown): unknown {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return (cause.details?.[0] as Partial<FailureFacts> | undefined)?.createMarker;
  if (cause instanceof TimeoutFailure) return cause.lastHeartbeatDetails ?? undefined;
  return undefined;
}

/** "TYPE: message" of an activity failure, for notes. OTS and Twilio error messages never carry secrets. */
export function failureReason(err: ActivityFailure): string {
  const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
  return cause ? `${cause.type ?? 'error'}: ${cause.message}` : err.message;
}
