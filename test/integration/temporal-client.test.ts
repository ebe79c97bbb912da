// Stopping the service while Temporal is unreachable: calls in flight are being retried on timers; closing the
// client must not leave a retry to fire on a closed channel ("Channel has been shut down", an uncaught exception
// that took the whole test run down once).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { connectClient } from '../../src/temporal/client.js';
import { createDataConverter } from '../../src/temporal/data-converter.js';
import { startDevServer } from '../../src/temporal/dev-server.js';
import { generatePayloadKey } from '../../src/temporal/payload-codec.js';
import { freePort } from '../../src/temporal/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'ots-client-close-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Temporal client', () => {
  it('closes cleanly while calls to an unreachable server are being retried', async () => {
    const cliPath = await ensureTemporalCli({
      projectDir: fileURLToPath(new URL('../..', import.meta.url)),
      env: process.env,
    });
    const server = await startDevServer({ cliPath, port: await freePort(), dbFilename: join(dir, 't.db') });
    const temporal = await connectClient({
      address: server.address,
      namespace: 'default',
      dataConverter: createDataConverter([generatePayloadKey('k1')]),
    });
    await server.stop();

    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      // Several calls retrying on their backoff timers when close() comes.
      const calls = Array.from({ length: 5 }, (_, i) =>
        temporal.client.workflow
          .getHandle(`wf-${i}`)
          .describe()
          .catch((e: Error) => e),
      );
      await new Promise((r) => setTimeout(r, 400));
      await temporal.close();
      const results = await Promise.all(calls);
      expect(results.every((r) => r instanceof Error)).toBe(true);
      await new Promise((r) => setTimeout(r, 1_500)); // any stray timer would have fired by now
      expect(uncaught.map((e) => e.message)).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  }, 60_000);
});
