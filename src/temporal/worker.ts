// The one place workers are built. One process runs three workers:
//  - the main task queue: shareSecret and callSession workflows, the delivery activities (SMS, notes), receipt
//    checks (batched) and awaitCall;
//  - `<queue>-ots`: the Onetime Secret activities, with a server-side rate limit
//    (maxTaskQueueActivitiesPerSecond) that the whole fleet shares, so it stays under the OTS account's limit;
//  - `<queue>-voice-<instance>`: this process's own queue for speakPassphrase, which only the process holding a
//    call's media stream can run.
// All three share one NativeConnection, made with the options connection-options.ts builds (TLS, mutual TLS, API
// key), the same as the client's.
import type { DataConverter } from '@temporalio/common';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Activities } from '../../activities/index.js';
import { otsTaskQueue } from '../../workflows/queues.js';
import { handoffMetricsSink, type Metrics } from '../metrics.js';
import type { Tracing } from '../tracing.js';
import type { TemporalConnectionOptions } from './connection-options.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

/**
 * Temporal's OpenTelemetry workflow interceptors (RunWorkflow:…, StartActivity:…, HandleSignal:… spans, and the
 * context passed on to activities in their headers). A workflow bundle has them only if it was built with them:
 * bundled at start from WORKFLOWS_PATH when tracing is on; a prebuilt bundle (workflowBundlePath) has them only if
 * bundleWorkflowCode was given them in workflowInterceptorModules, and then it runs only on a worker with tracing.
 */
export const OTEL_WORKFLOW_INTERCEPTORS = createRequire(import.meta.url).resolve(
  '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors',
);

/**
 * The share of the account's OTS limit the fleet uses. The server's task-queue limiter is a token bucket that lets
 * a short burst through on top of the rate, so running at exactly the limit still meets an occasional 429 from a
 * fixed-window limiter (measured by `npm run bench`, rate budget); 10 % headroom absorbs the burst.
 */
export const OTS_BUDGET_SHARE = 0.9;

export interface Workers {
  run(): Promise<void>;
  shutdown(): Promise<void>;
  isRunning(): boolean;
  connection: NativeConnection;
}

/**
 * How long a stopping worker lets its running activities finish before it cancels them (the SDK's default is 0).
 * A create cancelled mid-request leaves its outcome unknown, and its retry must then look for the secret it may have
 * made (src/ots/create-recovery.ts); a rolling restart (SIGTERM) should not manufacture those. Below compose's
 * stop_grace_period (30 s), so the process still exits on its own.
 */
export const SHUTDOWN_GRACE = '20s';

/**
 * How often, at most, the OTS worker holds back a heartbeat. The SDK's throttle is 0.8 x the heartbeat timeout
 * (8 s of createSecret's 10 s), which leaves a loaded machine 2 s before the attempt is timed out while it is still
 * working, and can hold the create marker back for 8 s after a keep-alive: a process killed then leaves its retry
 * an older marker (src/ots/create-recovery.ts). Heartbeats at most 1 s apart cost one small RPC a second per
 * running create.
 */
export const OTS_HEARTBEAT_THROTTLE = '1s';

export async function createWorkers(
  opts: TemporalConnectionOptions & {
    namespace: string;
    taskQueue: string;
    /** From activities/index.ts createActivities, grouped by the queue that runs them. */
    activities: Activities;
    /** This process's own queue (workflows/queues.ts voiceTaskQueue). */
    voiceTaskQueue: string;
    otsRatePerMinute: number;
    /**
     * The main worker's workflow cache (TEMPORAL_WORKFLOW_CACHE_SIZE, src/config.ts): what bounds the process's
     * memory, whatever the number of hand-offs sleeping in Temporal. The other two workers run no workflows.
     */
    maxCachedWorkflows: number;
    /** From data-converter.ts; a prebuilt bundle must have been built with its failureConverterPath. */
    dataConverter: DataConverter;
    /** A prebuilt bundle (tests build one per run); otherwise workflows are bundled from source at start. */
    workflowBundlePath?: string;
    /** Where the workflows' metrics go (workflows/metrics.ts, through a sink); none: they are dropped. */
    metrics?: Metrics;
    /** Traces (src/tracing.ts): workflow and activity spans, joined to the trace of whoever started the hand-off. */
    tracing?: Tracing;
  },
): Promise<Workers> {
  const { address, tls, apiKey } = opts;
  const connection = await NativeConnection.connect({ address, tls, apiKey });
  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = opts.workflowBundlePath
    ? { workflowBundle: { codePath: opts.workflowBundlePath } }
    : { workflowsPath: WORKFLOWS_PATH };
  const { tracing } = opts;
  // Without tracing, no interceptor at all (no overhead); with it, RunActivity:… spans in every worker.
  const activityTracing: Pick<WorkerOptions, 'interceptors'> = tracing
    ? {
        interceptors: {
          activity: [
            (ctx) => ({
              inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }),
              outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
            }),
          ],
        },
      }
    : {};
  const main = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    dataConverter: opts.dataConverter,
    shutdownGraceTime: SHUTDOWN_GRACE,
    ...workflowSource,
    activities: opts.activities.main,
    maxCachedWorkflows: opts.maxCachedWorkflows,
    sinks: {
      handoffMetrics: handoffMetricsSink(opts.metrics),
      ...(tracing ? { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } : {}),
    },
    ...(tracing
      ? {
          interceptors: {
            ...activityTracing.interceptors,
            ...(opts.workflowBundlePath ? {} : { workflowModules: [OTEL_WORKFLOW_INTERCEPTORS] }),
          },
        }
      : {}),
  });
  const ots = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: otsTaskQueue(opts.taskQueue),
    dataConverter: opts.dataConverter,
    shutdownGraceTime: SHUTDOWN_GRACE,
    activities: opts.activities.ots,
    ...activityTracing,
    maxHeartbeatThrottleInterval: OTS_HEARTBEAT_THROTTLE,
    maxTaskQueueActivitiesPerSecond: (opts.otsRatePerMinute * OTS_BUDGET_SHARE) / 60,
  });
  const voice = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.voiceTaskQueue,
    dataConverter: opts.dataConverter,
    shutdownGraceTime: SHUTDOWN_GRACE,
    activities: opts.activities.voice,
    ...activityTracing,
  });
  const all = [main, ots, voice];
  let running: Promise<void> | undefined;
  return {
    connection,
    run() {
      running ??= Promise.all(all.map((w) => w.run())).then(() => undefined);
      return running;
    },
    async shutdown() {
      for (const w of all) if (w.getState() === 'RUNNING') w.shutdown();
      await running?.catch(() => undefined);
      await connection.close();
    },
    isRunning: () => all.every((w) => w.getState() === 'RUNNING'),
  };
}
