// The live-call passphrase decisions of shareSecret, with the real callSession workflow, on Temporal's
// time-skipping test server with in-memory activities (test/helpers/time-skipping.ts). The in-memory awaitCall
// registers with the call's session by signal-with-start, as the real one does; the test plays the media-stream
// handler and Twilio's call-status webhook by signalling that session; speakPassphrase runs on the task queue the
// session names ("the process holding the stream"). The fallback rule: when the passphrase cannot be read, it goes
// by SMS only if the link went by email, otherwise a technician decides; never on the link's channel.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { burnSignal, callEndedSignal, callQuery, resolveSignal } from '../../workflows/messages.js';
import { callWorkflowId } from '../../workflows/ids.js';
import type { CallSessionStatus, ShareStatus, SpokenPassphrase } from '../../workflows/types.js';
import {
  failure,
  readUntilCancelled,
  startHarness,
  timeSkippingUnavailable,
  type Handoff,
  type HandoffOptions,
  type Harness,
  type Script,
  type Step,
} from '../helpers/time-skipping.js';

const unavailable = timeSkippingUnavailable();
if (unavailable) console.warn(`test/workflows/share-voice.test.ts skipped: ${unavailable}`);

const lastNote = (s: ShareStatus) => s.notes.at(-1)!;
const newCallSid = () => `CA${randomBytes(16).toString('hex')}`;
const PASSPHRASE = '482913570164';
const FALLBACK_TO = '+15550307777';

