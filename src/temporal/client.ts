// The one place a Temporal client is built, with the service's data converter (payload encryption), connecting with
// the options connection-options.ts builds (TLS, mutual TLS, API key), the same as the workers'.
//
// Closing safely: the SDK's gRPC retry interceptor schedules each retry with setTimeout, and Connection.close() does
// not clear those timers; a retry that fires after the close throws "Channel has been shut down" inside the timer,
// an uncaught exception (seen when the service stopped after Temporal had been unreachable; the same report:
// vinceblank/agent-tempo#624). So the interceptor here is the SDK's own with two additions: once closing, no new
// retry is scheduled, and close() waits for the retries already scheduled to fire (each at most a few seconds away,
// bounded by the SDK's backoff) before closing the channel.
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ConnectionOptions,
} from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { TemporalConnectionOptions } from './connection-options.js';

type Interceptor = NonNullable<ConnectionOptions['interceptors']>[number];

export interface TemporalClient {
  connection: Connection;
  client: Client;
  close(): Promise<void>;
}

/** Longest close() waits for scheduled retries (the SDK's backoff caps a single delay well below this). */
const CLOSE_GRACE_MS = 15_000;

export async function connectClient(
  opts: TemporalConnectionOptions & { namespace: string; dataConverter: DataConverter },
): Promise<TemporalClient> {
  const sdk = defaultGrpcRetryOptions();
  let closing = false;
  let scheduled = 0;
  const retry = makeGrpcRetryInterceptor({
    retryableDecider: (attempt, status) => !closing && sdk.retryableDecider(attempt, status),
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
  const client = new Client({ connection, namespace: opts.namespace, dataConverter: opts.dataConverter });
  return {
    connection,
    client,
    async close() {
      closing = true;
      for (const deadline = Date.now() + CLOSE_GRACE_MS; scheduled > 0 && Date.now() < deadline;)
        await new Promise((r) => setTimeout(r, 20));
      await connection.close();
    },
  };
}
