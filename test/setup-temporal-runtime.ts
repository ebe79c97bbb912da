// vitest setupFiles entry: runs in every test process (globalSetup runs in the main process, whose Runtime the
// Workers in test files never see). Temporal's runtime log lines are captured (not printed) so that the leak scan
// reads them along with the service's own logs (test/helpers/service.ts); errors are still printed.
import { inspect } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';

declare global {
  var __temporalLogLines: string[] | undefined;
}

// The Runtime is a per-process singleton and install() throws on a second call; setup files run again for each
// test file that shares the process.
if (Runtime._instance === undefined) {
  globalThis.__temporalLogLines = [];
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => {
      const line = `${entry.level} ${entry.message} ${inspect(entry.meta, { depth: 6 })}`;
      globalThis.__temporalLogLines!.push(line);
      if (entry.level === 'ERROR') process.stderr.write(`${line}\n`);
    }),
  });
}
