// shareSecret's decisions, on Temporal's time-skipping test server with in-memory activities
// (test/helpers/time-skipping.ts): delivery, the watch and its poll schedule, expiry, technician pauses and their
// resolutions, the create recovery window, and burning and cancellation in Temporal at every stage. Each test names the behaviour it proves.
// A 24 h watch runs in about a second: the server jumps its clock to the next timer whenever the workflow is idle.
import { randomBytes } from 'node:crypto';
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLL_INTERVALS_TEXT } from '../../src/config.js';
import { handoffContext } from '../../src/seal.js';
import { createMarkerOf } from '../../workflows/failures.js';
import {
  burnMaterialQuery,
  burnSignal,
  burnUpdate,
  receiptChangedSignal,
  resolveSignal,
  smsStatusSignal,
} from '../../workflows/messages.js';
import type { ShareStatus } from '../../workflows/types.js';
import {
  fail,
  readUntilCancelled,
  startHarness,
  timeSkippingUnavailable,
  times,
  undelivered,
  type Handoff,
  type Harness,
  type Script,
  type Step,
} from '../helpers/time-skipping.js';

const unavailable = timeSkippingUnavailable();
if (unavailable) console.warn(`test/workflows/share-secret.test.ts skipped: ${unavailable}`);

const TECH = 'tech@example.com';
const lastNote = (s: ShareStatus) => s.notes.at(-1)!;
/** What the workflows reported through the metrics sink so far (src/metrics.ts handoffMetricsSink). */
async function sinkFigures(h: Harness) {
  const value = async (
    metric: { get(): Promise<{ values: { labels: object; value: number; metricName?: string }[] }> },
    name: string,
    labels: object = {},
  ) =>
    (await metric.get()).values.find(
      (v) => (v.metricName ?? name) === name && JSON.stringify(v.labels) === JSON.stringify(labels),
    )?.value ?? 0;
  const m = h.metrics;
  return {
    viewed: await value(m.handoffFinished, 'handoff_finished_total', { state: 'viewed' }),
    expired: await value(m.handoffFinished, 'handoff_finished_total', { state: 'expired' }),
    viewedSeconds: await value(m.handoffDuration, 'handoff_duration_seconds_sum', { state: 'viewed' }),
    linkSentCount: await value(m.handoffLinkSent, 'handoff_link_sent_seconds_count'),
    linkSentSum: await value(m.handoffLinkSent, 'handoff_link_sent_seconds_sum'),
  };
}
/** Seconds from the hand-off's create to each receipt check (server clock). */
/**
 * How late a check may come after its timer (server clock): the workflow task and the activity's scheduling run at
 * wall-clock pace on a busy machine. Well below the smallest difference the schedules under test make (5 s).
 */
const SLACK_S = 2;
const checkOffsets = (t: Handoff) =>
  t.callsOf('checkSecret').map((c) => (c.atMs - t.callsOf('createSecret')[0]!.atMs) / 1000);
/** A step that lets the default behaviour run after doing `first` (e.g. a burn request arriving meanwhile). */
const meanwhile =
  (first: (t: Handoff) => Promise<unknown>): Step =>
  async (c) => {
    await first(c.handoff);
    return c.proceed();
  };

