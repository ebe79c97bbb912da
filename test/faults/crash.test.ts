// SIGKILL the service (worker and HTTP server in one process) while secrets are being created and while hand-offs
// are being watched, then start it again: every hand-off finishes, and Onetime Secret holds exactly one secret per
// hand-off. The OTS emulator lives in this test process (live mode through OTS_BASE_URL), so its count survives the
// kill; it holds back the create answers, so the process dies after OTS made the secret but before it heard so.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OtsClient } from '../../src/ots/client.js';
import { startOtsEmulatorServer } from '../../src/sandbox/index.js';
import { freePort } from '../../src/temporal/ports.js';
import type { ShareStatus } from '../../workflows/types.js';
import { childSecrets, startChildService, type ChildService } from '../helpers/child-service.js';
import { decodeThroughCodecServer, expectOnlyCiphertext } from '../helpers/history.js';
import { expectNoLeaks } from '../helpers/leak-scan.js';
import { historyText } from '../helpers/service.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import { OTS_API_VERSION_UNDER_TEST } from '../helpers/ots-version.js';

const credentials = { username: 'crash-test@ots-handoff.invalid', apiKey: `crash-${randomUUID()}` };
const dataDir = mkdtempSync(join(tmpdir(), 'ots-crash-'));
let emu: Awaited<ReturnType<typeof startOtsEmulatorServer>>;
let env: Record<string, string>;
let svc: ChildService | undefined;
let temporal: Connection;
const log: string[] = [];
const responses: string[] = [];

beforeAll(async () => {
  emu = await startOtsEmulatorServer({ credentials });
  env = {
    ...childSecrets(),
    PORT: String(await freePort()),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `crash-${randomUUID()}`,
    OTS_BASE_URL: emu.baseUrl,
    OTS_USERNAME: credentials.username,
    OTS_API_KEY: credentials.apiKey,
    OTS_POLL_INTERVALS: '0.5',
    OTS_RATE_LIMIT_PER_MINUTE: '6000',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  };
  temporal = await Connection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  await svc?.kill('SIGKILL');
  await temporal?.close();
  await emu?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function api<T = any>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await request(`${svc!.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${env.AGENT_API_TOKENS}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  responses.push(text);
  return { status: res.statusCode, body: JSON.parse(text) as T };
}

async function waitForAll(
  shareIds: string[],
  pred: (s: ShareStatus) => boolean,
  what: string,
  timeoutMs = 90_000,
): Promise<ShareStatus[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(shareIds.map(async (id) => (await api<ShareStatus>('GET', `/v1/shares/${id}`)).body));
    if (all.every(pred)) return all;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(all.map((s) => [s.shareId, s.state]))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function until(what: string, pred: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The link OTS mailed for this hand-off's receipt (email delivery: the link never passes through the service). */
const mailedLinks = (to: string) =>
  emu.emulator
    .mail()
    .filter((m) => m.to === to)
    .map((m) => m.link);

describe('crash and restart of the service process', () => {
  it('SIGKILL mid-create and mid-watch: after a restart every hand-off finishes, with exactly one secret each', async () => {
    svc = await startChildService(env, log);
    const secrets: string[] = [];
    const share = async (i: number, ttl: number) => {
      const value = `Crash-Secret-${i}-${randomUUID().slice(0, 8)}`;
      secrets.push(value);
      const to = `caller${i}@example.org`;
      const res = await api('POST', '/v1/shares', {
        ticketId: `T-CRASH-${i}`,
        secret: { value },
        ttl,
        link: { channel: 'email', to },
      });
      expect(res.status).toBe(202);
      return { shareId: res.body.shareId as string, to };
    };

    // Phase 1: three hand-offs being watched.
    const watched = await Promise.all([0, 1, 2].map((i) => share(i, 86_400)));
    await waitForAll(
      watched.map((w) => w.shareId),
      (s) => s.state === 'awaiting_view',
      'the watched hand-offs',
    );
    expect(emu.emulator.secretCount()).toBe(3);

    // Phase 2: three creates that OTS carries out but whose answers it holds back; the process dies meanwhile.
    // (TTLs far apart, so no two of these hand-offs can share a fingerprint.)
    emu.emulator.injectFault({ method: 'POST', op: 'create', times: 3, stall: {} });
    const inFlight = await Promise.all([3, 4, 5].map((i) => share(i, 20_000 + i * 10_000)));
    await until('OTS to have made the three secrets', () => emu.emulator.secretCount() === 6);
    const killedAt = Date.now();
    await svc.kill('SIGKILL');
    emu.emulator.releaseStalled(); // to a dead socket

    // While the service is down, two of the watched links are opened.
    const ots = new OtsClient({ baseUrl: emu.baseUrl, apiVersion: OTS_API_VERSION_UNDER_TEST });
    for (const w of watched.slice(0, 2)) await ots.retrieveSecret(mailedLinks(w.to)[0]!.split('/secret/')[1]!);

    svc = await startChildService(env, log);
    const restartedAt = Date.now();
    const all = [...watched, ...inFlight];
    await waitForAll(
      watched.slice(0, 2).map((w) => w.shareId),
      (s) => s.state === 'viewed',
      'links opened while down to be seen',
    );
    const recovered = await waitForAll(
      inFlight.map((w) => w.shareId),
      (s) => s.state === 'awaiting_view',
      'the interrupted creates',
    );
    for (const s of recovered)
      expect(s.notes.map((n) => n.text).join('\n')).toMatch(
        /Found again after an attempt whose answer was lost; no second secret/,
      );

    // Exactly one secret and one mailed link per hand-off, and each link opens its own hand-off's secret.
    expect(emu.emulator.secretCount()).toBe(6);
    for (const w of all) expect(mailedLinks(w.to)).toHaveLength(1);
    for (const w of [watched[2]!, ...inFlight]) await ots.retrieveSecret(mailedLinks(w.to)[0]!.split('/secret/')[1]!);
    const finished = await waitForAll(
      all.map((w) => w.shareId),
      (s) => s.state === 'viewed',
      'every hand-off to end viewed',
    );
    expect(finished).toHaveLength(6);
    expect(emu.emulator.secretCount()).toBe(6);
    console.log(
      `[crash] restart to ready ${restartedAt - killedAt} ms; all 6 hand-offs viewed ${Date.now() - killedAt} ms after the kill`,
    );

    // The leak scan: logs of both processes, every API response, the notes, and Temporal history raw and decoded.
    const client = new Client({ connection: temporal });
    const history: string[] = [];
    for (const w of all) {
      const raw = await client.workflow.getHandle(shareWorkflowId(w.shareId)).fetchHistory();
      expectOnlyCiphertext(raw);
      history.push(historyText(raw), ...(await decodeThroughCodecServer(svc.url, env.CODEC_TOKENS!, raw)));
    }
    const notes = finished.map((s) => JSON.stringify(s.notes));
    const links = all.flatMap((w) => mailedLinks(w.to));
    expectNoLeaks([...secrets, ...links, ...links.map((l) => l.split('/secret/')[1]!)], {
      logs: log,
      responses,
      notes,
      smsBodies: [],
      history,
    });
    expect(await svc.kill('SIGTERM')).toBe(0);
  }, 180_000);
});
