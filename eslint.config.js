// ESLint flat config. Besides the usual TypeScript checks it enforces the rules that keep workflows deterministic
// (docs/architecture.md, "Workflow rules"): code under workflows/ runs in Temporal's workflow sandbox and is
// replayed, so it may not import a Node built-in or any module of this repository that does I/O. Type-only imports
// (the activities' types, the sealed-value type) are allowed: they vanish at compile time.
// The same restriction as temporalio/samples-typescript hello-world/.eslintrc.js, with no-floating-promises.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_')).flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', '.data/', '.artifacts/', 'coverage/', 'src/temporal/failure-converter.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // A handler that refers to a server declared before it is listening, assigned once it is.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tests and scripts read JSON answers whose shape the assertions check.
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code runs in the Temporal workflow sandbox: no Node built-ins (do it in an activity).',
          })),
          patterns: [
            {
              group: ['../src/**', '../activities/**', '**/src/**', '**/activities/**'],
              allowTypeImports: true,
              message:
                'Workflow code may import only types from src/ and activities/: their modules do I/O. Call an activity instead.',
            },
          ],
        },
      ],
    },
  },
  {
    // The sandbox's fakes reach the service only through the seams src/sandbox/index.ts hands src/service.ts
    // (docs/architecture.md ("Sandbox seams")): no other production module imports from src/sandbox/.
    // (workflows/ is covered by its own block above, which refuses every value import from src/.)
    files: ['src/**/*.ts', 'activities/**/*.ts'],
    ignores: ['src/sandbox/**', 'src/service.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/sandbox/*'],
              message: 'Only src/service.ts imports the sandbox (src/sandbox/index.ts); take a seam from it instead.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/service.ts', 'test/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/sandbox/*', '!**/sandbox/index.js'],
              message: 'Import the sandbox through its entry point, src/sandbox/index.ts.',
            },
          ],
        },
      ],
    },
  },
  prettier,
);
