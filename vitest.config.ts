import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Forks, not threads: the threads pool segfaulted with the Temporal native module (temporal-verified.md).
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-temporal-runtime.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default', ['json', { outputFile: '.artifacts/vitest.json' }]],
  },
});
