// The OTS emulator as its own process (scripts/stack/ots-emulator.ts, spawned by scripts/stack/ots-emulator-client.ts,
// as `npm run stack` runs it): its one ready line, the service's real OTS client against it with the account, the
// control API (faults, stalls, counters, secrets' metadata without values, bad bodies), the sealed state file across
// a restart, and SIGTERM exiting 0.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnOtsEmulator, type OtsEmulatorProcess } from '../../scripts/stack/ots-emulator-client.js';
import { OtsClient } from '../../src/ots/client.js';
import { OtsUnavailableError } from '../../src/ots/errors.js';
import { OTS_API_VERSION_UNDER_TEST } from '../helpers/ots-version.js';

const account = { username: 'stack@ots-handoff.invalid', apiKey: randomBytes(20).toString('hex') };
const VALUE = 'Process-Emulator-Value-7';
const PASSPHRASE = 'correct horse 42';
const dir = mkdtempSync(join(tmpdir(), 'ots-emulator-process-'));
const stateFile = join(dir, 'ots-state.json');
const sealKey = randomBytes(32).toString('base64');

let emu: OtsEmulatorProcess | undefined;
const client = (timeoutMs = 5_000) =>
  new OtsClient({ baseUrl: emu!.baseUrl, ...account, apiVersion: OTS_API_VERSION_UNDER_TEST, timeoutMs });
let receipt: { metadataKey: string; secretKey?: string };

afterAll(async () => {
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the OTS emulator in its own process', () => {
  it('says where it listens in one JSON line; the OTS client creates a secret with the account', async () => {
    // Beside it: a host off this machine is refused before anything listens.
    const offMachine = spawnOtsEmulator({ ...account, host: '0.0.0.0' }).then(
      (p) => (void p.stop(), 'started'),
      (err: Error) => err.message,
    );
    // The client reads the line with a strict schema: exactly {"baseUrl","pid"}.
    emu = await spawnOtsEmulator({ ...account, stateFile, sealKey });
    expect(emu.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sandbox\/ots$/);
    expect(emu.pid).not.toBe(process.pid);
    expect(() => process.kill(emu!.pid, 0)).not.toThrow();
    expect(await offMachine).toMatch(/did not start: it exited \(code 2\)[\s\S]*--host must be a loopback/);

    receipt = await client().share({ secret: VALUE, ttl: 3600, passphrase: PASSPHRASE, recipient: 'bob@example.org' });
    expect(await emu.control.stats()).toMatchObject({ secretsCreated: 1, secretsStored: 1, receipts: 1, stalled: 0 });
    const listed = await emu.control.secrets();
    expect(listed).toEqual([
      expect.objectContaining({
        receiptKey: receipt.metadataKey,
        state: 'new',
        secretStored: true,
        passphrase: true,
        recipient: 'bo***@e***.org',
      }),
    ]);
    const text = JSON.stringify(listed);
    for (const never of [VALUE, PASSPHRASE, receipt.secretKey!, 'bob@example.org']) expect(text).not.toContain(never);
  });

  it('answers a fault injected through the control API, and holds back a stalled answer until released', async () => {
    const ots = client();
    await ots.detectApiVersion();
    expect(await emu!.control.fault({ op: 'create', status: 503, body: { error: 'down' } })).toEqual({
      pendingFaults: 1,
    });
    await expect(ots.share({ secret: 'x-value', ttl: 3600 })).rejects.toBeInstanceOf(OtsUnavailableError);
    expect(await emu!.control.stats()).toMatchObject({ secretsCreated: 1, pendingFaults: 0 });

    // A stalled create: the secret is made, the answer held back; the client gives up first.
    await emu!.control.fault({ op: 'create', stall: {} });
    await expect(client(400).share({ secret: 'stalled-value', ttl: 3600 })).rejects.toThrow(/did not answer/);
    expect(await emu!.control.stats()).toMatchObject({ secretsCreated: 2, stalled: 1 });
    expect(await emu!.control.release()).toEqual({ released: 1 });
    expect((await emu!.control.stats()).stalled).toBe(0);

    await emu!.control.fault({ op: 'burn', times: 3, status: 500 });
    expect(await emu!.control.clearFaults()).toEqual({ cleared: 3 });
  });

  it('refuses a bad fault with 400 naming the field, and a Host that is not this machine with 403', async () => {
    const post = async (body: unknown) => {
      const res = await request(`${emu!.controlUrl}/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.statusCode, body: (await res.body.json()) as any };
    };
    expect(await post({ op: 'create', times: 0 })).toEqual({
      status: 400,
      body: { error: 'invalid fault', issues: [{ path: 'times', message: expect.any(String) }] },
    });
    expect((await post({ op: 'crate' })).body.issues).toEqual([{ path: 'op', message: expect.any(String) }]);
    await expect(emu!.control.fault({ op: 'create', stauts: 503 } as never)).rejects.toThrow(
      /HTTP 400 .*unknown field: stauts/,
    );
    expect((await emu!.control.stats()).pendingFaults).toBe(0);

    const rebound = await request(`${emu!.controlUrl}/stats`, { headers: { host: 'ots.attacker.example' } });
    expect(rebound.statusCode).toBe(403);
    await rebound.body.dump();
  });

  it('exits 0 on SIGTERM with its state sealed on disk; restarted on the same file, the secret is still there', async () => {
    expect(await emu!.stop()).toEqual({ code: 0, signal: null });
    const onDisk = readFileSync(stateFile, 'utf8');
    for (const never of [VALUE, PASSPHRASE, receipt.secretKey!]) expect(onDisk).not.toContain(never);

    emu = await spawnOtsEmulator({ ...account, stateFile, sealKey });
    const ots = client();
    expect((await ots.receipt(receipt.metadataKey)).state).toBe('new');
    expect((await emu.control.secrets()).map((s) => s.receiptKey)).toContain(receipt.metadataKey);
    expect((await ots.retrieveSecret(receipt.secretKey!, PASSPHRASE)).value).toBe(VALUE);
    expect((await emu.control.secrets()).find((s) => s.receiptKey === receipt.metadataKey)).toMatchObject({
      state: 'revealed',
      secretStored: false,
    });
    expect(await emu.stop()).toEqual({ code: 0, signal: null });
  });
});