describe.skipIf(unavailable)('shareSecret on the time-skipping test server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.stop());
  afterEach(async () => h?.cleanup());

  describe('delivery and the watch', () => {
    it('SMS link: one secret, the sealed link passed through to the SMS, watched until opened, ends viewed with notes', async () => {
      const t = await h.start({}, { openAfterMs: 100_000 });
      const result = await t.result();
      expect(result.state).toBe('viewed');

      const [create] = t.callsOf('createSecret');
      expect(t.callsOf('createSecret')).toHaveLength(1);
      // The secret stays sealed through the workflow: the activity gets the input as the API signed it, untouched.
      expect(create!.args.input).toEqual({ ...t.input });
      expect(create!.args.recover).toBeUndefined();
      const [sms] = t.callsOf('sendLinkSms');
      expect(t.callsOf('sendLinkSms')).toHaveLength(1);
      const binding = { shareId: t.input.shareId, link: t.input.link, passphrase: t.input.passphrase };
      expect(h.sealer.open(sms!.args.link, handoffContext('link', binding))).toBe(t.secrets[0]!.link);
      expect(sms!.args).toMatchObject({
        binding,
        statusCallback: t.input.smsStatusCallback,
        expiresAt: result.expiresAt,
      });
      expect(sms!.args.passphraseVia).toBeUndefined();
      expect(t.callsOf('sendPassphraseSms')).toHaveLength(0);

      expect(result.viewedAt).toBe(new Date(t.secrets[0]!.openedMs!).toISOString());
      const status = await t.status();
      expect(status.link).toMatchObject({ channel: 'sms', to: expect.stringMatching(/^\+155\*+\d{3}$/) });
      expect(status.link.sentAt).toBeDefined();
      expect(status.notes.some((n) => n.followUp)).toBe(false);
      expect(await t.noteText()).toMatch(
        /Onetime Secret created \(receipt \w{8}…, no passphrase\)[\s\S]*Link sent by SMS to \+155\*+\d{3} \(message SM[0-9a-f]{32}\)[\s\S]*Link opened at/,
      );
      // The first check after 60 s (pollIntervals [60]); the link was opened at 100 s and seen at the 120 s check.
      const offsets = checkOffsets(t);
      expect(offsets).toHaveLength(2);
      offsets.forEach((o, i) => expect(Math.abs(o - [60, 120][i]!), `check ${i + 1} at ${o} s`).toBeLessThan(SLACK_S));
    });

    it('reports through the metrics sink: the link sent, then the final state and the time since the request', async () => {
      const before = await sinkFigures(h);
      const t = await h.start({}, { openAfterMs: 100_000 });
      expect((await t.result()).state).toBe('viewed');
      const after = await sinkFigures(h);
      expect(after.viewed - before.viewed).toBe(1);
      expect(after.expired - before.expired).toBe(0);
      expect(after.linkSentCount - before.linkSentCount).toBe(1);
      // Server time: the link went out at once, the opening was seen at the 120 s check.
      expect(after.linkSentSum - before.linkSentSum).toBeLessThan(SLACK_S);
      expect(Math.abs(after.viewedSeconds - before.viewedSeconds - 120)).toBeLessThan(SLACK_S);
    });

    it('email link with a passphrase by SMS: OTS mails the link (recipient), the sealed passphrase goes by SMS', async () => {
      const t = await h.start(
        {
          link: { channel: 'email', to: 'caller@example.com' },
          passphrase: { mode: 'sms', to: '+15550208888' },
          passphraseValue: '482913570164',
        },
        { openAfterMs: 30_000 },
      );
      const done = await t.result();
      expect(done.state).toBe('viewed');
      expect(t.callsOf('createSecret')[0]!.args.input).toMatchObject({
        link: { channel: 'email', to: 'caller@example.com' },
        secret: t.input.secret,
      });
      expect(t.callsOf('sendLinkSms')).toHaveLength(0);
      const pp = t.callsOf('sendPassphraseSms');
      expect(pp).toHaveLength(1);
      expect(t.sms.map((m) => m.to)).toEqual(['+15550208888']);
      expect(pp[0]!.args).toEqual({
        binding: { shareId: t.input.shareId, link: t.input.link, passphrase: t.input.passphrase },
        passphrase: t.input.secret.passphrase,
        statusCallback: t.input.smsStatusCallback,
      });
      const status = await t.status();
      expect(status.link).toMatchObject({ channel: 'email', to: 'c***@e***.com' });
      expect(status.passphrase).toMatchObject({ mode: 'sms', deliveredAt: expect.any(String) });
      expect(await t.noteText()).toMatch(
        /passphrase required[\s\S]*Link sent by email \(by Onetime Secret\) to c\*\*\*@e\*\*\*\.com[\s\S]*Passphrase sent by SMS to \+155\*+888 \(message SM[0-9a-f]{32}; a different channel from the link\)[\s\S]*Link opened at/,
      );
    });

    it('out-of-order and duplicated SMS status callbacks keep the most advanced status', async () => {
      const t = await h.start();
      await t.untilState('awaiting_view');
      const sid = t.sms[0]!.sid;
      for (const status of ['delivered', 'sent', 'queued', 'delivered'] as const)
        await t.handle.signal(smsStatusSignal, { messageSid: sid, status });
      expect((await t.until((s) => s.link.deliveryStatus !== undefined)).link.deliveryStatus).toBe('delivered');
      // A failure reported after delivery changes nothing (terminal), and no technician is called.
      await t.handle.signal(smsStatusSignal, { messageSid: sid, status: 'undelivered', errorCode: '30003' });
      await t.handle.signal(smsStatusSignal, { messageSid: sid, status: 'read' });
      const s = await t.until((x) => x.link.deliveryStatus === 'read');
      expect(s.state).toBe('awaiting_view');
      await t.handle.signal(burnSignal, { by: TECH });
      expect((await t.result()).state).toBe('burned');
    });

    it('malformed signals and an update without arguments do not wedge the workflow, and change nothing', async () => {
      const t = await h.start();
      await t.untilState('awaiting_view');
      await t.handle.signal('smsStatus');
      await t.handle.signal('smsStatus', { messageSid: 42, status: 'exploded' });
      await t.handle.signal('smsStatus', { messageSid: '__proto__', status: 'failed' });
      await t.handle.signal('resolve', 'nonsense');
      await t.handle.signal('callLine', 'nonsense');
      // A stream on a task queue that is not one of this deployment's voice queues is not believed.
      await t.handle.signal('callLine', { live: true, taskQueue: 'attacker-queue', streamSid: 'MZ1' });
      // A burn must say who asks; a bare one (as `temporal workflow signal --name burn` sends) is ignored.
      await t.handle.signal('burn');
      await t.handle.signal('burn', { by: '' });
      await expect(t.handle.executeUpdate<ShareStatus, []>('burnSecret')).rejects.toMatchObject({
        cause: { type: 'NOT_FOUND' },
      });
      await h.skip(120_000);
      const s = await t.status();
      expect(s.state).toBe('awaiting_view');
      expect(t.callsOf('burnSecret')).toHaveLength(0);
      const after = await t.handle.executeUpdate(burnUpdate, { args: [{ by: 'agent API', agent: t.input.agent }] });
      expect(after.state).toBe('burned');
      expect(lastNote(after).text).toMatch(/at the request of agent API/);
    });
  });

  describe('expiry and the poll schedule', () => {
    it("while a process watches the receipt live, the timers check once a minute, and the process's signal makes the check at once", async () => {
      const t = await h.start(
        { ttlSeconds: 86_400, pollIntervals: DEFAULT_POLL_INTERVALS_TEXT.split(',').map(Number) },
        { liveWatched: true, openAfterMs: 200_000 },
      );
      // The live window's fallback checks (about 60 s, 120 s, 180 s after the link), then the opening at 200 s,
      // seen by the process's list and signalled at 215 s: the schedule alone would have seen it at 240 s.
      await h.skip(215_000);
      await t.handle.signal(receiptChangedSignal);
      const result = await t.result();
      expect(result.state).toBe('viewed');
      const offsets = checkOffsets(t);
      const beforeSignal = offsets.slice(0, -1);
      expect(beforeSignal.length).toBeGreaterThanOrEqual(2);
      expect(beforeSignal.length).toBeLessThanOrEqual(3);
      beforeSignal.forEach((o, i) => expect(o - (i === 0 ? 0 : beforeSignal[i - 1]!)).toBeGreaterThanOrEqual(59));
      expect(offsets.at(-1)!).toBeGreaterThanOrEqual(215 - SLACK_S);
      expect(offsets.at(-1)!).toBeLessThan(215 + SLACK_S);
      expect(t.callsOf('watchReceipt')).toHaveLength(1);
      // The checks renew the live registration for what is left of the 10 minutes.
      expect(t.callsOf('checkSecret')[0]!.args.liveForMs).toBeGreaterThan(500_000);
    });

    it('a 24 h link never opened: checked on the default schedule (28 checks, the last just after expiry), then expired with a follow-up and no second secret', async () => {
      const t = await h.start({
        ttlSeconds: 86_400,
        pollIntervals: DEFAULT_POLL_INTERVALS_TEXT.split(',').map(Number),
      });
      const result = await t.result();
      expect(result.state).toBe('expired');
      // The schedule's delays between checks: 15 s ×8, 30 s ×2, 60 s ×7 (to 10 min), 5 min, 10 min, 30 min, 1 h,
      // 2 h, then every 4 h; but the last check comes 1 s after the expiry instead of 4 h later.
      const checks = t.callsOf('checkSecret');
      const expected = [15, 15, 15, 15, 15, 15, 15, 15, 30, 30, 60, 60, 60, 60, 60, 60, 60, 300, 600, 1800, 3600, 7200];
      expected.push(14_400, 14_400, 14_400, 14_400, 14_400);
      expect(checks).toHaveLength(expected.length + 1);
      const gaps = checks.map(
        (c, i) => (c.atMs - (i === 0 ? t.callsOf('createSecret')[0]!.atMs : checks[i - 1]!.atMs)) / 1000,
      );
      gaps
        .slice(0, -1)
        .forEach((g, i) =>
          expect(Math.abs(g - expected[i]!), `check ${i + 1}, ${g} s after the last`).toBeLessThan(SLACK_S),
        );
      const lastCheckAfterExpiryMs = checks.at(-1)!.atMs - t.secrets[0]!.expiresMs;
      expect(lastCheckAfterExpiryMs).toBeGreaterThanOrEqual(1000);
      expect(lastCheckAfterExpiryMs).toBeLessThan(1000 + SLACK_S * 1000);
      expect(t.callsOf('createSecret')).toHaveLength(1);
      const last = lastNote(await t.status());
      expect(last.followUp).toBe(true);
      expect(last.text).toBe(
        `Link expired unopened at ${result.expiresAt}. Technician follow-up needed: contact the caller. No new secret was created.`,
      );
    });

    it('a check is never scheduled past the expiry, and a receipt still "new" after it is checked again 5 s later (the floor), not in a tight loop', async () => {
      const t = await h.start(
        { ttlSeconds: 200, pollIntervals: [10, 30, 60] },
        // The check just after the expiry finds the receipt still "new" (OTS's clock behind ours).
        { steps: { checkSecret: [...times(4, (c) => c.proceed()), () => ({ state: 'new' })] } },
      );
      expect((await t.result()).state).toBe('expired');
      // Delays 10, 30, 60 s; the next 60 s would pass the expiry at 200 s, so the check comes at 201 s; OTS still says
      // "new", and the next check comes after the floor of 5 s.
      const checks = t.callsOf('checkSecret');
      const expected = [10, 40, 100, 160, 201, 206];
      expect(checks).toHaveLength(expected.length);
      checks.forEach((c, i) => {
        const s = (c.atMs - t.secrets[0]!.createdMs) / 1000;
        expect(s - expected[i]!, `check ${i + 1} at ${s} s`).toBeGreaterThanOrEqual(0);
        expect(s - expected[i]!, `check ${i + 1} at ${s} s`).toBeLessThan(SLACK_S);
      });
    });

    it('a secret gone before its expiry was burned elsewhere: the hand-off ends burned, flagged for follow-up', async () => {
      const t = await h.start({}, { steps: { checkSecret: [() => ({ state: 'gone' })] } });
      expect((await t.result()).state).toBe('burned');
      const last = lastNote(await t.status());
      expect(last).toMatchObject({ followUp: true });
      expect(last.text).toMatch(/vanished from Onetime Secret before it expired/);
      expect(t.callsOf('burnSecret')).toHaveLength(0);
    });

    it('a receipt burned in Onetime Secret directly ends the hand-off burned', async () => {
      const t = await h.start({}, { steps: { checkSecret: [() => ({ state: 'burned' })] } });
      expect((await t.result()).state).toBe('burned');
      expect(lastNote(await t.status()).text).toBe('The secret was burned in Onetime Secret outside this hand-off.');
    });
  });

  describe('technician pauses', () => {
    it('an OTS error on create pauses for a technician with a note and sends nothing; a technician retry completes it', async () => {
      const t = await h.start(
        {},
        { steps: { createSecret: [fail('OTS_AUTH', 'refused', { nonRetryable: true, message: 'Not authorized' })] } },
      );
      const paused = await t.untilState('needs_technician');
      expect(lastNote(paused).followUp).toBe(true);
      expect(lastNote(paused).text).toBe(
        'Creating the Onetime Secret failed (OTS_AUTH: Not authorized). No cleartext fallback: the hand-off is ' +
          'paused until a technician resolves it (signal "resolve" with action retry, delivered_manually or cancel).',
      );
      expect(t.callsOf('createSecret')).toHaveLength(1); // not retried: non-retryable
      expect(t.callsOf('sendLinkSms')).toHaveLength(0);

      await t.handle.signal(resolveSignal, { action: 'retry', by: TECH });
      const resumed = await t.untilState('awaiting_view');
      expect(resumed.notes.map((n) => n.text).join('\n')).toMatch(
        /Technician decision: retry by tech@example\.com\.[\s\S]*Onetime Secret created[\s\S]*Link sent by SMS/,
      );
      expect(t.callsOf('createSecret')).toHaveLength(2);
      expect(t.callsOf('sendLinkSms')).toHaveLength(1);
      await t.handle.signal(burnSignal, { by: TECH });
      expect((await t.result()).state).toBe('burned');
    });

    it('retryable OTS failures are retried 5 times, Retry-After replacing the backoff, then handed to a technician, who can cancel', async () => {
      const t = await h.start(
        {},
        { steps: { createSecret: times(5, fail('OTS_RATE_LIMITED', 'refused', { nextRetryDelay: '300ms' })) } },
      );
      const paused = await t.untilState('needs_technician');
      const attempts = t.callsOf('createSecret');
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5]);
      // Retry backoffs run at wall-clock pace on the test server; the policy's own first delays are 1 s, 2 s, 4 s.
      for (let i = 1; i < attempts.length; i++)
        expect(attempts[i]!.ranAtMs - attempts[i - 1]!.ranAtMs).toBeGreaterThanOrEqual(300);
      expect(attempts[4]!.ranAtMs - attempts[0]!.ranAtMs).toBeLessThan(10_000); // the policy alone: 15 s
      expect(lastNote(paused).text).toMatch(/^Creating the Onetime Secret failed \(OTS_RATE_LIMITED: /);

      await t.handle.signal(resolveSignal, { action: 'cancel', by: TECH, comment: 'caller gone' });
      expect((await t.result()).state).toBe('cancelled');
      expect(lastNote(await t.status()).text).toBe('Technician decision: cancel by tech@example.com (caller gone).');
      expect(t.callsOf('burnSecret')).toHaveLength(0); // no secret to burn
      expect(t.callsOf('sendLinkSms')).toHaveLength(0);
    });

    it('an SMS send that fails pauses with the link unsent; a technician retry sends it', async () => {
      const t = await h.start(
        {},
        { steps: { sendLinkSms: [fail('SMS_REJECTED', 'refused', { nonRetryable: true, message: 'rejected' })] } },
      );
      const paused = await t.untilState('needs_technician');
      expect(lastNote(paused).text).toMatch(
        /^Sending the link by SMS failed \(SMS_REJECTED: rejected\)\. No cleartext/,
      );
      expect(paused.link.sentAt).toBeUndefined();
      await t.handle.signal(resolveSignal, { action: 'retry' });
      const resumed = await t.untilState('awaiting_view');
      expect(resumed.link.sentAt).toBeDefined();
      expect(t.callsOf('sendLinkSms')).toHaveLength(2);
      expect(t.callsOf('createSecret')).toHaveLength(1); // the secret is not made again
    });

    it('an undelivered link SMS pauses for a technician; delivered_manually burns the link and resolves it', async () => {
      const t = await h.start({}, { steps: { sendLinkSms: [undelivered('30003')] } });
      const paused = await t.untilState('needs_technician');
      expect(paused.link.deliveryStatus).toBe('undelivered');
      expect(lastNote(paused).text).toMatch(
        /^Delivering the link SMS failed \(SMS_UNDELIVERED: Twilio reported undelivered \(error 30003\) for message SM[0-9a-f]{32}\)/,
      );
      await t.handle.signal(resolveSignal, { action: 'delivered_manually', by: TECH });
      expect((await t.result()).state).toBe('resolved');
      expect(t.callsOf('burnSecret').map((c) => t.receiptKey(c.args))).toEqual([t.secrets[0]!.metadataKey]);
      expect(t.secrets[0]!.burned).toBe(true);
      expect(await t.noteText()).toMatch(
        /Technician decision: delivered_manually by tech@example\.com\.\nThe Onetime Secret was burned so the link no longer opens\./,
      );
    });

    it('an undelivered passphrase SMS pauses for a technician, and a retry sends the passphrase again', async () => {
      const t = await h.start(
        {
          link: { channel: 'email', to: 'caller@example.com' },
          passphrase: { mode: 'sms', to: '+15550208888' },
          passphraseValue: '482913570164',
        },
        { steps: { sendPassphraseSms: [undelivered('30005', 'failed')] } },
      );
      const paused = await t.untilState('needs_technician');
      expect(lastNote(paused).text).toMatch(
        /^Delivering the passphrase SMS failed \(SMS_UNDELIVERED: Twilio reported failed \(error 30005\)/,
      );
      await t.handle.signal(resolveSignal, { action: 'retry', by: TECH });
      const resumed = await t.until(
        (s) => s.state === 'awaiting_view' && s.notes.filter((n) => /Passphrase sent by SMS/.test(n.text)).length === 2,
      );
      expect(resumed.state).toBe('awaiting_view');
      const sent = t.callsOf('sendPassphraseSms');
      expect(sent).toHaveLength(2);
      expect(sent[1]!.args).toEqual(sent[0]!.args);
      await t.handle.signal(burnSignal, { by: TECH });
      expect((await t.result()).state).toBe('burned');
    });

    it('a receipt check that keeps failing pauses the watch; a retry goes back to watching', async () => {
      const t = await h.start(
        {},
        { steps: { checkSecret: [fail('OTS_BAD_RESPONSE', 'unknown', { nonRetryable: true, message: 'garbled' })] } },
      );
      const paused = await t.untilState('needs_technician', { skipMs: 30_000 });
      expect(lastNote(paused).text).toMatch(
        /^Checking the secret in Onetime Secret failed \(OTS_BAD_RESPONSE: garbled\)/,
      );
      await t.handle.signal(resolveSignal, { action: 'retry' });
      await t.untilState('awaiting_view');
      t.open();
      expect((await t.result()).state).toBe('viewed');
    });

    it('a decision sent while nothing is paused is ignored, and does not answer a later pause', async () => {
      const t = await h.start(
        {},
        { steps: { checkSecret: [fail('OTS_UNAVAILABLE', 'unknown', { nonRetryable: true })] } },
      );
      await t.untilState('awaiting_view');
      await t.handle.signal(resolveSignal, { action: 'cancel' });
      const paused = await t.untilState('needs_technician', { skipMs: 30_000 });
      expect(paused.notes.some((n) => /Technician decision/.test(n.text))).toBe(false);
      await t.handle.signal(resolveSignal, { action: 'retry' });
      const resumed = await t.untilState('awaiting_view');
      expect(resumed.notes.filter((n) => /Technician decision/.test(n.text)).map((n) => n.text)).toEqual([
        'Technician decision: retry.',
      ]);
    });
  });

  describe('the create recovery window on a technician retry', () => {
    it('after unknown failures the retried create is given the window of the failed tries (recover), from the first; what it finds again is noted', async () => {
      const unknown = fail('OTS_UNAVAILABLE', 'unknown', { nonRetryable: true });
      const t = await h.start(
        {},
        {
          steps: {
            createSecret: [unknown, unknown, async (c) => ({ ...(await c.proceed()), recovered: true as const })],
          },
        },
      );
      for (let i = 0; i < 2; i++) {
        await t.until((s) => s.state === 'needs_technician' && t.callsOf('createSecret').length === i + 1);
        await t.handle.signal(resolveSignal, { action: 'retry' });
      }
      await t.untilState('awaiting_view');
      const [first, second, third] = t.callsOf('createSecret');
      expect(first!.args.recover).toBeUndefined();
      expect(second!.args.recover).toEqual({ since: expect.any(Number), until: expect.any(Number) });
      expect(second!.args.recover.since).toBeLessThanOrEqual(first!.atMs);
      expect(second!.args.recover.until).toBeGreaterThanOrEqual(first!.atMs);
      expect(second!.args.recover.until).toBeLessThan(second!.atMs);
      // The window grows to cover every failed try, from the first one's start.
      expect(third!.args.recover.since).toBe(second!.args.recover.since);
      expect(third!.args.recover.until).toBeGreaterThanOrEqual(second!.atMs);
      expect(third!.args.recover.until).toBeLessThan(third!.atMs);
      expect(await t.noteText()).toMatch(
        /Onetime Secret created .*Found again after an attempt whose answer was lost; no second secret was created\./,
      );
    });

    it("a failed try's create marker goes to the retried create instead of its span, one per try", async () => {
      // createSecret attaches its last send's marker to its failure (activities/create-secret.ts, withMarker).
      const marked = (sentAt: number) => () => {
        throw ApplicationFailure.create({
          type: 'OTS_UNAVAILABLE',
          message: 'OTS_UNAVAILABLE (test)',
          nonRetryable: true,
          details: [{ outcome: 'unknown', createMarker: { sentAt, ttl: 86_321, exclusive: true } }],
        });
      };
      const t = await h.start(
        {},
        {
          steps: {
            createSecret: [marked(1_000), fail('OTS_UNAVAILABLE', 'unknown', { nonRetryable: true }), marked(3_000)],
          },
        },
      );
      for (let i = 0; i < 3; i++) {
        await t.until((s) => s.state === 'needs_technician' && t.callsOf('createSecret').length === i + 1);
        await t.handle.signal(resolveSignal, { action: 'retry' });
      }
      await t.untilState('awaiting_view');
      const [, second, third, fourth] = t.callsOf('createSecret');
      const m = (sentAt: number) => ({ sentAt, ttl: 86_321, exclusive: true });
      expect(second!.args.recover).toEqual({ markers: [m(1_000)] });
      // the try without a marker adds its span; the markers stay
      expect(third!.args.recover).toEqual({
        markers: [m(1_000)],
        since: expect.any(Number),
        until: expect.any(Number),
      });
      expect(fourth!.args.recover).toEqual({
        markers: [m(1_000), m(3_000)],
        since: third!.args.recover.since,
        until: third!.args.recover.until,
      });
    });

    it('a create killed mid-call (heartbeat timeout) hands over its last heartbeat as its marker', () => {
      const marker = { sentAt: 5, ttl: 86_321, exclusive: true };
      const timedOut = new ActivityFailure(
        'activity timed out',
        'createSecret',
        'act-1',
        RetryState.MAXIMUM_ATTEMPTS_REACHED,
        'worker',
        new TimeoutFailure('heartbeat', marker, TimeoutType.HEARTBEAT),
      );
      expect(createMarkerOf(timedOut)).toEqual(marker);
      expect(
        createMarkerOf(
          new ActivityFailure(
            'x',
            'createSecret',
            'a',
            RetryState.NON_RETRYABLE_FAILURE,
            'w',
            ApplicationFailure.create({ details: [{ outcome: 'unknown' }] }),
          ),
        ),
      ).toBeUndefined();
    });

    it('after a refused failure the retried create still looks: the refusal may have been the lookup, not the send', async () => {
      const t = await h.start(
        {},
        {
          steps: {
            createSecret: [
              fail('OTS_UNAVAILABLE', 'unknown', { nonRetryable: true }),
              fail('OTS_AUTH', 'refused', { nonRetryable: true }),
            ],
          },
        },
      );
      for (let i = 0; i < 2; i++) {
        await t.until((s) => s.state === 'needs_technician' && t.callsOf('createSecret').length === i + 1);
        await t.handle.signal(resolveSignal, { action: 'retry' });
      }
      await t.untilState('awaiting_view');
      expect(t.callsOf('createSecret').map((c) => c.args.recover === undefined)).toEqual([true, false, false]);
    });
  });

  describe('burning', () => {
    it('a burn before anything ran: no secret is created and nothing is sent', async () => {
      const t = await h.start({ burnAtStart: { by: TECH } });
      expect((await t.result()).state).toBe('burned');
      expect(t.callsOf('createSecret')).toHaveLength(0);
      expect(t.callsOf('sendLinkSms')).toHaveLength(0);
      expect(lastNote(await t.status()).text).toBe(
        'Burn requested by tech@example.com before a secret existed; nothing was sent.',
      );
    });

    it('a burn while the secret is being created: it is burned as soon as it exists, and the link is never sent', async () => {
      const t = await h.start(
        {},
        { steps: { createSecret: [meanwhile((x) => x.handle.signal(burnSignal, { by: TECH }))] } },
      );
      expect((await t.result()).state).toBe('burned');
      expect(t.callsOf('burnSecret').map((c) => t.receiptKey(c.args))).toEqual([t.secrets[0]!.metadataKey]);
      expect(t.callsOf('sendLinkSms')).toHaveLength(0);
      expect(lastNote(await t.status()).text).toBe(
        'Secret burned at the request of tech@example.com; the link no longer opens.',
      );
    });

    it('a burn while the passphrase is being sent: burned right after, never watched', async () => {
      const t = await h.start(
        {
          link: { channel: 'email', to: 'caller@example.com' },
          passphrase: { mode: 'sms', to: '+15550208888' },
          passphraseValue: '482913570164',
        },
        { steps: { sendPassphraseSms: [meanwhile((x) => x.handle.signal(burnSignal, { by: TECH }))] } },
      );
      expect((await t.result()).state).toBe('burned');
      expect(t.callsOf('burnSecret')).toHaveLength(1);
      expect(t.callsOf('checkSecret')).toHaveLength(0);
    });

    it('a burn while watching: the burn update answers with the final status, and a second one is refused', async () => {
      const t = await h.start();
      await t.untilState('awaiting_view');
      const byAgent = { by: `agent API (${t.input.agent})`, agent: t.input.agent };
      // Another agent's token is told there is no such hand-off, and nothing is burned.
      await expect(
        t.handle.executeUpdate(burnUpdate, { args: [{ by: 'agent API', agent: 'agt_ffffffffffff' }] }),
      ).rejects.toMatchObject({ cause: { type: 'NOT_FOUND' } });
      expect(t.callsOf('burnSecret')).toHaveLength(0);
      const after = await t.handle.executeUpdate(burnUpdate, { args: [byAgent] });
      expect(after.state).toBe('burned');
      expect(lastNote(after).text).toBe(
        `Secret burned at the request of agent API (${t.input.agent}); the link no longer opens.`,
      );
      expect(t.callsOf('burnSecret').map((c) => c.args)).toEqual([
        {
          binding: { shareId: t.input.shareId, link: t.input.link, passphrase: t.input.passphrase },
          receipt: expect.objectContaining({ sealed: 'v2' }),
        },
      ]);
      expect(t.receiptKey(t.callsOf('burnSecret')[0]!.args)).toBe(t.secrets[0]!.metadataKey);
      // The workflow has closed: an update to it answers "not found" (the API then reports the final state).
      await expect(t.handle.executeUpdate(burnUpdate, { args: [byAgent] })).rejects.toThrow();
      expect((await t.result()).state).toBe('burned');
    });

    it('a burn while paused for a technician before a secret exists ends burned, and the burn update waits for it', async () => {
      const t = await h.start({}, { steps: { createSecret: [fail('OTS_AUTH', 'refused', { nonRetryable: true })] } });
      await t.untilState('needs_technician');
      const after = await t.handle.executeUpdate(burnUpdate, { args: [{ by: 'agent API', agent: t.input.agent }] });
      expect(after.state).toBe('burned');
      expect(lastNote(after).text).toMatch(/before a secret existed; nothing was sent/);
      expect((await t.result()).state).toBe('burned');
      expect(t.callsOf('burnSecret')).toHaveLength(0);
    });

    it('a burn while paused after an undelivered SMS burns the secret that exists', async () => {
      const t = await h.start({}, { steps: { sendLinkSms: [undelivered()] } });
      await t.untilState('needs_technician');
      await t.handle.signal(burnSignal, { by: TECH });
      expect((await t.result()).state).toBe('burned');
      expect(t.secrets[0]!.burned).toBe(true);
      expect(await t.noteText()).toMatch(
        /Technician decision: cancel by tech@example\.com \(burn requested\)\.\nSecret burned at the request of tech@example\.com/,
      );
    });

    it('a failed burn waits for a technician (another burn request does not end that pause); retry burns it', async () => {
      const t = await h.start(
        {},
        { steps: { burnSecret: [fail('OTS_AUTH', 'refused', { nonRetryable: true, message: 'Not authorized' })] } },
      );
      await t.untilState('awaiting_view');
      const blocked = await t.handle.executeUpdate(burnUpdate, { args: [{ by: 'agent API', agent: t.input.agent }] });
      expect(blocked.state).toBe('needs_technician');
      expect(lastNote(blocked)).toMatchObject({ followUp: true });
      expect(lastNote(blocked).text).toMatch(/^Burning the Onetime Secret failed \(OTS_AUTH: Not authorized\)/);
      await t.handle.signal(burnSignal, { by: TECH });
      expect((await t.status()).state).toBe('needs_technician');
      await t.handle.signal(resolveSignal, { action: 'retry', by: TECH });
      expect((await t.result()).state).toBe('burned');
      expect(t.callsOf('burnSecret')).toHaveLength(2);
      expect(t.secrets[0]!.burned).toBe(true);
    });

    it('a failed burn that the technician does not retry is noted: the link stays live until it expires', async () => {
      const t = await h.start({}, { steps: { burnSecret: [fail('OTS_AUTH', 'refused', { nonRetryable: true })] } });
      await t.untilState('awaiting_view');
      await t.handle.signal(burnSignal, { by: TECH });
      await t.untilState('needs_technician');
      await t.handle.signal(resolveSignal, { action: 'cancel', by: TECH });
      const result = await t.result();
      expect(result.state).toBe('burned');
      const last = lastNote(await t.status());
      expect(last).toEqual({
        at: expect.any(String),
        text: `The link was NOT burned: it stays live until it expires at ${result.expiresAt}.`,
        followUp: true,
      });
    });

    it('a burn racing the caller opening the link ends viewed (the burn finds the secret gone, the receipt says received)', async () => {
      const t = await h.start();
      await t.untilState('awaiting_view');
      t.open();
      await t.handle.signal(burnSignal, { by: TECH });
      const result = await t.result();
      expect(result.state).toBe('viewed');
      expect(result.viewedAt).toBeDefined();
      expect(t.callsOf('burnSecret')).toHaveLength(1);
    });
  });

  describe('cancelled in Temporal (UI "Request Cancellation", temporal workflow cancel, handle.cancel())', () => {
    const CANCELLED_NOTE =
      /^Cancelled in Temporal \(a workflow cancellation request: Temporal UI, `temporal workflow cancel` or an API client; the requester's identity is in the history's WorkflowExecutionCancelRequested event\)/;
    /** Cancels the hand-off and waits for its end: Temporal status CANCELLED, state `cancelled`. */
    const cancelled = async (t: Handoff): Promise<ShareStatus> => {
      await t.handle.cancel();
      return ended(t);
    };
    const ended = async (t: Handoff): Promise<ShareStatus> => {
      await expect(t.result()).rejects.toThrow(/cancel/i);
      expect((await t.handle.describe()).status.name).toBe('CANCELLED');
      const s = await t.status();
      expect(s.state).toBe('cancelled');
      return s;
    };
    const neverPaused = (s: ShareStatus) =>
      expect(s.notes.some((n) => /^Technician decision|paused until a technician/.test(n.text))).toBe(false);
    const history = async (t: Handoff) => (await t.handle.fetchHistory()).events ?? [];
    /**
     * A step that cancels the workflow while its activity runs, then finishes once the workflow has asked for the
     * activity to be cancelled (or, for an activity the workflow does not cancel, at once). Completing before that
     * request is recorded makes the test server refuse the request (ACTIVITY_UNKNOWN), unlike the real server.
     */
    const cancelsDuring =
      (opts: { activityCancelled?: boolean } = {}): Step =>
      async (c) => {
        await c.handoff.handle.cancel();
        if (opts.activityCancelled ?? true) {
          for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
            if ((await history(c.handoff)).some((e) => e.activityTaskCancelRequestedEventAttributes)) break;
            await new Promise((r) => setTimeout(r, 15));
          }
        }
        return c.proceed();
      };

    it('while watching: the secret is burned in a non-cancellable scope, noted, and the workflow ends CANCELLED', async () => {
      const t = await h.start();
      await t.untilState('awaiting_view');
      const s = await cancelled(t);
      neverPaused(s);
      expect(t.callsOf('burnSecret').map((c) => t.receiptKey(c.args))).toEqual([t.secrets[0]!.metadataKey]);
      expect(t.secrets[0]!.burned).toBe(true);
      expect(lastNote(s).text).toMatch(CANCELLED_NOTE);
      expect(lastNote(s).text).toMatch(/\. The secret was burned: the link no longer opens\.$/);
      expect(lastNote(s).followUp).toBeUndefined();
      // Nothing left for a direct burn.
      expect(await t.handle.query(burnMaterialQuery)).toEqual({});
    });

    it('while the secret is being created: the create is not cancelled, and what it made is burned; the link is never sent', async () => {
      const t = await h.start({}, { steps: { createSecret: [cancelsDuring({ activityCancelled: false })] } });
      const s = await ended(t);
      neverPaused(s);
      expect(t.callsOf('createSecret')).toHaveLength(1);
      expect((await history(t)).some((e) => e.activityTaskCancelRequestedEventAttributes)).toBe(false);
      expect(t.callsOf('burnSecret').map((c) => t.receiptKey(c.args))).toEqual([t.secrets[0]!.metadataKey]);
      expect(t.secrets[0]!.burned).toBe(true);
      expect(t.callsOf('sendLinkSms')).toHaveLength(0);
      expect(lastNote(s).text).toMatch(/The secret was burned: the link no longer opens\.$/);
    });

    it('while the link SMS is being sent: the link is burned and the watch never starts', async () => {
      const t = await h.start({}, { steps: { sendLinkSms: [cancelsDuring()] } });
      neverPaused(await ended(t));
      expect(t.secrets[0]!.burned).toBe(true);
      expect(t.callsOf('checkSecret')).toHaveLength(0);
    });

    it('while paused for a technician before a secret exists: nothing to burn, noted so', async () => {
      const t = await h.start({}, { steps: { createSecret: [fail('OTS_AUTH', 'refused', { nonRetryable: true })] } });
      await t.untilState('needs_technician');
      await t.handle.cancel();
      await expect(t.result()).rejects.toThrow(/cancel/i);
      expect((await t.handle.describe()).status.name).toBe('CANCELLED');
      const s = await t.status();
      expect(s.state).toBe('cancelled');
      expect(lastNote(s).text).toMatch(CANCELLED_NOTE);
      expect(lastNote(s).text).toMatch(/ before a secret was created; nothing was sent\.$/);
      expect(t.callsOf('burnSecret')).toHaveLength(0);
    });

    it('while paused after an undelivered SMS: the secret that exists is burned', async () => {
      const t = await h.start({}, { steps: { sendLinkSms: [undelivered()] } });
      await t.untilState('needs_technician');
      const s = await cancelled(t);
      expect(t.secrets[0]!.burned).toBe(true);
      expect(lastNote(s).text).toMatch(/The secret was burned: the link no longer opens\.$/);
    });

    it('a failed activity is no longer mistaken for a technician case: the cancelled receipt check ends CANCELLED', async () => {
      // A check that runs until it is cancelled: the workflow sees an ActivityFailure caused by a CancelledFailure.
      const t = await h.start(
        { pollIntervals: [1] },
        {
          steps: {
            checkSecret: [cancelsDuring()],
          },
        },
      );
      neverPaused(await ended(t));
      expect(t.secrets[0]!.burned).toBe(true);
    });

    it('a burn that fails during cancellation is retried by its own policy, and burns', async () => {
      const unavailable = fail('OTS_UNAVAILABLE', 'unknown');
      const t = await h.start({}, { steps: { burnSecret: [unavailable, unavailable] } });
      await t.untilState('awaiting_view');
      const s = await cancelled(t);
      expect(t.callsOf('burnSecret').map((c) => c.attempt)).toEqual([1, 2, 3]);
      expect(t.secrets[0]!.burned).toBe(true);
      expect(lastNote(s).text).toMatch(/The secret was burned/);
    });

    it('a burn that fails for good during cancellation: no technician pause, a follow-up note that the link stays live, and the burn material for the API', async () => {
      const t = await h.start(
        {},
        { steps: { burnSecret: [fail('OTS_AUTH', 'refused', { nonRetryable: true, message: 'Not authorized' })] } },
      );
      await t.untilState('awaiting_view');
      const s = await cancelled(t);
      neverPaused(s);
      expect(lastNote(s)).toEqual({
        at: expect.any(String),
        text: expect.stringMatching(CANCELLED_NOTE),
        followUp: true,
      });
      expect(lastNote(s).text).toContain(
        `. Burning the secret failed (OTS_AUTH: Not authorized): the link was NOT burned and stays live until it expires at ${s.expiresAt}. Burn it with POST /v1/shares/${t.input.shareId}/burn`,
      );
      expect(t.secrets[0]!.burned).toBeUndefined();
      // The closed workflow still answers what a direct burn needs (sealed, as it holds them).
      const material = await t.handle.query(burnMaterialQuery);
      expect(material.binding).toEqual({
        shareId: t.input.shareId,
        link: t.input.link,
        passphrase: t.input.passphrase,
      });
      expect(t.receiptKey({ binding: material.binding!, receipt: material.created!.receipt })).toBe(
        t.secrets[0]!.metadataKey,
      );
    });

    it('while a failed burn waits for a technician: the cancellation burns again with its own policy', async () => {
      const t = await h.start({}, { steps: { burnSecret: [fail('OTS_AUTH', 'refused', { nonRetryable: true })] } });
      await t.untilState('awaiting_view');
      await t.handle.signal(burnSignal, { by: TECH });
      await t.untilState('needs_technician');
      await cancelled(t);
      expect(t.callsOf('burnSecret')).toHaveLength(2);
      expect(t.secrets[0]!.burned).toBe(true);
    });

    it('a burn update waiting for the burn when the cancellation comes is refused, and the hand-off ends cancelled', async () => {
      const t = await h.start({}, { steps: { burnSecret: [cancelsDuring()] } });
      await t.untilState('awaiting_view');
      await expect(
        t.handle.executeUpdate(burnUpdate, { args: [{ by: 'agent API', agent: t.input.agent }] }),
      ).rejects.toThrow();
      const s = await ended(t);
      expect(t.secrets[0]!.burned).toBe(true);
      // The update's burn (cancelled with the workflow) and the cancellation's own.
      expect(t.callsOf('burnSecret')).toHaveLength(2);
      expect(lastNote(s).text).toMatch(CANCELLED_NOTE);
      expect(lastNote(s).text).toMatch(/the link no longer opens\.$/);
    });

    describe('with the passphrase read over the call (workflows/passphrase-voice.ts)', () => {
      const voiceHandoff = (steps: Script['steps'] = {}) => {
        const callSid = `CA${randomBytes(16).toString('hex')}`;
        return h.start(
          {
            passphrase: { mode: 'voice', callSid, format: 'digits' },
            passphraseValue: '482913570164',
            callWaitMs: 5_000,
          },
          { steps },
        );
      };
      /** The call's media stream starts on "a process" whose voice queue is the harness's. */
      const streamStarts = (t: Handoff) => h.streamStarts((t.input.passphrase as { callSid: string }).callSid);

      it('during the reading: the reading is cancelled (it clears the audio), the link burned, no fallback or technician', async () => {
        const reading = readUntilCancelled();
        const t = await voiceHandoff({ speakPassphrase: [reading.step] });
        await streamStarts(t);
        await t.until(() => t.callsOf('speakPassphrase').length === 1);
        const s = await cancelled(t);
        reading.stop();
        neverPaused(s);
        expect((await history(t)).some((e) => e.activityTaskCancelRequestedEventAttributes)).toBe(true);
        expect(t.secrets[0]!.burned).toBe(true);
        expect(s.passphrase.deliveredAt).toBeUndefined();
        expect(t.callsOf('sendPassphraseSms')).toHaveLength(0);
        expect(lastNote(s).text).toMatch(/The secret was burned: the link no longer opens\.$/);
      });

      it('while waiting for the call stream: burned without reading', async () => {
        const t = await voiceHandoff();
        await t.until(() => t.callsOf('awaitCall').length === 1);
        neverPaused(await cancelled(t));
        expect(t.callsOf('speakPassphrase')).toHaveLength(0);
        expect(t.secrets[0]!.burned).toBe(true);
      });

      it('while watching after the reading: the reading left nothing behind that wedges the cancelled workflow', async () => {
        const t = await voiceHandoff();
        await streamStarts(t);
        await t.until((x) => x.state === 'awaiting_view' && x.passphrase.deliveredAt !== undefined);
        neverPaused(await cancelled(t));
        expect(t.secrets[0]!.burned).toBe(true);
      });
    });
  });

  it('a note the PSA webhook refuses is kept in the workflow with a remark', async () => {
    const t = await h.start(
      { notesWebhook: true },
      { steps: { postNote: [fail('NOTES_UNAVAILABLE', 'unknown', { nonRetryable: true })] } },
    );
    await t.untilState('awaiting_view');
    const s = await t.status();
    expect(s.notes[0]!.text).toMatch(/^Onetime Secret created/);
    expect(s.notes[1]!.text).toBe('The PSA notes webhook did not accept the note above; it is kept here.');
    expect(t.callsOf('postNote').map((c) => c.args.note.text)).toEqual([s.notes[0]!.text, s.notes[2]!.text]);
    expect(t.callsOf('postNote')[0]!.args).toMatchObject({ shareId: t.input.shareId, ticketId: t.input.ticketId });
  });
});

