// The confidentiality layer end to end: payload encryption in history, the codec server's contract and its gate,
// the technician's view (summary, details), and key rotation across a restart with a new key.
import { payloadToJSON } from '@temporalio/common/lib/proto-utils.js';
import { defaultPayloadConverter } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { KEY_ID_HEADER } from '../../src/temporal/payload-codec.js';
import { codecPayloadsIn, payloadsIn } from '../helpers/history.js';
import { historyText, startTestService, TEST_CODEC_TOKEN, type TestService } from '../helpers/service.js';
import { shareWorkflowId } from '../../workflows/ids.js';

const UI_ORIGIN = 'http://localhost:18233';
const key = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const OLD_KEY = key('k-old');
const NEW_KEY = key('k-new');

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ PAYLOAD_KEYS: OLD_KEY, CODEC_ALLOWED_ORIGINS: UI_ORIGIN });
});
afterAll(async () => {
  await svc?.stop();
});

const root = fileURLToPath(new URL('../..', import.meta.url));
async function temporalCli(...args: string[]): Promise<string> {
  const cli = await ensureTemporalCli({ projectDir: root, env: process.env, log: () => {} });
  return (await promisify(execFile)(cli, args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

/** The `data` of every payload in `temporal … --output json` output, base64-decoded. */
function jsonPayloadTexts(v: unknown): string[] {
  if (!v || typeof v !== 'object') return [];
  if (Array.isArray(v)) return v.flatMap(jsonPayloadTexts);
  const o = v as Record<string, unknown>;
  if (typeof o.data === 'string' && o.metadata) return [Buffer.from(o.data, 'base64').toString('utf8')];
  return Object.values(o).flatMap(jsonPayloadTexts);
}

const rawText = (history: unknown) =>
  payloadsIn(history)
    .map((p) => Buffer.from(p.data ?? []).toString('latin1'))
    .join('\n');

async function codecCall(
  path: string,
  init: { headers?: Record<string, string>; body?: unknown; method?: string } = {},
) {
  const res = await request(`${svc.url}${path}`, {
    method: (init.method ?? 'POST') as 'POST',
    headers: init.headers,
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('payload encryption and the technician view', () => {
  it('history holds ciphertext only; decoded through the codec server it shows the hand-off with the secret sealed', async () => {
    const secret = `Conf-Secret-${randomBytes(6).toString('hex')}`;
    const ticketId = `T-CONF-${randomBytes(3).toString('hex')}`;
    // One failed create attempt first, so a failure (the retried attempt's lastFailure) is in history too.
    svc.otsEmulator!.injectFault({ op: 'create', status: 503, body: { message: 'Temporarily-Down-Marker' } });
    const res = await svc.api('POST', '/v1/shares', {
      ticketId,
      secret: { value: secret },
      link: { channel: 'email', to: 'caller@example.org' },
      passphrase: 'sms',
      passphraseTo: '+15550300001',
    });
    expect(res.status).toBe(202);
    const { shareId } = res.body;
    await svc.waitForState(shareId, 'awaiting_view', 30_000);

    const raw = await svc.rawHistory(shareId);
    const text = rawText(raw);
    // No payload is readable: not the ticket, not the recipient, not even JSON syntax.
    for (const visible of [ticketId, 'caller@example.org', '"sealed"', 'json/plain'])
      expect(text).not.toContain(visible);
    // Nor is the failure's message anywhere in history (failure types such as OTS_UNAVAILABLE stay readable:
    // the SDK encodes message and stack trace only).
    const everything = historyText(raw);
    expect(everything).toMatch(/OTS_UNAVAILABLE/);
    expect(everything).not.toContain('Temporarily-Down-Marker');
    const keyIds = new Set(codecPayloadsIn(raw).map((p) => Buffer.from(p.metadata![KEY_ID_HEADER]!).toString()));
    expect([...keyIds]).toEqual(['k-old']);

    const decoded = (await svc.decodedHistory(shareId)).join('\n');
    expect(decoded).toContain(ticketId);
    expect(decoded).toContain('caller@example.org');
    expect(decoded).toContain('"sealed":"v2"');
    expect(decoded).toContain('Temporarily-Down-Marker'); // the failure text, encoded by the failure converter
    expect(decoded).not.toContain(secret);
    // Nor the receipt key, which Onetime Secret answers anyone with the secret's key while it is unopened: only its
    // first 8 characters (receiptRef, for notes).
    const receiptKeys = [...svc.sandbox!.otsEmulator!.store.receipts.keys()];
    expect(receiptKeys.length).toBeGreaterThan(0);
    for (const k of receiptKeys) {
      expect(decoded).not.toContain(k);
      expect(decoded).toContain(`"receiptRef":"${k.slice(0, 8)}"`);
    }

    // The technician's view: static summary/details (user metadata) and current details, decoded by our client.
    const handle = svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId));
    const description = await handle.describe();
    expect(await description.staticSummary()).toBe(
      `Ticket ${ticketId}: link by email to c***@e***.org, passphrase by SMS, valid 1 d`,
    );
    expect(await description.staticDetails()).toMatch(/Secret and passphrase:\*\* sealed/);
    const meta = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toMatch(/\*\*State:\*\* awaiting_view/);
    expect(meta.currentDetails).toContain(`**Ticket:** ${ticketId}`);
    expect(meta.currentDetails).toMatch(/\*\*Passphrase:\*\* sms, delivered /);
    // Search attributes stay readable (Temporal never encodes them) and carry no secret.
    expect(description.typedSearchAttributes.getAll().map((p) => [p.key.name, String(p.value)])).toEqual(
      expect.arrayContaining([
        ['TicketId', ticketId],
        ['ShareState', 'awaiting_view'],
        ['DeliveryChannel', 'email'],
      ]),
    );

    // The technician's CLI: `temporal workflow show` prints ciphertext alone, and the hand-off through our codec.
    const show = (...extra: string[]) =>
      temporalCli(
        'workflow',
        'show',
        '--address',
        inject('temporalAddress'),
        '--workflow-id',
        shareWorkflowId(shareId),
        '--output',
        'json',
        ...extra,
      );
    const plainShow = await show();
    expect(plainShow).toContain(`"encoding": "${Buffer.from('binary/encrypted').toString('base64')}"`);
    const decodedShow = await show(
      '--codec-endpoint',
      `${svc.url}/codec`,
      '--codec-auth',
      `Bearer ${TEST_CODEC_TOKEN}`,
    );
    const decodedData = jsonPayloadTexts(JSON.parse(decodedShow)).join('\n');
    expect(jsonPayloadTexts(JSON.parse(plainShow)).join('\n')).not.toContain(`"shareId":"${shareId}"`);
    expect(decodedData).toContain(`"shareId":"${shareId}"`); // the workflow input, decoded by the codec server
    expect(decodedData).toContain('"sealed":"v2"');
    await svc.expectNoLeaksIn({
      secrets: [secret],
      shareIds: [shareId],
      extra: { history: [plainShow, decodedShow, decodedData] },
      allowSms: new Set(
        svc
          .twilioFake!.outbox()
          .filter((m) => m.to === '+15550300001')
          .map((m) => m.sid),
      ),
    });
  });
});

describe('codec server (Temporal remote codec protocol)', () => {
  const sample = () => ({ payloads: [payloadToJSON(defaultPayloadConverter.toPayload({ hello: 'codec' }))] });
  const auth = {
    authorization: `Bearer ${TEST_CODEC_TOKEN}`,
    'x-namespace': 'default',
    'content-type': 'application/json',
  };

  it('encode then decode round-trips, and the encoded form carries the current key id', async () => {
    const enc = await codecCall('/codec/encode', { headers: auth, body: sample() });
    expect(enc.status).toBe(200);
    const encoded = enc.json().payloads[0];
    expect(Buffer.from(encoded.metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(encoded.metadata[KEY_ID_HEADER], 'base64').toString()).toBe('k-old');
    const dec = await codecCall('/codec/decode', { headers: auth, body: enc.json() });
    expect(dec.status).toBe(200);
    expect(dec.json()).toEqual(sample());
  });

  it('answers the UI preflight for the allowed origin only, and lets the local UI in without a token', async () => {
    const pre = await codecCall('/codec/decode', {
      method: 'OPTIONS',
      headers: {
        origin: UI_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    expect(String(pre.headers['access-control-allow-headers'])).toMatch(/X-Namespace/i);
    expect(String(pre.headers.vary)).toMatch(/Origin/);

    const other = await codecCall('/codec/decode', { method: 'OPTIONS', headers: { origin: 'http://localhost:9999' } });
    expect(other.status).toBe(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();

    // What the embedded UI sends: Origin, X-Namespace, no Authorization, from this machine.
    const ui = await codecCall('/codec/decode', {
      headers: { origin: UI_ORIGIN, 'x-namespace': 'default', 'content-type': 'application/json' },
      body: sample(),
    });
    expect(ui.status).toBe(200);
    expect(ui.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    // A page on another origin is refused even with a valid token (a browser would have sent its own origin).
    const foreign = await codecCall('/codec/decode', {
      headers: { ...auth, origin: 'https://evil.invalid' },
      body: sample(),
    });
    expect(foreign.status).toBe(403);
  });

  it('refuses callers without a valid token, other namespaces and malformed bodies, without echoing them', async () => {
    const noToken = await codecCall('/codec/decode', {
      headers: { 'x-namespace': 'default', 'content-type': 'application/json' },
      body: sample(),
    });
    expect(noToken.status).toBe(401);
    const wrong = await codecCall('/codec/decode', {
      headers: { ...auth, authorization: 'Bearer not-the-codec-token-123' },
      body: sample(),
    });
    expect(wrong.status).toBe(403);
    // The agent API's token is not a codec token: voice agents must not read history.
    const agent = await codecCall('/codec/decode', {
      headers: { ...auth, authorization: `Bearer ${svc.token}` },
      body: sample(),
    });
    expect(agent.status).toBe(403);
    // No X-Namespace (the temporal CLI sends it empty by default) means the service's own namespace.
    const noNs = await codecCall('/codec/decode', {
      headers: { authorization: auth.authorization, 'content-type': 'application/json', 'x-namespace': '' },
      body: sample(),
    });
    expect(noNs.status).toBe(200);
    const otherNs = await codecCall('/codec/decode', {
      headers: { ...auth, 'x-namespace': 'payroll' },
      body: sample(),
    });
    expect(otherNs.status).toBe(403);
    for (const body of [
      '{not json',
      { payloads: 'x' },
      { payloads: [{ data: '<script>alert(1)</script>' }] },
      { nope: [] },
    ]) {
      const bad = await codecCall('/codec/decode', { headers: auth, body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.text).not.toContain('<script>');
    }
    const tampered = (await codecCall('/codec/encode', { headers: auth, body: sample() })).json();
    const bytes = Buffer.from(tampered.payloads[0].data, 'base64');
    bytes[bytes.length - 1]! ^= 0xff;
    tampered.payloads[0].data = bytes.toString('base64');
    const res = await codecCall('/codec/decode', { headers: auth, body: tampered });
    expect(res.status).toBe(400);
    expect(res.json().error).toMatch(/does not decrypt with key "k-old"/);
  });
});

describe('key rotation', () => {
  it('after a restart with a new key first, old hand-offs still decode (worker, client and codec server) and new payloads use the new key', async () => {
    const ticketId = 'T-ROTATE-1';
    const res = await svc.api('POST', '/v1/shares', {
      ticketId,
      secret: { generate: true },
      link: { channel: 'sms', to: '+15550300002' },
    });
    const { shareId } = res.body;
    await svc.waitForState(shareId, 'awaiting_view', 30_000);
    await svc.openLink(svc.linkSentTo('+15550300002'));
    await svc.waitForState(shareId, 'viewed');
    const queue = svc.config.TEMPORAL_TASK_QUEUE;
    await svc.stop();

    // The same task queue, new key first: the new worker replays the old history to answer the query.
    svc = await startTestService({
      PAYLOAD_KEYS: `${NEW_KEY},${OLD_KEY}`,
      CODEC_ALLOWED_ORIGINS: UI_ORIGIN,
      TEMPORAL_TASK_QUEUE: queue,
    });
    expect((await svc.status(shareId)).state).toBe('viewed');
    expect((await svc.decodedHistory(shareId)).join('\n')).toContain(ticketId);

    const next = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-ROTATE-2',
      secret: { generate: true },
      link: { channel: 'sms', to: '+15550300003' },
    });
    await svc.waitForState(next.body.shareId, 'awaiting_view', 30_000);
    const ids = new Set(
      codecPayloadsIn(await svc.rawHistory(next.body.shareId)).map((p) =>
        Buffer.from(p.metadata![KEY_ID_HEADER]!).toString(),
      ),
    );
    expect([...ids]).toEqual(['k-new']);
    // Generated secrets are never known to us; this checks both histories are ciphertext and decode whole.
    await svc.expectNoLeaksIn({ secrets: [], shareIds: [shareId, next.body.shareId] });

    // A codec server that no longer holds the old key says which key is missing.
    const fresh = await startTestService({ PAYLOAD_KEYS: NEW_KEY });
    try {
      const raw = await svc.rawHistory(shareId);
      const r = await request(`${fresh.url}/codec/decode`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_CODEC_TOKEN}`,
          'x-namespace': 'default',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ payloads: payloadsIn(raw).map(payloadToJSON) }),
      });
      expect(r.statusCode).toBe(400);
      expect(((await r.body.json()) as { error: string }).error).toMatch(/key "k-old", which is not in PAYLOAD_KEYS/);
    } finally {
      await fresh.stop();
    }
  });
});
