// `npm start` as a user runs it: the real entry point (src/main.ts under tsx, as the npm script does) in its own
// process, with the embedded dev server and its UI, on free ports and a throwaway data dir. Catches what in-process
// tests cannot: module loading under Node's own ESM loader, the banner, the UI's codec wiring, a clean Ctrl-C.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSandboxSecrets } from '../../src/sandbox/index.js';
import { freePort } from '../../src/temporal/ports.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'ots-npm-start-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('npm start', () => {
  it('starts Temporal with its UI wired to the codec server, serves a hand-off, and stops cleanly on SIGINT', async () => {
    const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: String(port),
        TEMPORAL_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        DATA_DIR: dataDir,
        TEMPORAL_DB_FILE: join(dataDir, 'temporal.db'),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      const ready = until('readyz', async () =>
        (await request(`${base}/readyz`)).statusCode === 200 ? true : undefined,
      );
      await Promise.race([
        ready,
        exited.then((code) => Promise.reject(new Error(`exited with ${code} before ready`))),
      ]).catch((e) => {
        throw new Error(`${(e as Error).message}\n${output}`);
      });
      expect(output).toMatch(/ots-handoff is running/);
      expect(output).toMatch(new RegExp(`Codec server   : ${base}/codec`));
      expect(output).toMatch(/sandbox key made on first start/);
      // The emulator speaks v2, so auto chooses it, and the banner and /readyz say so.
      expect(output).toMatch(/Onetime Secret : sandbox \(emulator at [^)]+\), API v2 \(auto\)/);
      expect(await (await request(`${base}/readyz`)).body.json()).toMatchObject({ otsApiVersion: 'v2' });

      // The embedded UI is told where the codec server is, and the codec server answers that UI's preflight.
      const settings = (await (await request(`http://127.0.0.1:${uiPort}/api/v1/settings`)).body.json()) as {
        Codec: { Endpoint: string };
      };
      expect(settings.Codec.Endpoint).toBe(`${base}/codec`);
      const pre = await request(`${base}/codec/decode`, {
        method: 'OPTIONS',
        headers: { origin: `http://localhost:${uiPort}` },
      });
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe(`http://localhost:${uiPort}`);

      const token = loadSandboxSecrets(dataDir).agentToken;
      expect(output).toContain(token);
      const res = await request(`${base}/v1/shares`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          ticketId: 'T-START-1',
          secret: { generate: true },
          link: { channel: 'sms', to: '+15550500001' },
        }),
      });
      expect(res.statusCode).toBe(202);
      await until('the link SMS', async () => {
        const outbox = (await (await request(`${base}/sandbox/outbox`)).body.json()) as { to: string; body: string }[];
        return outbox.find((m) => m.to === '+15550500001' && m.body.includes('/secret/'));
      });

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(output).toMatch(/SIGINT: stopping[\s\S]*stopped/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);
});
