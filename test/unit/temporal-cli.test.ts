// ensureTemporalCli with TEMPORAL_CLI set: the first rule, which must never fall through to an install.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTemporalCli } from '../../src/temporal/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'temporal-cli-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// An empty PATH and a projectDir with no cache: if TEMPORAL_CLI were ignored, the function would try to install.
const ensure = (TEMPORAL_CLI: string) => ensureTemporalCli({ projectDir: dir, env: { TEMPORAL_CLI, PATH: '' } });

describe('ensureTemporalCli with TEMPORAL_CLI', () => {
  it('rejects a path that does not exist, naming TEMPORAL_CLI', async () => {
    await expect(ensure(join(dir, 'missing', 'temporal'))).rejects.toThrow(
      /TEMPORAL_CLI=.*missing\/temporal is not a working temporal binary/,
    );
  });

  it('rejects a file that is not executable, naming TEMPORAL_CLI', async () => {
    const path = join(dir, 'not-executable');
    await writeFile(path, '#!/bin/sh\necho "temporal version 1.5.1"\n', { mode: 0o644 });
    await expect(ensure(path)).rejects.toThrow(/TEMPORAL_CLI=.*not-executable is not a working temporal binary/);
  });

  it('rejects a binary whose --version fails', async () => {
    const path = join(dir, 'broken');
    await writeFile(path, '#!/bin/sh\necho "boom" >&2\nexit 3\n');
    await chmod(path, 0o755);
    await expect(ensure(path)).rejects.toThrow(/TEMPORAL_CLI/);
  });

  it('accepts an executable that prints a version, and returns its absolute path', async () => {
    const path = join(dir, 'fake-temporal');
    await writeFile(path, '#!/bin/sh\necho "temporal version 0.0.0-fake"\n');
    await chmod(path, 0o755);
    await expect(ensure(path)).resolves.toBe(path);
  });
});
