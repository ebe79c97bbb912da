// Temporal goes away under a running service: stop the embedded dev server (its own, not the run's shared one) while
// hand-offs are being watched, then start it again on the same SQLite file and port. The service reconnects by
// itself: /readyz says 503 while the server is down and 200 after, and every hand-off completes.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { freePort } from '../../src/temporal/ports.js';
import { registerSearchAttributes } from '../../src/temporal/register-search-attributes.js';
import { allSearchAttributes } from '../../workflows/search-attributes.js';
import { startTestService, type TestService } from '../helpers/service.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ots-temporal-restart-'));
let cliPath: string;
let port: number;
let server: DevServer | undefined;
let svc: TestService;

const startServer = () =>
  startDevServer({ cliPath, port, dbFilename: join(dir, 'temporal.db'), searchAttributes: allSearchAttributes });

beforeAll(async () => {
  cliPath = await ensureTemporalCli({ projectDir: root, env: process.env });
  port = await freePort();
  server = await startServer();
  const connection = await Connection.connect({ address: server.address });
  await registerSearchAttributes(connection, 'default', allSearchAttributes);
  await connection.close();
  svc = await startTestService({ OTS_POLL_INTERVALS: '0.5' }, undefined, server.address);
});
afterAll(async () => {
  await svc?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function readyz(): Promise<number> {
  const res = await request(`${svc.url}/readyz`);
  await res.body.dump();
  return res.statusCode;
}

async function untilReady(want: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while ((await readyz()) !== want) {
    if (Date.now() - started > timeoutMs) throw new Error(`/readyz did not become ${want} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return Date.now() - started;
}

describe('Temporal server restart', () => {
  it('readyz goes 503 while Temporal is down and 200 after, with no restart of the service; every hand-off completes', async () => {
    const secrets: string[] = [];
    const shares: { shareId: string; to: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const value = `Restart-Secret-${i}-${randomUUID().slice(0, 8)}`;
      secrets.push(value);
      const to = `+1555070000${i}`;
      const res = await svc.api('POST', '/v1/shares', {
        ticketId: `T-TR-${i}`,
        secret: { value },
        link: { channel: 'sms', to },
      });
      expect(res.status).toBe(202);
      shares.push({ shareId: res.body.shareId, to });
    }
    for (const s of shares) await svc.waitForState(s.shareId, 'awaiting_view');
    expect(await readyz()).toBe(200);

    await server!.stop();
    const downFor = await untilReady(503, 15_000);
    // A hand-off asked for now cannot start: the answer says so, with a status a client retries (never a 500).
    const askedAt = Date.now();
    const refused = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-TR-DOWN',
      secret: { value: 'Restart-Never-Started-1' },
      link: { channel: 'sms', to: '+15550700009' },
    });
    secrets.push('Restart-Never-Started-1');
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatch(/Temporal/);
    const refusedIn = Date.now() - askedAt;
    // While Temporal is down, the caller opens the first link (Onetime Secret does not need Temporal).
    await svc.openLink(svc.linkSentTo(shares[0]!.to));

    server = await startServer();
    const upAfter = await untilReady(200, 60_000);
    const restartedAt = Date.now();
    await svc.waitForState(shares[0]!.shareId, 'viewed', 60_000);
    console.log(
      `[temporal-restart] readyz 503 ${downFor} ms after the stop (a share request answered 503 in ${refusedIn} ms), ` +
        `200 again ${upAfter} ms after the restart; the link opened while down seen ${Date.now() - restartedAt} ms after`,
    );
    for (const s of shares.slice(1)) await svc.openLink(svc.linkSentTo(s.to));
    for (const s of shares) expect((await svc.waitForState(s.shareId, 'viewed', 60_000)).viewedAt).toBeDefined();
    expect(svc.otsEmulator!.secretCount()).toBe(3);
    // A new hand-off works too.
    const after = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-TR-AFTER',
      secret: { value: 'Restart-After-Secret-1' },
      link: { channel: 'sms', to: '+15550700008' },
    });
    secrets.push('Restart-After-Secret-1');
    expect(after.status).toBe(202);
    await svc.waitForState(after.body.shareId, 'awaiting_view', 30_000);

    await svc.expectNoLeaksIn({
      secrets,
      shareIds: [...shares.map((s) => s.shareId), after.body.shareId],
      links: [...shares, { to: '+15550700008' }].map((s) => svc.linkSentTo(s.to)),
    });
  }, 180_000);
});
