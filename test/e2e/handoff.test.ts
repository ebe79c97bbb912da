// End-to-end through the agent API, on the real Temporal dev server, with the sandbox fakes speaking the real
// Onetime Secret and Twilio wire formats. Every scenario ends with the leak scan.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startTestService, type TestService } from '../helpers/service.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import { wrongPassphrase } from '../helpers/ots-version.js';

let svc: TestService;
const used: { secrets: string[]; shareIds: string[]; links: string[]; excludeSms: Set<string> } = {
  secrets: [],
  shareIds: [],
  links: [],
  excludeSms: new Set(),
};

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.stop();
});

afterEach(async () => {
  await svc.expectNoLeaksIn({
    secrets: used.secrets,
    shareIds: used.shareIds,
    allowSms: used.excludeSms,
    links: used.links,
  });
  used.links = [];
  used.secrets = [];
  used.shareIds = [];
  used.excludeSms.clear();
});

const phone = (n: number) => `+1555010${String(n).padStart(4, '0')}`;

describe('hand-off through the agent API', () => {
  it('an SMS link for a given secret reaches awaiting_view, opens once, and ends viewed with notes', async () => {
    const secret = 'Temp-Passw0rd-e2e-1!';
    used.secrets.push(secret);
    const to = phone(1);
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-100',
      secret: { value: secret },
      link: { channel: 'sms', to },
    });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      shareId: expect.stringMatching(/^shr_/),
      workflowId: shareWorkflowId(res.body.shareId),
      statusUrl: expect.stringContaining(res.body.shareId),
    });
    used.shareIds.push(res.body.shareId);

    const waiting = await svc.waitForState(res.body.shareId, 'awaiting_view');
    expect(waiting.link).toMatchObject({ channel: 'sms', to: '+155*****001' });
    expect(waiting.expiresAt).toBeDefined();
    // Twilio's status callbacks come back signed through /twilio/sms-status and are ranked.
    await svc.waitFor(res.body.shareId, (s) => s.link.deliveryStatus === 'delivered');

    const link = svc.linkSentTo(to);
    used.links.push(link);
    const sms = svc.twilioFake!.outbox().find((m) => m.to === to)!;
    expect(sms.body).toContain(link);
    expect(sms.body).not.toContain(secret);

    const opened = await svc.openLink(link);
    expect(opened.value).toBe(secret);
    await expect(svc.openLink(link)).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });

    const done = await svc.waitForState(res.body.shareId, 'viewed');
    expect(done.viewedAt).toBeDefined();
    expect(done.notes.map((n) => n.text).join('\n')).toMatch(/Link sent by SMS[\s\S]*Link opened at/);

    const api = await svc.api('GET', `/v1/shares/${res.body.shareId}`);
    expect(api.status).toBe(200);
    expect(api.body.state).toBe('viewed');
  });

  it('a generated secret is created by Onetime Secret and never comes back through the API', async () => {
    const to = phone(2);
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-101',
      secret: { generate: true },
      ttl: '1h',
      link: { channel: 'sms', to },
    });
    expect(res.status).toBe(202);
    used.shareIds.push(res.body.shareId);
    await svc.waitForState(res.body.shareId, 'awaiting_view');
    const opened = await svc.openLink(svc.linkSentTo(to));
    used.secrets.push(opened.value);
    expect(opened.value.length).toBeGreaterThanOrEqual(12);
    await svc.waitForState(res.body.shareId, 'viewed');
  });

  it('passphrase by SMS: the link goes by email, the passphrase by SMS, and the link opens only with it', async () => {
    const secret = 'Recovery-Code-7731-e2e';
    used.secrets.push(secret);
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-102',
      secret: { value: secret },
      link: { channel: 'email', to: 'caller@example.com' },
      passphrase: 'sms',
      passphraseTo: phone(3),
    });
    expect(res.status).toBe(202);
    used.shareIds.push(res.body.shareId);
    const waiting = await svc.waitForState(res.body.shareId, 'awaiting_view');
    expect(waiting.link).toMatchObject({ channel: 'email', to: 'c***@e***.com' });
    expect(waiting.passphrase.mode).toBe('sms');
    expect(waiting.passphrase.deliveredAt).toBeDefined();

    // The passphrase SMS is the only place the passphrase may be written, and it holds no link.
    const ppSms = svc.twilioFake!.outbox().filter((m) => m.to === phone(3));
    expect(ppSms).toHaveLength(1);
    expect(ppSms[0]!.body).not.toMatch(/\/secret\//);
    const passphrase = ppSms[0]!.body.match(/(\d{3} \d{3} \d{3} \d{3})/)![1]!.replace(/ /g, '');
    used.secrets.push(passphrase);
    used.excludeSms.add(ppSms[0]!.sid);

    // The link went by Onetime Secret's own email: find it through the emulator's outgoing mail.
    const mail = svc.otsEmulator!.mail().find((m) => m.to === 'caller@example.com');
    expect(mail).toBeDefined();
    used.links.push(mail!.link);
    // Without the passphrase: v1 says "Unknown secret" to everything, v2 "Incorrect passphrase" (422).
    await expect(svc.openLink(mail!.link)).rejects.toMatchObject(wrongPassphrase(svc.ots.apiVersion));
    expect((await svc.openLink(mail!.link, passphrase)).value).toBe(secret);
    const done = await svc.waitForState(res.body.shareId, 'viewed');
    expect(done.notes.map((n) => n.text).join('\n')).toMatch(/Link sent by email[\s\S]*Passphrase sent by SMS/);
  });

  it('burn through the API destroys the secret, and a second burn is a conflict', async () => {
    const secret = 'Burn-Me-Secret-e2e-4';
    used.secrets.push(secret);
    const to = phone(4);
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-103',
      secret: { value: secret },
      link: { channel: 'sms', to },
    });
    used.shareIds.push(res.body.shareId);
    await svc.waitForState(res.body.shareId, 'awaiting_view');
    const link = svc.linkSentTo(to);

    const burned = await svc.api('POST', `/v1/shares/${res.body.shareId}/burn`);
    expect(burned.status).toBe(200);
    expect(burned.body.state).toBe('burned');
    await expect(svc.openLink(link)).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
    const again = await svc.api('POST', `/v1/shares/${res.body.shareId}/burn`);
    expect(again.status).toBe(409);
    expect(again.body.state).toBe('burned');
  });

  it('the same Idempotency-Key returns the same hand-off and sends one SMS', async () => {
    const secret = 'Idem-Secret-e2e-55';
    used.secrets.push(secret);
    const to = phone(5);
    const body = { ticketId: 'T-104', secret: { value: secret }, link: { channel: 'sms', to } };
    const [a, b] = await Promise.all([
      svc.api('POST', '/v1/shares', body, { 'idempotency-key': 'call-42-reset' }),
      svc.api('POST', '/v1/shares', body, { 'idempotency-key': 'call-42-reset' }),
    ]);
    expect(a.status).toBe(202);
    expect(b.body).toEqual(a.body);
    used.shareIds.push(a.body.shareId);
    await svc.waitForState(a.body.shareId, 'awaiting_view');
    const c = await svc.api('POST', '/v1/shares', body, { 'idempotency-key': 'call-42-reset' });
    expect(c.body.shareId).toBe(a.body.shareId);
    const other = await svc.api('POST', '/v1/shares', body, { 'idempotency-key': 'call-43-reset' });
    expect(other.body.shareId).not.toBe(a.body.shareId);
    used.shareIds.push(other.body.shareId);
    await svc.waitForState(other.body.shareId, 'awaiting_view');
    expect(svc.twilioFake!.outbox().filter((m) => m.to === to)).toHaveLength(2);
  });

  it('an Idempotency-Key reused for a different request is refused with 422', async () => {
    const secret = 'Idem-Mismatch-e2e-77';
    used.secrets.push(secret);
    const body = { ticketId: 'T-106', secret: { value: secret }, link: { channel: 'sms', to: phone(7) } };
    const first = await svc.api('POST', '/v1/shares', body, { 'idempotency-key': 'call-77' });
    expect(first.status).toBe(202);
    used.shareIds.push(first.body.shareId);
    const other = await svc.api('POST', '/v1/shares', { ...body, ticketId: 'T-107' }, { 'idempotency-key': 'call-77' });
    expect(other.status).toBe(422);
    expect(other.body.error).toMatch(/different request/);
    await svc.waitForState(first.body.shareId, 'awaiting_view');
    expect(svc.twilioFake!.outbox().filter((m) => m.to === phone(7))).toHaveLength(1);
  });

  it('rejects bad input with the field that is wrong, and bad tokens with 401/403', async () => {
    const secret = 'Never-Echoed-e2e-66';
    used.secrets.push(secret);
    const bad = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-105',
      secret: { value: secret },
      link: { channel: 'sms', to: 'not-a-number' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: 'invalid share request',
      issues: [{ path: 'link.to', message: expect.any(String) }],
    });
    const notJson = await svc.api('POST', '/v1/shares', `{"secret": "${secret}"`);
    expect(notJson.status).toBe(400);
    const tooBig = await svc.api('POST', '/v1/shares', {
      ticketId: 'T',
      secret: { value: 'x'.repeat(40_000) },
      link: { channel: 'sms', to: phone(6) },
    });
    expect(tooBig.status).toBe(413);

    const none = await request(`${svc.url}/v1/shares`, { method: 'POST' });
    expect(none.statusCode).toBe(401);
    await none.body.dump();
    const wrong = await request(`${svc.url}/v1/shares/shr_x`, {
      headers: { authorization: 'Bearer not-a-valid-token' },
    });
    expect(wrong.statusCode).toBe(403);
    await wrong.body.dump();
    expect((await svc.api('GET', '/v1/shares/shr_0000000000000000000000000')).status).toBe(404);
  });

  it('forged SMS status callbacks are rejected with 403', async () => {
    const res = await request(`${svc.url}/twilio/sms-status?share=shr_x`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'forged' },
      body: 'MessageSid=SM00000000000000000000000000000000&MessageStatus=delivered',
    });
    expect(res.statusCode).toBe(403);
    await res.body.dump();
  });

  it('in full sandbox mode the outbox is open, like a local fake phone', async () => {
    const res = await request(`${svc.url}/sandbox/outbox`);
    expect(res.statusCode).toBe(200);
    expect(Array.isArray(await res.body.json())).toBe(true);
  });

  it('health, readiness and the tool schema', async () => {
    expect((await svc.api('GET', '/healthz')).body).toEqual({ ok: true });
    const ready = await svc.api('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ temporal: true, persistence: true, worker: true });
    const tool = await svc.api('GET', '/v1/tool-schema');
    expect(tool.body.input_schema.required).toEqual(expect.arrayContaining(['ticketId', 'secret', 'link']));
  });
});
