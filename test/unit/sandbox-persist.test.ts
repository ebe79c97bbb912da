import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OtsClient } from '../../src/ots/client.js';
import {
  startOtsEmulatorServer,
  persistEmulator,
  loadSandboxSecrets,
  SandboxSecretsError,
} from '../../src/sandbox/index.js';
import { createSealer } from '../../src/seal.js';
import { OTS_API_VERSION_UNDER_TEST } from '../helpers/ots-version.js';

describe('sandbox OTS state across restarts', () => {
  it('a secret created before a restart can be opened after it, and the file holds only ciphertext', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ots-persist-')), 'ots.json');
    const sealer = createSealer(randomBytes(32));
    const first = await startOtsEmulatorServer();
    const p1 = persistEmulator(first.emulator, file, sealer);
    const client = new OtsClient({ baseUrl: first.baseUrl, apiVersion: OTS_API_VERSION_UNDER_TEST });
    const receipt = await client.share({ secret: 'Persisted-Value-42', ttl: 3600, passphrase: '123456789012' });
    p1.flush();
    await first.close();
    expect(readFileSync(file, 'utf8')).not.toContain('Persisted-Value-42');

    const second = await startOtsEmulatorServer();
    persistEmulator(second.emulator, file, sealer);
    const again = new OtsClient({ baseUrl: second.baseUrl, apiVersion: OTS_API_VERSION_UNDER_TEST });
    expect((await again.receipt(receipt.metadataKey)).state).toBe('new');
    // A wrong passphrase: v1 says "Unknown secret" for everything, v2 422 "Incorrect passphrase".
    await expect(again.retrieveSecret(receipt.secretKey!, 'wrong-pass')).rejects.toMatchObject({
      code: again.apiVersion === 'v1' ? 'OTS_NOT_FOUND' : 'OTS_BAD_REQUEST',
    });
    expect((await again.retrieveSecret(receipt.secretKey!, '123456789012')).value).toBe('Persisted-Value-42');
    expect((await again.receipt(receipt.metadataKey)).state).toBe('received');
    await second.close();
  });

  it('a file sealed with another key is ignored, not a crash', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ots-persist-')), 'ots.json');
    const a = await startOtsEmulatorServer();
    const p = persistEmulator(a.emulator, file, createSealer(randomBytes(32)));
    await new OtsClient({ baseUrl: a.baseUrl, apiVersion: OTS_API_VERSION_UNDER_TEST }).share({
      secret: 'x-value',
      ttl: 3600,
    });
    p.flush();
    await a.close();
    const b = await startOtsEmulatorServer();
    persistEmulator(b.emulator, file, createSealer(randomBytes(32)));
    expect(b.emulator.store.secrets.size).toBe(0);
    await b.close();
  });
});

describe('sandbox credentials', () => {
  it('are made once and kept, and entries added by a newer version are saved, not remade on every start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ots-sandbox-secrets-'));
    const first = loadSandboxSecrets(dir);
    expect(loadSandboxSecrets(dir)).toEqual(first);
    // A file written before payload keys existed.
    const { payloadKeys: _dropped, ...old } = first;
    writeFileSync(join(dir, 'sandbox-secrets.json'), JSON.stringify(old));
    const upgraded = loadSandboxSecrets(dir);
    expect(upgraded.sealKey).toBe(first.sealKey);
    expect(upgraded.payloadKeys).toMatch(/^sandbox-[\d-]+:[A-Za-z0-9+/]{43}=$/);
    expect(loadSandboxSecrets(dir).payloadKeys).toBe(upgraded.payloadKeys);
    expect(JSON.parse(readFileSync(join(dir, 'sandbox-secrets.json'), 'utf8')).payloadKeys).toBe(upgraded.payloadKeys);
  });

  it('a damaged file stops start-up, naming it, and is left as it was (never replaced by new keys)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ots-sandbox-secrets-'));
    const file = join(dir, 'sandbox-secrets.json');
    const good = loadSandboxSecrets(dir);
    const damaged: [string, RegExp][] = [
      ['{"agentToken": "sandbox_x", "sealKey": "', /not JSON/],
      ['[]', /not a JSON object/],
      [JSON.stringify({ ...good, sealKey: 42 }), /sealKey is not a non-empty string/],
      [JSON.stringify({ ...good, sealKey: Buffer.alloc(32).toString('base64') }), /sealKey is not a key/],
      [JSON.stringify({ ...good, payloadKeys: 'nonsense' }), /payloadKeys is not a key list/],
      [JSON.stringify({ agentToken: good.agentToken }), /sealKey is missing/],
    ];
    for (const [text, why] of damaged) {
      writeFileSync(file, text);
      expect(() => loadSandboxSecrets(dir), text).toThrow(SandboxSecretsError);
      expect(() => loadSandboxSecrets(dir), text).toThrow(why);
      expect(() => loadSandboxSecrets(dir)).toThrow(`${file} is damaged`);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });

  it('is written whole: no temporary file is left beside it, and it is readable by its owner only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ots-sandbox-secrets-'));
    loadSandboxSecrets(dir);
    expect(readdirSync(dir)).toEqual(['sandbox-secrets.json']);
    expect(statSync(join(dir, 'sandbox-secrets.json')).mode & 0o777).toBe(0o600);
  });
});
