// How the agent API answers a call to Temporal that failed for want of Temporal, not for a fault of the request or
// of this service: 503 with Retry-After (src/http/app.ts), and words that say what happened, busy or unreachable.
//
// @temporalio/client 1.24.0 wraps a failed gRPC call of start, describe, query… in a ServiceError named after the
// call ("Failed to start Workflow": WorkflowClient.rethrowGrpcError, node_modules/@temporalio/client/src/
// workflow-client.ts), the gRPC error as its cause. The "500 Failed to start Workflow" of a burst were the deadline
// running out, seen from the server's side: grpc-go resets the stream (RST_STREAM CANCEL) when the grpc-timeout the
// client sent runs out (grpc-go, internal/transport/http2_server.go: "Start a timer to close the stream on reaching
// the deadline"), and grpc-js reports a reset stream as CANCELLED "Call cancelled" (@grpc/grpc-js,
// build/src/subchannel-call.js) when the reset reaches it before its own deadline timer has fired, as it does on a
// busy machine. Measured: 1,000 starts at once on the dev server, 10 s deadline each: 98 started, 144
// DEADLINE_EXCEEDED, 758 CANCELLED "Call cancelled", all of them 10.0 to 11.7 s after they were sent.
import { isGrpcServiceError, NamespaceNotFoundError } from '@temporalio/client';
import { GRPC_STATUS } from '../temporal/client.js';

const { CANCELLED, DEADLINE_EXCEEDED, NOT_FOUND, RESOURCE_EXHAUSTED, UNAVAILABLE } = GRPC_STATUS;

export interface TemporalTrouble {
  /** `busy`: Temporal is there but did not answer in time or refused for load; `unreachable`: it is not there. */
  kind: 'busy' | 'unreachable';
  grpcCode: number;
  retryAfterSeconds: number;
  /** For the agent: what happened and what to do. */
  message: string;
}

/** The gRPC error inside a Temporal client error: the error itself or its cause (ServiceError wraps it). */
function grpcErrorOf(err: unknown) {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e)) return e;
  }
  return undefined;
}

/** The gRPC status of a Temporal client error. */
export function grpcCodeOf(err: unknown): number | undefined {
  return grpcErrorOf(err)?.code;
}

/**
 * Whether Temporal answered that it cannot find the namespace (the client's own NamespaceNotFoundError, or a
 * NOT_FOUND saying so): after start-up checked it, that is the frontend unable to read it, as when its database is
 * gone (measured on the stack with PostgreSQL stopped: "Namespace not found: 'default'"). A workflow's NOT_FOUND is
 * not this.
 */
export function isNamespaceNotFound(err: unknown): boolean {
  if (err instanceof NamespaceNotFoundError) return true;
  const e = grpcErrorOf(err);
  return e?.code === NOT_FOUND && /namespace not found/i.test(`${e.details ?? ''} ${e.message ?? ''}`);
}

/**
 * The 503 for an error of a call to Temporal, or undefined when it is none of these (a bug, or a refusal of the
 * request: the caller answers 500 or what fits). `seemsUnreachable`: whether the client's latest news of the server
 * is that it could not be reached (src/temporal/client.ts, reachTracker); a call that ran out of its deadline says
 * nothing about that by itself.
 */
export function temporalTrouble(
  err: unknown,
  ctx: { deadlineMs: number; seemsUnreachable: boolean },
): TemporalTrouble | undefined {
  // The client turns a NOT_FOUND for the namespace into an error of its own, without the gRPC error.
  if (isNamespaceNotFound(err)) return namespaceUnreadable();
  const grpcCode = grpcCodeOf(err);
  const unreachable = (): TemporalTrouble => ({
    kind: 'unreachable',
    grpcCode: grpcCode!,
    retryAfterSeconds: 5,
    message: 'Temporal is unreachable; nothing was changed, retry shortly',
  });
  switch (grpcCode) {
    case UNAVAILABLE:
      return unreachable();
    case RESOURCE_EXHAUSTED:
      // Refused (the client retried it, backing off, until the deadline): nothing was done.
      return {
        kind: 'busy',
        grpcCode,
        retryAfterSeconds: 5,
        message:
          'Temporal is overloaded and refused the request (RESOURCE_EXHAUSTED); nothing was changed, retry shortly',
      };
    case DEADLINE_EXCEEDED:
    case CANCELLED:
      // A call of ours that we cancelled (the burn's, when the agent hangs up) gets no answer at all; any other
      // CANCELLED is the server closing the stream at the deadline (above).
      if (ctx.seemsUnreachable) return unreachable();
      return {
        kind: 'busy',
        grpcCode,
        retryAfterSeconds: 5,
        message:
          `Temporal is busy: it did not answer within ${ctx.deadlineMs / 1000} s, so the request may or may not have ` +
          'taken effect. Retry shortly: a share request retried with the same Idempotency-Key never starts a ' +
          'second hand-off',
      };
    default:
      // A workflow's NOT_FOUND (a missing hand-off is a 404, src/http/shares.ts) and the rest are not Temporal's
      // state: the caller answers them.
      return undefined;
  }
}

function namespaceUnreadable(): TemporalTrouble {
  return {
    kind: 'unreachable',
    grpcCode: NOT_FOUND,
    retryAfterSeconds: 5,
    message: 'Temporal cannot read its namespace right now (is its database up?); nothing was changed, retry shortly',
  };
}
