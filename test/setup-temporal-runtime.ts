// vitest setupFiles entry: runs in every test process (globalSetup runs in the main process, whose Runtime the
// Workers in test files never see). Temporal's runtime log lines are captured (not printed) so that the leak scan
// reads them along with the service's own logs (test/helpers/service.ts); errors are still printed.
//
// Unit tests (test/unit/) start no Worker or connection, so they skip it: loading @temporalio/worker costs each test
// file about 1.5 s on the 2-core machine, most of a unit test file's time.
import { inspect } from 'node:util';
import { expect } from 'vitest';

declare global {
  var __temporalLogLines: string[] | undefined;
}

const testFile = expect.getState().testPath ?? '';
if (!/[/\\]test[/\\]unit[/\\]/.test(testFile)) {
  const { DefaultLogger, Runtime } = await import('@temporalio/worker');
  const { coreMetricsOptions } = await import('../src/temporal/runtime-logging.js');
  const { freePort } = await import('../src/temporal/ports.js');
  // The Runtime is a per-process singleton and install() throws on a second call; setup files run again for each
  // test file that shares the process.
  if (Runtime._instance === undefined) {
    globalThis.__temporalLogLines = [];
    Runtime.install({
      // The SDK's metrics, as the service exports them: GET /metrics relays them (test/e2e/metrics.test.ts).
      telemetryOptions: { metrics: coreMetricsOptions(await freePort()) },
      logger: new DefaultLogger('WARN', (entry) => {
        const line = `${entry.level} ${entry.message} ${inspect(entry.meta, { depth: 6 })}`;
        globalThis.__temporalLogLines!.push(line);
        if (entry.level === 'ERROR') process.stderr.write(`${line}\n`);
      }),
    });
  }
}