describe.skipIf(unavailable)('voice passphrase on the time-skipping test server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.stop());
  afterEach(async () => h?.cleanup());

  /** A voice hand-off on call `callSid`; the link by SMS unless `link` says otherwise. */
  const voiceHandoff = (callSid: string, opts: HandoffOptions = {}, steps: Script['steps'] = {}) =>
    h.start(
      {
        passphrase: {
          mode: 'voice',
          callSid,
          format: 'digits',
          ...(opts.link?.channel === 'email' ? { fallbackTo: FALLBACK_TO } : {}),
        },
        passphraseValue: PASSPHRASE,
        callWaitMs: 5_000,
        ...opts,
      },
      { steps },
    );
  const session = (callSid: string) => h.env.client.workflow.getHandle(callWorkflowId(callSid));
  const callStatus = (callSid: string): Promise<CallSessionStatus | undefined> =>
    session(callSid)
      .query(callQuery)
      .catch(() => undefined);
  /** Waits until the hand-off has registered with the call's session (awaitCall). */
  const registered = async (t: Handoff, callSid: string) => {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      if ((await callStatus(callSid))?.waiting.includes(t.workflowId)) return;
      await new Promise((r) => setTimeout(r, 15));
    }
    throw new Error(`${t.workflowId} never registered with call ${callSid}`);
  };
  const streamStarts = (callSid: string) => h.streamStarts(callSid);
  const spoken =
    (outcome: SpokenPassphrase['outcome'], reason?: string): Step<SpokenPassphrase> =>
    () => ({ outcome, readings: outcome === 'heard' ? 1 : 0, ...(reason ? { reason } : {}) });

  it('read over the live call: the hand-off waits for the stream, the process holding it reads the sealed passphrase, noted as heard', async () => {
    const callSid = newCallSid();
    const t = await voiceHandoff(callSid);
    await registered(t, callSid);
    expect(await callStatus(callSid)).toMatchObject({ state: 'waiting_for_stream', waiting: [t.workflowId] });
    await streamStarts(callSid);
    const s = await t.until((x) => x.passphrase.deliveredAt !== undefined);
    expect(s.state).toBe('awaiting_view');

    expect(t.callsOf('awaitCall').map((c) => c.args)).toEqual([{ callSid, workflowId: t.workflowId }]);
    // The CallSid and format come from the binding the passphrase is sealed for (src/seal.ts).
    expect(t.callsOf('speakPassphrase').map((c) => c.args)).toEqual([
      {
        binding: { shareId: t.input.shareId, link: t.input.link, passphrase: t.input.passphrase },
        passphrase: t.input.secret.passphrase,
      },
    ]);
    // The link SMS tells the caller the passphrase comes on the call; no passphrase SMS.
    expect(t.callsOf('sendLinkSms')[0]!.args.passphraseVia).toBe('voice');
    expect(t.callsOf('sendPassphraseSms')).toHaveLength(0);
    expect(lastNote(s).text).toBe(
      `Passphrase read over the call at ${s.passphrase.deliveredAt} (1 reading; composed from recorded clips, never sent as text).`,
    );
    expect(await callStatus(callSid)).toMatchObject({ state: 'streaming', served: [t.workflowId], waiting: [] });
  });

  it('no media stream within the wait, link by email: the passphrase goes by SMS to fallbackTo, never the link channel', async () => {
    const callSid = newCallSid();
    const t = await voiceHandoff(callSid, { link: { channel: 'email', to: 'caller@example.com' } });
    const s = await t.until((x) => x.passphrase.deliveredAt !== undefined, { skipMs: 1_000 });
    expect(s.state).toBe('awaiting_view');
    expect(await t.noteText()).toMatch(
      new RegExp(
        `could not be read over the call \\(CALL_NOT_LIVE: no media stream for call ${callSid} within 5 s\\); sending it by SMS instead, as the link went by email\\.\\n` +
          `Passphrase sent by SMS to \\+155\\*+777 \\(message SM[0-9a-f]{32}; fallback after the call\\)`,
      ),
    );
    expect(t.callsOf('sendPassphraseSms').map((c) => c.args)).toEqual([
      {
        binding: { shareId: t.input.shareId, link: t.input.link, passphrase: t.input.passphrase },
        passphrase: t.input.secret.passphrase,
        statusCallback: t.input.smsStatusCallback,
      },
    ]);
    // The activity sends it where the binding allows: the fallback number (activities/delivery.ts).
    expect(t.sms.map((m) => [m.kind, m.to])).toEqual([['passphrase', FALLBACK_TO]]);
    expect(t.callsOf('speakPassphrase')).toHaveLength(0);
    // The call session knows the hand-off waited for it.
    expect(await callStatus(callSid)).toMatchObject({ state: 'waiting_for_stream', waiting: [t.workflowId] });
  });

  it('no media stream within the wait, link by SMS: a technician decides, and no passphrase SMS is sent', async () => {
    const callSid = newCallSid();
    const t = await voiceHandoff(callSid);
    const paused = await t.untilState('needs_technician', { skipMs: 1_000 });
    expect(lastNote(paused)).toMatchObject({ followUp: true });
    expect(lastNote(paused).text).toMatch(
      /^Reading the passphrase over the call failed \(CALL_NOT_LIVE: no media stream for call CA[0-9a-f]{32} within 5 s\. It is never sent on the link's channel/,
    );
    expect(t.callsOf('sendPassphraseSms')).toHaveLength(0);
  });

  it('the call ends before its stream, link by SMS: no passphrase SMS, a technician decides, and cancel burns the link', async () => {
    const callSid = newCallSid();
    const t = await voiceHandoff(callSid);
    await registered(t, callSid);
    await session(callSid).signal(callEndedSignal, { status: 'completed', at: new Date().toISOString() });
    const paused = await t.untilState('needs_technician');
    expect(lastNote(paused)).toMatchObject({ followUp: true });
    expect(lastNote(paused).text).toMatch(
      /^Reading the passphrase over the call failed \(CALL_ENDED: call completed\. It is never sent on the link's channel/,
    );
    expect(t.callsOf('sendLinkSms')).toHaveLength(1);
    expect(t.callsOf('sendPassphraseSms')).toHaveLength(0);
    await t.handle.signal(resolveSignal, { action: 'cancel', by: 'tech@example.com' });
    expect((await t.result()).state).toBe('cancelled');
    expect(t.secrets[0]!.burned).toBe(true);
  });

  it('the stream is on a process that no longer holds it (CALL_NOT_HERE), link by email: the fallback SMS goes out', async () => {
    const callSid = newCallSid();
    const notHere: Step = () => {
      throw failure('CALL_NOT_HERE', 'unknown', {
        nonRetryable: true,
        message: `this process holds no media stream for call ${callSid} (it stopped, or the call moved on)`,
      });
    };
    const t = await voiceHandoff(
      callSid,
      { link: { channel: 'email', to: 'caller2@example.com' } },
      { speakPassphrase: [notHere] },
    );
    await streamStarts(callSid); // before the hand-off registers: signal-with-start makes the order irrelevant
    const s = await t.until((x) => x.passphrase.deliveredAt !== undefined);
    expect(await t.noteText()).toMatch(
      /could not be read over the call \(CALL_NOT_HERE: this process holds no media stream for call CA[0-9a-f]{32}/,
    );
    expect(s.state).toBe('awaiting_view');
    expect(t.callsOf('sendPassphraseSms')).toHaveLength(1);
  });

  it('the caller hangs up during the reading, link by email: the passphrase goes by SMS instead', async () => {
    const callSid = newCallSid();
    const t = await voiceHandoff(
      callSid,
      { link: { channel: 'email', to: 'caller@example.com' } },
      { speakPassphrase: [spoken('hung_up')] },
    );
    await streamStarts(callSid);
    await t.until((x) => x.passphrase.deliveredAt !== undefined);
    expect(await t.noteText()).toMatch(
      /could not be read over the call \(CALL_ENDED: the caller hung up before the passphrase was read\); sending it by SMS instead/,
    );
    expect(t.sms.filter((m) => m.kind === 'passphrase').map((m) => m.to)).toEqual([FALLBACK_TO]);
  });

  it('a reading not heard, link by SMS: a technician decides; retry reads it again on the same call', async () => {
    const callSid = newCallSid();
    const t = await voiceHandoff(callSid, {}, { speakPassphrase: [spoken('not_heard', 'the stream stopped')] });
    await streamStarts(callSid);
    const paused = await t.untilState('needs_technician');
    expect(lastNote(paused).text).toMatch(
      /^Reading the passphrase over the call failed \(NOT_HEARD: the stream stopped\. It is never sent on the link's channel; retry if the caller is still on this call/,
    );
    await t.handle.signal(resolveSignal, { action: 'retry', by: 'tech@example.com' });
    const s = await t.until((x) => x.passphrase.deliveredAt !== undefined);
    expect(s.state).toBe('awaiting_view');
    expect(t.callsOf('awaitCall')).toHaveLength(2);
    expect(t.callsOf('speakPassphrase')).toHaveLength(2);
    expect(t.callsOf('sendPassphraseSms')).toHaveLength(0);
  });

  it('a burn while the passphrase is being read cancels the reading and burns the link', async () => {
    const callSid = newCallSid();
    const reading = readUntilCancelled();
    const t = await voiceHandoff(callSid, {}, { speakPassphrase: [reading.step] });
    await streamStarts(callSid);
    await t.until(() => t.callsOf('speakPassphrase').length === 1);
    await t.handle.signal(burnSignal, { by: 'tech@example.com' });
    expect((await t.result()).state).toBe('burned');
    reading.stop();
    // The workflow asked for the reading to stop (the activity is cancelled and clears the audio).
    const history = await t.handle.fetchHistory();
    expect(history.events?.some((e) => e.activityTaskCancelRequestedEventAttributes)).toBe(true);
    expect(t.secrets[0]!.burned).toBe(true);
    const s = await t.status();
    expect(s.passphrase.deliveredAt).toBeUndefined();
    expect(lastNote(s).text).toBe('Secret burned at the request of tech@example.com; the link no longer opens.');
  });

  it('a burn while waiting for the call stream ends burned without reading', async () => {
    const callSid = newCallSid();
    const t = await voiceHandoff(callSid);
    await registered(t, callSid);
    await t.handle.signal(burnSignal, { by: 'tech@example.com' });
    expect((await t.result()).state).toBe('burned');
    expect(t.callsOf('speakPassphrase')).toHaveLength(0);
    expect(t.secrets[0]!.burned).toBe(true);
  });

  it('a burn while the link SMS is being sent: the hand-off never waits for the call', async () => {
    const callSid = newCallSid();
    const t = await voiceHandoff(
      callSid,
      {},
      {
        sendLinkSms: [
          async (c) => {
            await c.handoff.handle.signal(burnSignal, { by: 'tech@example.com' });
            return c.proceed();
          },
        ],
      },
    );
    expect((await t.result()).state).toBe('burned');
    expect(t.callsOf('awaitCall')).toHaveLength(0);
    expect(t.secrets[0]!.burned).toBe(true);
  });
});
