// Temporal's worker runtime logs (activity failures, workflow task errors) go through our pino logger, so they
// share its redaction and land wherever the service's logs go; its metrics (Core's Prometheus exporter, on a
// loopback port) are relayed by GET /metrics (src/http/metrics.ts). The Runtime is a per-process singleton.
import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';
import { get } from 'node:http';
import type { Logger } from 'pino';
import { SHARE_WORKFLOW_PREFIX } from '../../workflows/ids.js';

const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Where this process's Core exporter listens: on globalThis, as the Runtime is per process (not per module copy). */
const CORE_METRICS = Symbol.for('ots-handoff.temporal-core-metrics-port');
type WithCorePort = typeof globalThis & { [CORE_METRICS]?: number };

/**
 * The Runtime's metrics options: Core's Prometheus exporter on 127.0.0.1:`port`, metric names as the SDK makes them
 * (prefix `temporal_`, counters without a _total suffix: temporal_request_failure, as Temporal's documentation and
 * deploy/ name them), histograms in seconds like every other duration on /metrics. Remembers the port for
 * temporalMetricsText. Options:
 * https://typescript.temporal.io/api/interfaces/worker.PrometheusMetricsExporter
 */
export function coreMetricsOptions(port: number) {
  (globalThis as WithCorePort)[CORE_METRICS] = port;
  return {
    metricPrefix: 'temporal_',
    prometheus: { bindAddress: `127.0.0.1:${port}`, useSecondsForDurations: true },
  };
}

/** The Temporal SDK's metrics in Prometheus text, or '' when this process exports none (or it does not answer). */
export async function temporalMetricsText(timeoutMs = 2_000): Promise<string> {
  const port = (globalThis as WithCorePort)[CORE_METRICS];
  if (port === undefined) return '';
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve('');
        return;
      }
      res.setEncoding('utf8');
      let text = '';
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
      res.on('error', () => resolve(''));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
  });
}

/**
 * `shutdownSignals`: what makes the runtime stop every worker at once (Temporal's default: SIGINT, SIGTERM, SIGQUIT,
 * SIGUSR2). `npm run smoke` passes none: after a Ctrl-C it still burns its hand-off through the API, which needs the
 * workers running, and stops them itself.
 * `drop`: log lines whose message matches are not logged. Core's own lines (the Rust side of the workers and of
 * NativeConnection) are otherwise printed by Core straight to stderr, where nothing can filter them; with `drop` they
 * are forwarded to `log` too (at Temporal's default levels: WARN for Core, ERROR for its dependencies), so it applies
 * to them.
 * `metricsPort`: Core's Prometheus exporter listens there (coreMetricsOptions); none: the SDK's metrics are off.
 */
export function installTemporalLogging(
  log: Logger,
  level: LogLevel = 'WARN',
  opts: { shutdownSignals?: NodeJS.Signals[]; drop?: RegExp; metricsPort?: number } = {},
): void {
  if (Runtime._instance !== undefined) return;
  const temporalLog = log.child({ component: 'temporal' });
  const { drop } = opts;
  Runtime.install({
    ...(opts.shutdownSignals ? { shutdownSignals: opts.shutdownSignals } : {}),
    telemetryOptions: {
      ...(drop ? { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } } : {}),
      ...(opts.metricsPort !== undefined ? { metrics: coreMetricsOptions(opts.metricsPort) } : {}),
    },
    logger: new DefaultLogger(level, ({ level: l, message, meta }) => {
      if (drop?.test(message)) return;
      const { error, ...rest } = (meta ?? {}) as { error?: unknown } & Record<string, unknown>;
      const err = error instanceof Error ? { type: error.name, message: error.message } : error;
      // A hand-off's lines carry its share id, like the service's own (workflows/ids.ts: share-<shareId>).
      const shareId =
        typeof rest.workflowId === 'string' && rest.workflowId.startsWith(SHARE_WORKFLOW_PREFIX)
          ? rest.workflowId.slice(SHARE_WORKFLOW_PREFIX.length)
          : undefined;
      temporalLog[LEVELS[l]]({ ...rest, ...(shareId ? { shareId } : {}), ...(err ? { err } : {}) }, message);
    }),
  });
}
