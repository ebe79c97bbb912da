// shareSecret: one credential hand-off. Create the Onetime Secret, deliver the link (and the passphrase on another
// channel), watch the receipt on durable timers until it is opened, burned or expired, and record every step as
// a ticket note. This file holds the activity options and the outline; the state and its transitions are in
// workflows/handoff.ts, the voice branch of the passphrase in workflows/passphrase-voice.ts.
import {
  CancellationScope,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { DeliveryActivities, OtsActivities } from '../activities/index.js';
import type { VoiceActivities } from '../activities/voice.js';
import { Handoff } from './handoff.js';
import { checkShareInput } from './input.js';
import {
  burnMaterialQuery,
  burnSignal,
  burnUpdate,
  callLineSignal,
  receiptChangedSignal,
  resolveSignal,
  smsStatusSignal,
  statusQuery,
  waitForChangeUpdate,
} from './messages.js';
import { otsTaskQueue } from './queues.js';
import type { ShareInput, ShareResult } from './types.js';

// Retries: the activities mark which failures may be retried (rate limits and outages; Retry-After wins over the
// backoff through the failure's nextRetryDelay) and which fail at once; after the last attempt the hand-off goes to a
// technician. See docs/onetime-secret.md ("Errors and rate limits").
const OTS_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
};
// createSecret heartbeats (its create marker, src/ots/create-recovery.ts), so a worker killed mid-create is
// noticed after the heartbeat timeout instead of the whole start-to-close timeout. That is a minute: a retry may wait
// up to 15 s for earlier sends to be past landing and up to 15 s for a free fingerprint lease before it sends.
const CREATE_OPTIONS: ActivityOptions = { heartbeatTimeout: '10s', startToCloseTimeout: '60s' };
// Burning after the workflow was cancelled in Temporal: no technician pause (the cancellation came from one), so the
// burn gets more time on its own (8 attempts, about 2 minutes of backoff, more if attempts time out) before the
// hand-off notes that the link stays live.
// See docs/decisions.md ("Cancelled in Temporal: burn, then end Canceled").
const CANCEL_BURN_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8 },
};
const DELIVERY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
};
// The PSA webhook is best effort for a while; the workflow's own note list is the record either way.
const NOTE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 12 },
};
// Reading the passphrase: the activity heartbeats while audio plays. One attempt: a reading cut off part-way is
// not restarted behind the caller's back; the fallback rule decides instead. If the process holding the stream has
// gone, nobody picks the task up and scheduleToStart ends it quickly. See docs/decisions.md ("`speakPassphrase`:
// one attempt, 15 s to start").
const SPEAK_OPTIONS: ActivityOptions = {
  scheduleToStartTimeout: '15s',
  startToCloseTimeout: '10m',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 1 },
};

