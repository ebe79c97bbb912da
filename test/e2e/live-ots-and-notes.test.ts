// The service in live Onetime Secret mode, pointed (OTS_BASE_URL, OTS_USERNAME, OTS_API_KEY) at another server on
// loopback, with the PSA notes webhook configured: the same hand-off works, the account is validated at start-up,
// every note reaches the PSA signed, and the API version is chosen as docs/onetime-secret.md ("Which API version")
// says: v2 when offered and allowed, else v1, and /readyz says which.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import {
  NOTES_KEY_ID_HEADER,
  NOTES_NOTE_ID_HEADER,
  NOTES_SIGNATURE_HEADER,
  NOTES_TIMESTAMP_HEADER,
  signNote,
} from '../../src/notes.js';
import { startOtsEmulatorServer, makeSandboxSecrets } from '../../src/sandbox/index.js';
import { startService, StartupError } from '../../src/service.js';
import { freePort } from '../../src/temporal/ports.js';
import { OTS_API_VERSION_UNDER_TEST } from '../helpers/ots-version.js';
import { startTestService, type TestService } from '../helpers/service.js';

const SEAL_KEY = randomBytes(32).toString('base64');
const PAYLOAD_KEYS = `live-test:${randomBytes(32).toString('base64')}`;

const account = { username: 'helpdesk@example.com', apiKey: 'k'.repeat(50) };
const webhookSecret = 'notes-webhook-secret-0123456789';
let otsServer: Awaited<ReturnType<typeof startOtsEmulatorServer>>;
let receiver: Server;
const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
let svc: TestService;

