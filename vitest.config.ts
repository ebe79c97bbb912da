import { defineConfig } from 'vitest/config';
import { LongestFirstSequencer } from './test/slow-first-sequencer.js';

/** Tests that load the machine on purpose and count its 5xx answers: run alone, after everything else. */
const ALONE = ['test/faults/load-idempotency.test.ts', 'test/faults/burst.test.ts'];

// Shared by both projects. Forks, not threads: the threads pool segfaulted with the Temporal native module
// (docs/temporal.md, "Dev server").
const common = {
  pool: 'forks' as const,
  setupFiles: ['test/setup-temporal-runtime.ts'],
  testTimeout: 30_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    // Runs once, for both projects (one Temporal dev server and the workflow bundles; test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    // VITEST_JSON_REPORT: where the JSON report goes (npm run test:ots-v1 writes its own, so .ci/run can read both).
    reporters: ['default', ['json', { outputFile: process.env.VITEST_JSON_REPORT ?? '.artifacts/vitest.json' }]],
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      {
        // Two test files at a time on the 2-core machine (vitest's default there is one): most files wait on real
        // time (timers, audio, child processes), not on the CPU.
        test: {
          ...common,
          name: 'tests',
          include: ['test/**/*.test.ts'],
          // test/stack/: its own run, `npm run test:stack` (vitest.stack.config.ts), after npm test in .ci/run.
          exclude: [...ALONE, 'test/stack/**'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      { test: { ...common, name: 'alone', include: ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
