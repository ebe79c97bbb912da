// The lint rules that keep workflows deterministic must bite: a Node built-in or an I/O module of this repository
// imported into workflows/ is an error; a type-only import is not. Runs ESLint with the project's own config.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

async function restrictedImportErrors(code: string, filePath = 'workflows/share-secret.ts'): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

// The first lint builds the TypeScript program (several seconds on a busy 2-core machine).
describe('workflow purity lint', { timeout: 90_000 }, () => {
  it('refuses a Node built-in imported into workflows/, with or without the node: prefix', async () => {
    for (const code of [
      "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
      "import { randomBytes } from 'crypto';\nexport const x = randomBytes;\n",
      "import * as http from 'node:http';\nexport const x = http;\n",
    ]) {
      const errors = await restrictedImportErrors(code);
      expect(errors, code).toHaveLength(1);
      expect(errors[0]).toMatch(/no Node built-ins/);
    }
  });

  it('refuses a value import of an I/O module of src/ or activities/ into workflows/', async () => {
    for (const code of [
      "import { OtsClient } from '../src/ots/client.js';\nexport const x = OtsClient;\n",
      "import { createOtsActivities } from '../activities/ots.js';\nexport const x = createOtsActivities;\n",
    ]) {
      expect(await restrictedImportErrors(code), code).toEqual([expect.stringMatching(/only types from src\//)]);
    }
  });

  it('allows type-only imports and the workflow SDK in workflows/', async () => {
    const code =
      "import { proxyActivities } from '@temporalio/workflow';\n" +
      "import type { Sealed } from '../src/seal.js';\n" +
      'export const x = proxyActivities;\nexport type S = Sealed;\n';
    expect(await restrictedImportErrors(code)).toEqual([]);
  });

  it('leaves Node built-ins alone outside workflows/', async () => {
    expect(
      await restrictedImportErrors(
        "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
        'src/config.ts',
      ),
    ).toEqual([]);
  });

  it('keeps the sandbox behind its entry point: production modules but src/service.ts cannot import it at all', async () => {
    const viaIndex = "import { createSandbox } from './sandbox/index.js';\nexport const x = createSandbox;\n";
    const direct =
      "import { createOtsEmulator } from '../sandbox/ots-emulator.js';\nexport const x = createOtsEmulator;\n";
    expect(await restrictedImportErrors(direct, 'src/voice/setup.ts')).toEqual([
      expect.stringMatching(/Only src\/service\.ts/),
    ]);
    expect(
      await restrictedImportErrors(viaIndex.replace('./sandbox', '../sandbox'), 'src/voice/setup.ts'),
    ).toHaveLength(1);
    expect(await restrictedImportErrors(viaIndex, 'src/service.ts')).toEqual([]);
    expect(await restrictedImportErrors(direct, 'activities/ots.ts')).toEqual([
      expect.stringMatching(/Only src\/service\.ts/),
    ]);
    expect(
      await restrictedImportErrors(
        "import { createOtsEmulator } from './sandbox/ots-emulator.js';\nexport const x = createOtsEmulator;\n",
        'src/service.ts',
      ),
    ).toEqual([expect.stringMatching(/entry point/)]);
    expect(
      await restrictedImportErrors(direct.replace('../sandbox', '../../src/sandbox'), 'test/unit/ots-emulator.test.ts'),
    ).toHaveLength(1);
  });

  it('reports a floating promise', async () => {
    const [result] = await eslint.lintText('async function f() {}\nexport function g() {\n  f();\n}\n', {
      filePath: 'src/config.ts',
    });
    expect(result!.messages.map((m) => m.ruleId)).toContain('@typescript-eslint/no-floating-promises');
  });
});