beforeAll(async () => {
  otsServer = await startOtsEmulatorServer({ credentials: account });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  svc = await startTestService({
    OTS_BASE_URL: otsServer.baseUrl,
    OTS_USERNAME: account.username,
    OTS_API_KEY: account.apiKey,
    AGENT_API_TOKENS: 'live-mode-test-token-0001',
    SEAL_KEY,
    PAYLOAD_KEYS,
    NOTES_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/psa/notes`,
    NOTES_WEBHOOK_SECRET: webhookSecret,
  });
});
afterAll(async () => {
  await svc?.stop();
  await otsServer?.close();
  receiver?.close();
});

/** startService in live OTS mode with this file's account (a start expected to fail: no test-service wrapper). */
async function startLive(env: { OTS_BASE_URL: string; OTS_API_KEY: string; OTS_API_VERSION?: string }) {
  const config = loadConfig({
    PORT: String(await freePort()),
    OTS_USERNAME: account.username,
    AGENT_API_TOKENS: 'live-mode-test-token-0001',
    SEAL_KEY,
    PAYLOAD_KEYS,
    ...env,
  });
  return startService({
    config,
    temporalAddress: inject('temporalAddress'),
    workflowBundlePath: inject('workflowBundlePath'),
    log: createLogger({ level: 'silent' }),
    sandboxSecrets: makeSandboxSecrets(),
  });
}

describe('live Onetime Secret mode against another server', () => {
  it('runs the same hand-off on that server, and every note reaches the PSA webhook signed', async () => {
    expect(svc.config.modes.ots).toBe('live');
    expect(svc.otsEmulator).toBeUndefined();
    const secret = 'Live-Mode-Secret-77';
    const to = '+15550301234';
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-LIVE',
      secret: { value: secret },
      link: { channel: 'sms', to },
    });
    expect(res.status).toBe(202);
    await svc.waitForState(res.body.shareId, 'awaiting_view');
    // the secret lives on the other server, created with the account's credentials
    const [receipt] = [...otsServer.emulator.store.receipts.values()];
    expect(receipt?.custid).toBe(account.username);
    const link = svc.linkSentTo(to);
    expect(link.startsWith(`${otsServer.baseUrl}/secret/`)).toBe(true);
    expect((await svc.openLink(link)).value).toBe(secret);
    const done = await svc.waitForState(res.body.shareId, 'viewed');

    await expect.poll(() => received.length).toBe(done.notes.length);
    for (const r of received) {
      expect(r.headers['content-type']).toBe('application/json');
      const ts = String(r.headers[NOTES_TIMESTAMP_HEADER]);
      expect(r.headers[NOTES_SIGNATURE_HEADER]).toBe(signNote(webhookSecret, ts, r.body));
      expect(JSON.parse(r.body)).toMatchObject({
        type: 'ots-handoff.note',
        noteId: r.headers[NOTES_NOTE_ID_HEADER],
        shareId: res.body.shareId,
        ticketId: 'T-LIVE',
      });
      // A bare NOTES_WEBHOOK_SECRET (the format from before key ids) signs under key id "default".
      expect(r.headers[NOTES_KEY_ID_HEADER]).toBe('default');
    }
    // One id per note, for the PSA to deduplicate retries by.
    const noteIds = received.map((r) => String(r.headers[NOTES_NOTE_ID_HEADER]));
    expect(noteIds.every((id) => /^note_[0-9a-f]{32}$/.test(id))).toBe(true);
    expect(new Set(noteIds).size).toBe(done.notes.length);
    expect(received.map((r) => JSON.parse(r.body).note.text).join('\n')).toMatch(/Link opened at/);

    await svc.expectNoLeaksIn({
      secrets: [secret],
      shareIds: [res.body.shareId],
      extra: { notes: received.map((r) => r.body) },
    });
  });

  it('with a live service, the sandbox outbox (which lists links to real secrets) needs the bearer token', async () => {
    const { request } = await import('undici');
    const anonymous = await request(`${svc.url}/sandbox/outbox`);
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();
    expect((await svc.api('GET', '/sandbox/outbox')).status).toBe(200);
  });

  it('/readyz says which Onetime Secret API is in use', async () => {
    const { request } = await import('undici');
    const res = await request(`${svc.url}/readyz`);
    const want = OTS_API_VERSION_UNDER_TEST === 'auto' ? 'v2' : OTS_API_VERSION_UNDER_TEST;
    expect(await res.body.json()).toMatchObject({ ok: true, otsApiVersion: want });
    expect(svc.ots.apiVersion).toBe(want);
  });

  it('an account without the api_access entitlement, or a server without v2, runs the hand-off on v1 (auto)', async () => {
    for (const opts of [{ apiAccess: false }, { apiVersions: ['v1'] as const }]) {
      const server = await startOtsEmulatorServer({ credentials: account, ...opts });
      const other = await startTestService({
        OTS_BASE_URL: server.baseUrl,
        OTS_USERNAME: account.username,
        OTS_API_KEY: account.apiKey,
        OTS_API_VERSION: 'auto',
        AGENT_API_TOKENS: 'live-mode-test-token-0001',
        SEAL_KEY,
        PAYLOAD_KEYS,
      });
      try {
        expect(other.ots.apiVersion).toBe('v1');
        const res = await other.api('POST', '/v1/shares', {
          ticketId: 'T-LIVE-V1',
          secret: { value: 'Fallback-Secret-1' },
          link: { channel: 'sms', to: '+15550301299' },
        });
        expect(res.status).toBe(202);
        await other.waitForState(res.body.shareId, 'awaiting_view');
        expect((await other.openLink(other.linkSentTo('+15550301299'))).value).toBe('Fallback-Secret-1');
        await other.waitForState(res.body.shareId, 'viewed');
        // One secret, made on v1: this server would have refused a v2 create (403 or 404), pausing the hand-off.
        expect(server.emulator.store.receipts.size).toBe(1);
      } finally {
        await other.stop();
        await server.close();
      }
    }
  });

  it('OTS_API_VERSION=v2 on an account without api_access refuses to start, saying what to set', async () => {
    const server = await startOtsEmulatorServer({ credentials: account, apiAccess: false });
    try {
      const start = startLive({ OTS_BASE_URL: server.baseUrl, OTS_API_KEY: account.apiKey, OTS_API_VERSION: 'v2' });
      await expect(start).rejects.toBeInstanceOf(StartupError);
      await expect(start).rejects.toThrow(/api_access entitlement[\s\S]*OTS_API_VERSION=auto or v1/);
    } finally {
      await server.close();
    }
  });

  it('refuses to start when the server rejects the account, naming the variables', async () => {
    const start = startLive({ OTS_BASE_URL: otsServer.baseUrl, OTS_API_KEY: 'wrong-api-key-0000' });
    await expect(start).rejects.toBeInstanceOf(StartupError);
    await expect(start).rejects.toThrow(/rejected OTS_USERNAME\/OTS_API_KEY/);
  });
});
