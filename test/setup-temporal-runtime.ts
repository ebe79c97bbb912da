// vitest setupFiles entry: runs in every test process (globalSetup runs in the main process, whose Runtime the
// Workers in test files never see). WARN keeps core's INFO lines out of the test output (temporal-verified.md).
import { DefaultLogger, Runtime } from '@temporalio/worker';

// The Runtime is a per-process singleton and install() throws on a second call; setup files run again for each
// test file that shares the process.
if (Runtime._instance === undefined) Runtime.install({ logger: new DefaultLogger('WARN') });
