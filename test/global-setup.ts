// vitest globalSetup: ONE Temporal dev server and ONE workflow bundle for the whole run. Test files reach them
// with inject('temporalAddress') / inject('workflowBundlePath'); a dev server per file raced at startup and
// bundling per Worker re-ran webpack (docs/temporal.md, "Dev server").
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { Connection } from '@temporalio/client';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { ensureTemporalCli } from '../src/temporal/cli.js';
import { FAILURE_CONVERTER_PATH } from '../src/temporal/data-converter.js';
import { startDevServer, type DevServer } from '../src/temporal/dev-server.js';
import { freePort } from '../src/temporal/ports.js';
import { registerSearchAttributes } from '../src/temporal/register-search-attributes.js';
import { allSearchAttributes } from '../workflows/search-attributes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
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
    const started = Date.now();
    server = await startDevServer({
      cliPath,
      port: await freePort(),
      dbFilename: join(dir, 'temporal.db'),
      searchAttributes: allSearchAttributes,
      // Suggest continue-as-new early (default 4,096 events) so every watch longer than a few polls exercises it.
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 60 },
    });
    const serverMs = Date.now() - started;
    const connection = await Connection.connect({ address: server.address });
    try {
      await registerSearchAttributes(connection, 'default', allSearchAttributes);
    } finally {
      await connection.close();
    }

    const bundleStarted = Date.now();
    const { code } = await bundleWorkflowCode({
      workflowsPath: join(repoRoot, 'workflows', 'index.ts'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: new DefaultLogger('WARN'),
    });
    const workflowBundlePath = join(dir, 'workflow-bundle.js');
    await writeFile(workflowBundlePath, code);
    say(
      `Temporal dev server at ${server.address} ready in ${serverMs} ms; workflows bundled in ${Date.now() - bundleStarted} ms`,
    );

    project.provide('temporalAddress', server.address);
    project.provide('workflowBundlePath', workflowBundlePath);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
