// The Temporal side of the live-call passphrase, on the real dev server with the real service: a voice hand-off
// registers with the call's session (callSession, signal-with-start), waits for its media stream, and applies the
// fallback rule when the passphrase cannot be read: by SMS only if the link went by email, else a technician.
// (The reading itself, over a simulated call, is in test/e2e/voice.test.ts.)
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { callEndedSignal, callQuery, resolveSignal, streamStartedSignal } from '../../workflows/messages.js';
import { callWorkflowId, shareWorkflowId } from '../../workflows/ids.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { until } from '../helpers/voice.js';

let svc: TestService;
let scanned: { secrets: string[]; shareIds: string[]; allowSms?: Set<string> } | undefined;

beforeAll(async () => {
  svc = await startTestService({ VOICE_CALL_WAIT_SECONDS: '5' });
});
afterAll(async () => {
  await svc?.stop();
});
afterEach(async () => {
  if (scanned) await svc.expectNoLeaksIn(scanned);
  scanned = undefined;
});

const newCallSid = () => `CA${randomBytes(16).toString('hex')}`;
let n = 0;
const phone = () => `+1555030${String(++n).padStart(4, '0')}`;

async function share(body: Record<string, unknown>) {
  const secret = `Voice-Wf-${randomBytes(4).toString('hex')}`;
  const res = await svc.api('POST', '/v1/shares', {
    ticketId: `T-VW-${++n}`,
    secret: { value: secret },
    passphrase: 'voice',
    ...body,
  });
  expect(res.status, res.text).toBe(202);
  const shareId: string = res.body.shareId;
  return { shareId, secret, handle: svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId)) };
}

describe('voice passphrase: call sessions and the fallback rule', () => {
  it('no media stream within the wait, link by email: the passphrase goes by SMS to passphraseTo, never the link channel', async () => {
    const callSid = newCallSid();
    const to = phone();
    const { shareId, secret } = await share({
      link: { channel: 'email', to: 'caller@example.com' },
      callSid,
      passphraseTo: to,
    });
    const s = await svc.waitFor(shareId, (st) => st.passphrase.deliveredAt !== undefined, 20_000);
    expect(s.state).toBe('awaiting_view');
    const texts = s.notes.map((x) => x.text).join('\n');
    expect(texts).toMatch(
      /could not be read over the call \(CALL_NOT_LIVE: no media stream for call CA[0-9a-f]{32} within 5 s\); sending it by SMS/,
    );
    expect(texts).toMatch(
      /Passphrase sent by SMS to \+155\*+\d{3} \(message SM[0-9a-f]{32}; fallback after the call\)/,
    );
    const passphrase = await svc.passphraseOf(shareId);
    const sms = svc.twilioFake!.outbox().filter((m) => m.to === to);
    expect(sms).toHaveLength(1);
    expect(sms[0]!.body.replace(/\s/g, '')).toContain(passphrase);
    // The call session knows the hand-off waited for it.
    const call = await svc.temporal.client.workflow.getHandle(callWorkflowId(callSid)).query(callQuery);
    expect(call.waiting).toEqual([shareWorkflowId(shareId)]);
    expect(call.state).toBe('waiting_for_stream');
    scanned = { secrets: [secret, passphrase], shareIds: [shareId], allowSms: new Set([sms[0]!.sid]) };
  });

  it('the call ends before its stream, link by SMS: no passphrase SMS, a technician decides, and cancel burns the link', async () => {
    const callSid = newCallSid();
    const to = phone();
    const { shareId, secret, handle } = await share({ link: { channel: 'sms', to }, callSid });
    await svc.waitFor(shareId, (st) => st.link.sentAt !== undefined);
    // Once the hand-off has registered with the call's session, the call ends (Twilio's call-status callback).
    const session = svc.temporal.client.workflow.getHandle(callWorkflowId(callSid));
    await until(
      'the hand-off to register with the call session',
      async () =>
        Boolean((await session.query(callQuery).catch(() => undefined))?.waiting.includes(shareWorkflowId(shareId))),
      10_000,
      100,
    );
    await session.signal(callEndedSignal, { status: 'completed', at: new Date().toISOString() });
    const paused = await svc.waitForState(shareId, 'needs_technician');
    const last = paused.notes.at(-1)!;
    expect(last.followUp).toBe(true);
    expect(last.text).toMatch(
      /Reading the passphrase over the call failed \(CALL_ENDED: call completed\. It is never sent on the link's channel/,
    );
    // Only the link SMS went out: nothing else to that phone.
    expect(svc.twilioFake!.outbox().filter((m) => m.to === to)).toHaveLength(1);
    await handle.signal(resolveSignal, { action: 'cancel', by: 'tech@example.com' });
    expect((await handle.result()).state).toBe('cancelled');
    const passphrase = await svc.passphraseOf(shareId);
    scanned = { secrets: [secret, passphrase], shareIds: [shareId] };
  });

  it('a stream on a process that no longer holds it fails fast (CALL_NOT_HERE) and the fallback applies', async () => {
    const callSid = newCallSid();
    const to = phone();
    const { shareId, secret } = await share({
      link: { channel: 'email', to: 'caller2@example.com' },
      callSid,
      passphraseTo: to,
    });
    // The stream "started" on this very process's voice queue, but its media-stream server has no such call.
    await svc.temporal.client.workflow.signalWithStart('callSession', {
      workflowId: callWorkflowId(callSid),
      taskQueue: svc.config.TEMPORAL_TASK_QUEUE,
      args: [{ callSid }],
      signal: streamStartedSignal,
      signalArgs: [
        {
          streamSid: `MZ${randomBytes(16).toString('hex')}`,
          taskQueue: svc.voiceTaskQueue,
          at: new Date().toISOString(),
        },
      ],
    });
    const s = await svc.waitFor(shareId, (st) => st.passphrase.deliveredAt !== undefined);
    expect(s.notes.map((x) => x.text).join('\n')).toMatch(
      /could not be read over the call \(CALL_NOT_HERE: this process holds no media stream for call/,
    );
    const passphrase = await svc.passphraseOf(shareId);
    const sms = svc.twilioFake!.outbox().filter((m) => m.to === to);
    expect(sms).toHaveLength(1);
    scanned = { secrets: [secret, passphrase], shareIds: [shareId], allowSms: new Set([sms[0]!.sid]) };
  });

  it('refuses passphraseTo with a voice passphrase when the link goes by SMS', async () => {
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-VW-bad',
      secret: { value: 'x-never-used' },
      passphrase: 'voice',
      callSid: newCallSid(),
      link: { channel: 'sms', to: phone() },
      passphraseTo: phone(),
    });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([{ path: 'passphraseTo', message: expect.stringMatching(/link's channel/) }]);
  });
});
