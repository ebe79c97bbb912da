// `npm run test:stack`: the production topology started and broken (test/stack/, scripts/stack/). Kept out of
// `npm test` (vitest.config.ts excludes test/stack/): it builds and starts its own PostgreSQL, Temporal server, UI
// and replicas, and takes minutes. One file at a time, one process: the scenarios share one stack.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/stack/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    setupFiles: ['test/setup-temporal-runtime.ts'],
    testTimeout: 300_000,
    hookTimeout: 900_000,
    reporters: ['default', ['json', { outputFile: '.artifacts/vitest-stack.json' }]],
  },
});