describe.skipIf(unavailable)('long watches, on the dev server (it suggests continue-as-new after 60 events)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ on: 'dev-server' });
  });
  afterAll(async () => h?.stop());
  afterEach(async () => h?.cleanup());

  it('continue as new, keeping state and notes, and still end viewed when the link is opened', async () => {
    // The caller opens the link once the watch has continued as new: its first check in another run sees it.
    const openInSecondRun: Step = (c) => {
      if (c.runId !== c.handoff.firstRunId) c.handoff.open();
      return c.proceed();
    };
    const t = await h.start({ pollIntervals: [0.25] }, { steps: { checkSecret: times(30, openInSecondRun) } });
    const result = await t.result();
    expect(result.state).toBe('viewed');
    const runs = new Set(t.callsOf('checkSecret').map((c) => c.runId));
    expect(runs.size).toBe(2);
    expect((await t.handle.describe()).runId).not.toBe(t.firstRunId);
    expect(t.callsOf('createSecret')).toHaveLength(1);
    expect(t.callsOf('sendLinkSms')).toHaveLength(1);
    const s = await t.status();
    expect(s.link.sentAt).toBeDefined();
    expect(s.notes.map((n) => n.text).join('\n')).toMatch(
      /^Onetime Secret created[^\n]*\nLink sent by SMS[^\n]*\nLink opened at [^\n]*$/,
    );
    expect(result.viewedAt).toBe(new Date(t.secrets[0]!.openedMs!).toISOString());
  });

  it('reports the duration from the request, not from the continued run, and the link once', async () => {
    const before = await sinkFigures(h);
    const openInSecondRun: Step = (c) => {
      if (c.runId !== c.handoff.firstRunId) c.handoff.open();
      return c.proceed();
    };
    const t = await h.start({ pollIntervals: [0.25] }, { steps: { checkSecret: times(30, openInSecondRun) } });
    expect((await t.result()).state).toBe('viewed');
    const first = await h.env.client.workflow.getHandle(t.handle.workflowId, t.firstRunId).describe();
    const firstRunS = (first.closeTime!.getTime() - first.startTime.getTime()) / 1000;
    const after = await sinkFigures(h);
    expect(after.viewed - before.viewed).toBe(1);
    expect(after.viewedSeconds - before.viewedSeconds).toBeGreaterThanOrEqual(firstRunS);
    expect(after.linkSentCount - before.linkSentCount).toBe(1);
  });
});
