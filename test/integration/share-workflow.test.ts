// shareSecret on the real dev server with the real activities, talking to the sandbox fakes over loopback.
// Workflows are started through the Temporal client (not the API) where a scenario needs what the API refuses,
// such as a 2-second TTL. Every scenario ends with the leak scan.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { burnSignal, burnUpdate, resolveSignal, smsStatusSignal } from '../../workflows/messages.js';
import type { ShareInput, ShareStatus } from '../../workflows/types.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { shareWorkflowId } from '../../workflows/ids.js';

let svc: TestService;
let scanned: { secrets: string[]; shareIds: string[]; allowSms?: Set<string> };

beforeAll(async () => {
  svc = await startTestService({}, { otsMinTtlSeconds: 1 });
});
afterAll(async () => {
  await svc?.stop();
});
afterEach(async () => {
  await svc.expectNoLeaksIn(scanned);
});

let n = 0;
async function startShare(overrides: Partial<ShareInput> & { value?: string } = {}) {
  const shareId = `shr_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  const value = overrides.value ?? `Wf-Secret-${randomUUID().slice(0, 8)}`;
  scanned = { secrets: [value], shareIds: [shareId] };
  const { value: _v, ...rest } = overrides;
  const input: ShareInput = {
    shareId,
    ticketId: `T-WF-${++n}`,
    secret: { value: svc.sealer.seal(value) },
    ttlSeconds: 3600,
    link: { channel: 'sms', to: `+1555020${String(n).padStart(4, '0')}` },
    passphrase: { mode: 'none' },
    pollIntervals: [0.3],
    smsStatusCallback: `${svc.url}/twilio/sms-status?share=${shareId}`,
    notesWebhook: false,
    ...rest,
  };
  const handle = await svc.temporal.client.workflow.start('shareSecret', {
    taskQueue: svc.config.TEMPORAL_TASK_QUEUE,
    workflowId: shareWorkflowId(shareId),
    args: [input],
  });
  return { shareId, handle, input, value };
}

const countSecrets = () => svc.otsEmulator!.secretCount();

describe('shareSecret workflow', () => {
  it('an expired, unopened link flags the ticket and creates no second secret', async () => {
    const before = countSecrets();
    const { shareId, handle } = await startShare({ ttlSeconds: 2 });
    const result = await handle.result();
    expect(result.state).toBe('expired');
    const status = await svc.status(shareId);
    const last = status.notes.at(-1)!;
    expect(last.followUp).toBe(true);
    expect(last.text).toMatch(/expired unopened[\s\S]*No new secret was created/);
    expect(countSecrets()).toBe(before + 1);
  });

  it('an OTS error pauses for a technician with a note, sends nothing, and a technician retry completes it', async () => {
    svc.otsEmulator!.injectFault({
      method: 'POST',
      path: '/api/v1/share',
      times: 1,
      status: 404,
      headers: { 'X-OTS-Intended-Status': '401' },
      body: { message: 'Not authorized' },
    });
    const { shareId, handle, input } = await startShare();
    const paused = await svc.waitForState(shareId, 'needs_technician');
    const note = paused.notes.at(-1)!;
    expect(note.followUp).toBe(true);
    expect(note.text).toMatch(/Creating the Onetime Secret failed \(OTS_AUTH[\s\S]*No cleartext fallback/);
    expect(svc.twilioFake!.outbox().filter((m) => m.to === input.link.to)).toHaveLength(0);

    await handle.signal(resolveSignal, { action: 'retry', by: 'tech@example.com' });
    await svc.waitForState(shareId, 'awaiting_view');
    expect(svc.twilioFake!.outbox().filter((m) => m.to === input.link.to)).toHaveLength(1);
    await handle.signal(burnSignal, { by: 'tech@example.com' });
    expect((await handle.result()).state).toBe('burned');
  });

  it('rate limits are retried honouring Retry-After, then handed to a technician, who can cancel', async () => {
    svc.otsEmulator!.injectFault({
      method: 'POST',
      path: '/api/v1/share',
      times: 5,
      status: 429,
      headers: { 'Retry-After': '1' },
      body: { message: 'Too Many Requests' },
    });
    const started = Date.now();
    const { shareId, handle } = await startShare();
    const paused = await svc.waitForState(shareId, 'needs_technician', 30_000);
    // five attempts, four waits of Retry-After: 1 s each
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_500);
    expect(paused.notes.at(-1)!.text).toMatch(/OTS_RATE_LIMITED/);
    await handle.signal(resolveSignal, { action: 'cancel', by: 'tech@example.com', comment: 'caller gone' });
    const result = await handle.result();
    expect(result.state).toBe('cancelled');
    expect((await svc.status(shareId)).notes.map((x) => x.text).join('\n')).toMatch(
      /Technician decision: cancel by tech@example\.com \(caller gone\)/,
    );
  });

  it('an undelivered link SMS pauses for a technician; delivered_manually burns the link and resolves it', async () => {
    const to = '+15550209999';
    svc.twilioFake!.undeliverable.add(to);
    const { shareId, handle } = await startShare({ link: { channel: 'sms', to } });
    const paused = await svc.waitForState(shareId, 'needs_technician');
    expect(paused.link.deliveryStatus).toBe('undelivered');
    expect(paused.notes.at(-1)!.text).toMatch(/SMS_UNDELIVERED[\s\S]*30003/);
    const link = svc.linkSentTo(to);
    await handle.signal(resolveSignal, { action: 'delivered_manually', by: 'tech@example.com' });
    expect((await handle.result()).state).toBe('resolved');
    await expect(svc.openLink(link)).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
  });

  it('out-of-order and duplicated SMS status callbacks keep the most advanced status', async () => {
    const { shareId, handle, input } = await startShare();
    await svc.waitFor(shareId, (x) => x.link.deliveryStatus === 'delivered');
    const sid = svc.twilioFake!.outbox().find((m) => m.to === input.link.to)!.sid;
    await handle.signal(smsStatusSignal, { messageSid: sid, status: 'sent' });
    await handle.signal(smsStatusSignal, { messageSid: sid, status: 'queued' });
    await handle.signal(smsStatusSignal, { messageSid: sid, status: 'delivered' });
    expect((await svc.status(shareId)).link.deliveryStatus).toBe('delivered');
    await handle.signal(burnSignal, {});
    expect((await handle.result()).state).toBe('burned');
  });
});

describe('long watches', () => {
  it('continue as new, keeping state and notes, and still end viewed when the link is opened', async () => {
    // The test server suggests continue-as-new after 60 events (test/global-setup.ts): about a dozen polls.
    const { shareId, handle, input, value } = await startShare({ pollIntervals: [0.1] });
    await svc.waitForState(shareId, 'awaiting_view');
    const firstRun = (await handle.describe()).runId;
    const deadline = Date.now() + 20_000;
    while ((await handle.describe()).runId === firstRun) {
      if (Date.now() > deadline) throw new Error('the watch never continued as new');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await svc.openLink(svc.linkSentTo(input.link.to))).value).toBe(value);
    const result = await handle.result();
    expect(result.state).toBe('viewed');
    const notes = (await svc.status(shareId)).notes.map((x) => x.text).join('\n');
    expect(notes).toMatch(/Onetime Secret created[\s\S]*Link sent by SMS[\s\S]*Link opened at/);
  });
});

describe('burning and technician decisions', () => {
  const lastReceiptKey = () => [...svc.otsEmulator!.store.receipts.values()].at(-1)!.key;

  it('a burn while paused for a technician ends the hand-off as burned, and the burn update waits for it', async () => {
    svc.otsEmulator!.injectFault({
      method: 'POST',
      path: '/api/v1/share',
      times: 1,
      status: 404,
      headers: { 'X-OTS-Intended-Status': '401' },
      body: { message: 'Not authorized' },
    });
    const { shareId, handle } = await startShare();
    await svc.waitForState(shareId, 'needs_technician');
    const after = await handle.executeUpdate(burnUpdate, { args: [{ by: 'agent API' }] });
    expect(after.state).toBe('burned');
    expect(after.notes.at(-1)!.text).toMatch(/before a secret existed; nothing was sent/);
    expect((await handle.result()).state).toBe('burned');
  });

  it('a failed burn waits for a technician; retry burns it and the link no longer opens', async () => {
    const { shareId, handle, input } = await startShare();
    await svc.waitForState(shareId, 'awaiting_view');
    const link = svc.linkSentTo(input.link.to);
    svc.otsEmulator!.injectFault({
      method: 'POST',
      path: `/api/v1/private/${lastReceiptKey()}/burn`,
      times: 1,
      status: 404,
      headers: { 'X-OTS-Intended-Status': '401' },
      body: { message: 'Not authorized' },
    });
    const blocked = await handle.executeUpdate(burnUpdate, { args: [{ by: 'agent API' }] });
    expect(blocked.state).toBe('needs_technician');
    expect(blocked.notes.at(-1)!.text).toMatch(/Burning the Onetime Secret failed \(OTS_AUTH/);
    await handle.signal(resolveSignal, { action: 'retry', by: 'tech@example.com' });
    expect((await handle.result()).state).toBe('burned');
    await expect(svc.openLink(link)).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
  });

  it('malformed signals and an update without arguments do not wedge the workflow', async () => {
    const { shareId, handle } = await startShare();
    await svc.waitForState(shareId, 'awaiting_view');
    await handle.signal('smsStatus');
    await handle.signal('smsStatus', { messageSid: 42, status: 'exploded' });
    await handle.signal('resolve', 'nonsense');
    const after = await handle.executeUpdate<ShareStatus, []>('burnSecret');
    expect(after.state).toBe('burned');
    expect(after.notes.at(-1)!.text).toMatch(/at the request of agent API/);
  });

  it('an undelivered passphrase SMS pauses for a technician, and a retry sends the passphrase again', async () => {
    const ppTo = '+15550208888';
    svc.twilioFake!.undeliverable.add(ppTo);
    const { shareId, handle } = await startShare({
      link: { channel: 'email', to: 'caller@example.com' },
      passphrase: { mode: 'sms', to: ppTo },
      secret: { value: svc.sealer.seal('Pp-Retry-Secret-1'), passphrase: svc.sealer.seal('482913570164') },
      value: 'Pp-Retry-Secret-1',
    });
    scanned.secrets.push('482913570164');
    const paused = await svc.waitForState(shareId, 'needs_technician');
    expect(paused.notes.at(-1)!.text).toMatch(/Delivering the passphrase SMS failed \(SMS_UNDELIVERED/);
    svc.twilioFake!.undeliverable.delete(ppTo);
    await handle.signal(resolveSignal, { action: 'retry', by: 'tech@example.com' });
    await svc.waitFor(
      shareId,
      (s) => s.state === 'awaiting_view' && s.notes.filter((n) => /Passphrase sent by SMS/.test(n.text)).length === 2,
    );
    const sent = svc.twilioFake!.outbox().filter((m) => m.to === ppTo);
    expect(sent).toHaveLength(2);
    scanned.allowSms = new Set(sent.map((m) => m.sid));
    await handle.signal(burnSignal, {});
    expect((await handle.result()).state).toBe('burned');
  });
});
