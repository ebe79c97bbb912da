// The one place a Temporal client is built, with the service's data converter (payload encryption), connecting with
// the options connection-options.ts builds (TLS, mutual TLS, API key), the same as the workers'.
//
// Closing safely: the SDK's gRPC retry interceptor schedules each retry with setTimeout, and Connection.close() does
// not clear those timers; a retry that fires after the close throws "Channel has been shut down" inside the timer,
// an uncaught exception (seen when the service stopped after Temporal had been unreachable; the same report:
// vinceblank/agent-tempo#624). So the interceptor here is the SDK's own with two additions: once closing, no new
// retry is scheduled, and close() waits for the retries already scheduled to fire (each at most a few seconds away,
// bounded by the SDK's backoff) before closing the channel.
//
// The interceptor also notes what each attempt came to (reachTracker): a call that runs out of its deadline looks
// the same whether Temporal is down or only slow, and the agent API's answer says which it was
// (src/http/temporal-errors.ts).
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ConnectionOptions,
} from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { Tracing } from '../tracing.js';
import type { TemporalConnectionOptions } from './connection-options.js';

type Interceptor = NonNullable<ConnectionOptions['interceptors']>[number];

export interface TemporalClient {
  connection: Connection;
  client: Client;
  /** True while the latest news of the server is that it could not be reached: see reachTracker. */
  seemsUnreachable(): boolean;
  close(): Promise<void>;
}

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) that tell of the server's state. */
export const GRPC_STATUS = {
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
} as const;
const { CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE } = GRPC_STATUS;

/**
 * What the attempts of the client's calls came to, latest first: UNAVAILABLE (no connection, or the server said it
 * cannot serve) against an answer from the server (success or any other error). DEADLINE_EXCEEDED and CANCELLED
 * count as neither: they are what a call that waited too long ends with, on a server that is down as well as on one
 * that is slow. Down, every attempt fails UNAVAILABLE at once and is retried until the deadline (measured against
 * a stopped dev server: the call then ends DEADLINE_EXCEEDED, like a slow one); slow, the calls that do finish
 * keep answering.
 */
export function reachTracker(now: () => number = Date.now) {
  let lastAnswerAt = -Infinity;
  let lastUnreachableAt = -Infinity;
  return {
    /** Notes the status one attempt ended with. */
    heard(code: number): void {
      if (code === UNAVAILABLE) lastUnreachableAt = now();
      else if (code !== DEADLINE_EXCEEDED && code !== CANCELLED) lastAnswerAt = now();
    },
    seemsUnreachable: () => lastUnreachableAt > lastAnswerAt,
  };
}

/** Longest close() waits for scheduled retries (the SDK's backoff caps a single delay well below this). */
const CLOSE_GRACE_MS = 15_000;

export async function connectClient(
  opts: TemporalConnectionOptions & {
    namespace: string;
    dataConverter: DataConverter;
    /** Traces (src/tracing.ts): StartWorkflow:…, SignalWorkflow:… spans, the context passed on in headers. */
    tracing?: Tracing;
  },
): Promise<TemporalClient> {
  const sdk = defaultGrpcRetryOptions();
  const reach = reachTracker();
  let closing = false;
  let scheduled = 0;
  const retry = makeGrpcRetryInterceptor({
    // Asked once for every attempt's status, OK included.
    retryableDecider: (attempt, status) => {
      reach.heard(status.code);
      return !closing && sdk.retryableDecider(attempt, status);
    },
    delayFunction: (attempt, status) => {
      scheduled += 1;
      return sdk.delayFunction(attempt, status);
    },
  });
  // The interceptor calls nextCall once for the first attempt and once more for every retry when its timer fires.
  const interceptor: Interceptor = (options, nextCall) => {
    let attempts = 0;
    return retry(options, (o) => {
      if (attempts++ > 0) scheduled -= 1;
      return nextCall(o);
    });
  };
  const { address, tls, apiKey } = opts;
  const connection = await Connection.connect({ address, tls, apiKey, interceptors: [interceptor] });
  const client = new Client({
    connection,
    namespace: opts.namespace,
    dataConverter: opts.dataConverter,
    ...(opts.tracing
      ? { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: opts.tracing.tracer })] } }
      : {}),
  });
  return {
    connection,
    client,
    seemsUnreachable: reach.seemsUnreachable,
    async close() {
      closing = true;
      for (const deadline = Date.now() + CLOSE_GRACE_MS; scheduled > 0 && Date.now() < deadline;)
        await new Promise((r) => setTimeout(r, 20));
      await connection.close();
    },
  };
}
