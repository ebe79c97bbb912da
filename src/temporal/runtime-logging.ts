// Temporal's worker runtime logs (activity failures, workflow task errors) go through our pino logger, so they
// share its redaction and land wherever the service's logs go. The Runtime is a per-process singleton.
import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';

const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/**
 * `shutdownSignals`: what makes the runtime stop every worker at once (Temporal's default: SIGINT, SIGTERM, SIGQUIT,
 * SIGUSR2). `npm run smoke` passes none: after a Ctrl-C it still burns its hand-off through the API, which needs the
 * workers running, and stops them itself.
 * `drop`: log lines whose message matches are not logged. Core's own lines (the Rust side of the workers and of
 * NativeConnection) are otherwise printed by Core straight to stderr, where nothing can filter them; with `drop` they
 * are forwarded to `log` too (at Temporal's default levels: WARN for Core, ERROR for its dependencies), so it applies
 * to them.
 */
export function installTemporalLogging(
  log: Logger,
  level: LogLevel = 'WARN',
  opts: { shutdownSignals?: NodeJS.Signals[]; drop?: RegExp } = {},
): void {
  if (Runtime._instance !== undefined) return;
  const temporalLog = log.child({ component: 'temporal' });
  const { drop } = opts;
  Runtime.install({
    ...(opts.shutdownSignals ? { shutdownSignals: opts.shutdownSignals } : {}),
    ...(drop
      ? { telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } } }
      : {}),
    logger: new DefaultLogger(level, ({ level: l, message, meta }) => {
      if (drop?.test(message)) return;
      const { error, ...rest } = (meta ?? {}) as { error?: unknown } & Record<string, unknown>;
      const err = error instanceof Error ? { type: error.name, message: error.message } : error;
      temporalLog[LEVELS[l]]({ ...rest, ...(err ? { err } : {}) }, message);
    }),
  });
}