/** The activities a hand-off calls, each with its options. Called inside the workflow (it reads workflowInfo). */
function handoffActivities() {
  const otsQueue = otsTaskQueue(workflowInfo().taskQueue);
  const create = proxyActivities<Pick<OtsActivities, 'createSecret'>>({
    ...OTS_OPTIONS,
    ...CREATE_OPTIONS,
    taskQueue: otsQueue,
  });
  return {
    /** burnSecret, on the rate-limited OTS queue. */
    ots: proxyActivities<OtsActivities>({ ...OTS_OPTIONS, taskQueue: otsQueue }),
    /** burnSecret once the workflow was cancelled in Temporal (run in a non-cancellable scope). */
    otsCancelBurn: proxyActivities<Pick<OtsActivities, 'burnSecret'>>({ ...CANCEL_BURN_OPTIONS, taskQueue: otsQueue }),
    /**
     * createSecret is never cancelled: a create cancelled in flight may still make a secret whose answer is lost,
     * and the cancellation would burn nothing. Cancelling the workflow waits for the create to finish (its own
     * retries recover a lost answer: src/ots/create-recovery.ts), then burns what it made.
     */
    otsCreate: {
      createSecret: (...args: Parameters<typeof create.createSecret>) =>
        CancellationScope.nonCancellable(() => create.createSecret(...args)),
    },
    // Receipt checks run on the workflow's own queue: the worker answers them from one batched recent-receipts
    // call, so they need not wait behind creates in the rate-limited queue. See docs/onetime-secret.md ("Batched
    // receipt checks").
    receipts: proxyActivities<Pick<OtsActivities, 'checkSecret' | 'watchReceipt'>>(OTS_OPTIONS),
    delivery: proxyActivities<DeliveryActivities>(DELIVERY_OPTIONS),
    notesHook: proxyActivities<DeliveryActivities>(NOTE_OPTIONS),
    calls: proxyActivities<Pick<VoiceActivities, 'awaitCall'>>(DELIVERY_OPTIONS),
    /** speakPassphrase, on the task queue of the process holding the call's media stream. */
    voiceOn: (taskQueue: string) =>
      proxyActivities<Pick<VoiceActivities, 'speakPassphrase'>>({ ...SPEAK_OPTIONS, taskQueue }),
  };
}
export type HandoffActivities = ReturnType<typeof handoffActivities>;

export async function shareSecret(input: ShareInput): Promise<ShareResult> {
  // Refuses an input that is not a hand-off's (workflows/input.ts); the first activity then checks that the agent
  // API signed it.
  const handoff = new Handoff(checkShareInput(input), handoffActivities());

  // Handlers check their input and ignore what does not fit: a malformed signal (Temporal UI and the CLI send
  // anything) that threw here would fail the workflow task on every replay. See docs/architecture.md ("Workflow
  // rules").
  setHandler(statusQuery, () => handoff.status());
  setHandler(burnMaterialQuery, () => handoff.burnMaterial());
  setHandler(smsStatusSignal, (ev) => handoff.recordSmsStatus(ev));
  setHandler(burnSignal, (req) => handoff.requestBurn(req));
  setHandler(callLineSignal, (line) => handoff.receiveCallLine(line));
  setHandler(resolveSignal, (r) => handoff.resolve(r));
  setHandler(burnUpdate, (req) => handoff.burn(req), {
    // Refused before anything is written to history: another agent's request, or a hand-off already over.
    validator: (req) => handoff.validateBurn(req),
  });
  setHandler(waitForChangeUpdate, (req) => handoff.waitForChange(req), {
    validator: (req) => handoff.validateWait(req),
  });
  setHandler(receiptChangedSignal, () => handoff.hintReceiptChanged());

  try {
    // The steps, in order; a continued run skips what an earlier run did. A step that stops the hand-off says how
    // it ends, and the steps after it do not run.
    const end =
      (await handoff.create()) ?? // 1. create the Onetime Secret
      (await handoff.deliver('link')) ?? // 2. send the link
      (await handoff.deliver('passphrase')) ?? // 3. then the passphrase, on another channel
      (await handoff.watch()); // 4. watch the receipt until the link is opened, burned or expired
    if (end === 'continue-as-new') {
      return continueAsNew<typeof shareSecret>({ ...input, resume: handoff.state });
    }

    // 5. Close: burn a secret that may still be live (unless the hand-off already reached a final state by
    // itself), then wait for the handlers still running.
    if (end !== 'final') await handoff.close(end);
    return await handoff.finish();
  } catch (err) {
    // Cancelled in Temporal (UI "Request Cancellation", `temporal workflow cancel`, a client's cancel()): whatever
    // step was running threw a cancellation. Burn the secret in a scope the cancellation cannot reach, then end as
    // cancelled in Temporal too (rethrowing the cancellation). See docs/decisions.md ("Cancelled in Temporal: burn,
    // then end Canceled").
    if (!isCancellation(err) || !CancellationScope.current().consideredCancelled) throw err;
    await CancellationScope.nonCancellable(() => handoff.cancelled());
    throw err;
  }
}
