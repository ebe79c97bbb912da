// Reading the passphrase over the live call, the voice branch of a hand-off's passphrase step: register with the
// call's session (workflows/call-session.ts), wait (bounded) for its media stream, then speak on the task queue of
// the process holding it, see docs/architecture.md ("Voice round trip"). If that fails, the fallback rule: by SMS
// only when the link went by email, otherwise a technician decides. Never on the link's channel: docs/decisions.md
// ("`passphraseTo` rules: never the link's channel").
import { ActivityFailure, CancellationScope, condition, isCancellation, workflowInfo } from '@temporalio/workflow';
import { failureReason } from './failures.js';
import type { Ending, Handoff } from './handoff.js';
import type { CallLine, PassphraseDelivery, SpokenPassphrase } from './types.js';

type VoicePassphrase = Extract<PassphraseDelivery, { mode: 'voice' }>;

/** How long a voice hand-off waits for the call's media stream before the fallback rule applies (default). */
const DEFAULT_CALL_WAIT_MS = 120_000;

/**
 * Reads the passphrase over the call, retrying as a technician decides. Returns undefined when it was heard, sent
 * by SMS instead, or a burn request stopped it (the hand-off's next step then closes it as burned); otherwise the
 * ending the technician chose.
 */
export async function speakPassphrase(h: Handoff, pp: VoicePassphrase): Promise<Ending | undefined> {
  for (;;) {
    h.callLine = undefined;
    const failure = await readOverCall(h, pp);
    if (failure === undefined) return undefined;
    if (h.input.link.channel === 'email' && pp.fallbackTo) {
      await h.note(
        `The passphrase could not be read over the call (${failure}); sending it by SMS instead, as the link went by email.`,
      );
      return h.sendPassphraseSms(pp.fallbackTo, 'fallback after the call');
    }
    const r = await h.pauseForTechnician(
      'Reading the passphrase over the call',
      `${failure}. It is never sent on the link's channel; retry if the caller is still on this call, otherwise ` +
        'cancel (the link is burned) and start a new hand-off',
    );
    if (r.action === 'retry') continue;
    return h.endingFor(r);
  }
}

/** One try: undefined when the passphrase was heard (noted) or a burn request stopped it, else why it failed. */
async function readOverCall(h: Handoff, pp: VoicePassphrase): Promise<string | undefined> {
  try {
    await h.activities.calls.awaitCall({ callSid: pp.callSid, workflowId: workflowInfo().workflowId });
    const waitMs = h.input.callWaitMs ?? DEFAULT_CALL_WAIT_MS;
    await condition(() => h.callLine !== undefined || h.burnRequested(), waitMs);
    if (h.burnRequested()) return undefined;
    const line: CallLine | undefined = h.callLine;
    if (!line) return `CALL_NOT_LIVE: no media stream for call ${pp.callSid} within ${Math.round(waitMs / 1000)} s`;
    if (!line.live) return `CALL_ENDED: ${line.reason}`;
    const r = await readUnlessBurned(h, pp, line.taskQueue);
    if (!r) return undefined;
    if (r.outcome === 'heard') {
      h.state.passphraseDeliveredAt = r.heardAt ?? new Date().toISOString();
      await h.note(
        `Passphrase read over the call at ${h.state.passphraseDeliveredAt} (${r.readings} reading${r.readings === 1 ? '' : 's'}; ` +
          'composed from recorded clips, never sent as text).',
      );
      return undefined;
    }
    return r.outcome === 'hung_up'
      ? 'CALL_ENDED: the caller hung up before the passphrase was read'
      : `NOT_HEARD: ${r.reason ?? 'the reading did not finish playing'}`;
  } catch (err) {
    // A cancelled workflow cancels awaitCall and the reading: no failure for the fallback rule
    // (workflows/share-secret.ts burns the link).
    if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
    return failureReason(err);
  }
}

/**
 * Runs the reading on the call's process. A burn request cuts it short (the activity is cancelled and clears the
 * audio): no point reading the passphrase of a link that is being destroyed. Undefined when that happened. A
 * cancelled workflow cuts it short too (the reading's scope is a child of the workflow's), and that is rethrown.
 */
async function readUnlessBurned(
  h: Handoff,
  pp: VoicePassphrase,
  taskQueue: string,
): Promise<SpokenPassphrase | undefined> {
  const voice = h.activities.voiceOn(taskQueue);
  const workflowScope = CancellationScope.current();
  const reading = new CancellationScope();
  // The burn trigger lives only as long as the reading. Left waiting, its condition would reject when the workflow
  // is cancelled later, and an unhandled rejection fails the workflow task on every replay.
  const burnTrigger = new CancellationScope();
  void burnTrigger
    .run(() => condition(() => h.burnRequested()))
    .then(
      () => reading.cancel(),
      () => undefined,
    );
  try {
    return await reading.run(() =>
      voice.speakPassphrase({ binding: h.binding, passphrase: h.input.secret.passphrase! }),
    );
  } catch (err) {
    if (isCancellation(err) && h.burnRequested() && !workflowScope.consideredCancelled) return undefined;
    throw err;
  } finally {
    burnTrigger.cancel();
  }
}
