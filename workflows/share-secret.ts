// shareSecret: one credential hand-off. Create the Onetime Secret, deliver the link (and the passphrase on another
// channel), watch the receipt on durable timers until it is opened, burned or expired, and record every step as
// a ticket note. Deterministic orchestration only: all I/O is in activities/.
//
// Failure rule (DESIGN.md): an API failure never leads to a cleartext fallback. The hand-off pauses in
// `needs_technician` with a note, and a technician resolves it (retry, delivered_manually or cancel).
import {
  ActivityFailure,
  CancellationScope,
  isCancellation,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { DeliveryActivities, OtsActivities, SecretCheck } from '../activities/index.js';
import type { VoiceActivities } from '../activities/voice.js';
import { burnSignal, burnUpdate, callLineSignal, resolveSignal, smsStatusSignal, statusQuery } from './messages.js';
import { failureOutcome, failureReason } from './failures.js';
import { otsTaskQueue } from './queues.js';
import { nextPollDelayMs } from './poll-schedule.js';
import { advanceSmsStatus, isSmsFailure, isSmsStatus } from './sms-status.js';
import { maskRecipient, technicianDetails } from './technician-view.js';
import { ExpiresAt, ShareState as ShareStateKey } from './search-attributes.js';
import {
  FINAL_STATES,
  type Resolution,
  type ShareInput,
  type ShareResult,
  type ShareState,
  type ShareStatus,
  type WatchState,
  type CallLine,
} from './types.js';

// Retries: OTS_RATE_LIMITED and OTS_UNAVAILABLE are retried (Retry-After wins over the backoff through the
// failure's nextRetryDelay); after the last attempt the hand-off goes to a technician. The rest fail at once.
const OTS_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
};
const CREATE_OPTIONS: ActivityOptions = { heartbeatTimeout: '10s' };
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
// gone, nobody picks the task up and scheduleToStart ends it quickly.
const SPEAK_OPTIONS: ActivityOptions = {
  scheduleToStartTimeout: '15s',
  startToCloseTimeout: '10m',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 1 },
};
/** How long a voice hand-off waits for the call's media stream before the fallback rule applies (default). */
const DEFAULT_CALL_WAIT_MS = 120_000;

/** Continue-as-new after this many polls in one run even if the server has not suggested it yet. */
const POLLS_PER_RUN = 500;

type Ending = 'burned' | 'cancelled' | 'resolved';

export async function shareSecret(input: ShareInput): Promise<ShareResult> {
  const ots = proxyActivities<OtsActivities>({ ...OTS_OPTIONS, taskQueue: otsTaskQueue(workflowInfo().taskQueue) });
  // createSecret heartbeats (its create marker, src/ots/create-recovery.ts), so a worker killed mid-create is
  // noticed after the heartbeat timeout instead of the whole start-to-close timeout.
  const otsCreate = proxyActivities<Pick<OtsActivities, 'createSecret'>>({
    ...OTS_OPTIONS,
    ...CREATE_OPTIONS,
    taskQueue: otsTaskQueue(workflowInfo().taskQueue),
  });
  // Receipt checks run on the workflow's own queue: the worker answers them from one batched recent-receipts call,
  // so they need not wait behind creates in the rate-limited queue.
  const watch = proxyActivities<Pick<OtsActivities, 'checkSecret'>>(OTS_OPTIONS);
  const delivery = proxyActivities<DeliveryActivities>(DELIVERY_OPTIONS);
  const notesHook = proxyActivities<DeliveryActivities>(NOTE_OPTIONS);
  const calls = proxyActivities<Pick<VoiceActivities, 'awaitCall'>>(DELIVERY_OPTIONS);

  const w: WatchState = input.resume ?? {
    state: 'creating',
    polls: 0,
    notes: [],
    runs: 0,
    sms: {},
    handledFailures: [],
  };
  w.runs += 1;
  let resolution: Resolution | undefined;

  const status = (): ShareStatus => ({
    shareId: input.shareId,
    ticketId: input.ticketId,
    state: w.state,
    link: {
      channel: input.link.channel,
      to: maskRecipient(input.link.to),
      sentAt: w.linkSentAt,
      deliveryStatus: w.linkMessageSid ? w.sms[w.linkMessageSid]?.status : undefined,
    },
    passphrase: { mode: input.passphrase.mode, deliveredAt: w.passphraseDeliveredAt },
    expiresAt: w.created?.expiresAt,
    viewedAt: w.viewedAt,
    notes: w.notes,
  });
  // Temporal UI's "current details": the hand-off as it stands, refreshed on every change. Defined before the
  // handlers, which may run as soon as they are set (buffered signals).
  const showDetails = () => setCurrentDetails(technicianDetails(status()));
  showDetails();
  const isFinal = () => FINAL_STATES.includes(w.state);
  const burnRequested = () => w.burnRequestedBy !== undefined;

  // Handlers check their input: a malformed signal that threw here would fail the workflow task on every replay.
  setHandler(statusQuery, status);
  setHandler(smsStatusSignal, (ev) => {
    if (!ev || typeof ev.messageSid !== 'string' || !isSmsStatus(ev.status)) return;
    const prev = w.sms[ev.messageSid];
    const next = advanceSmsStatus(prev?.status, ev.status);
    w.sms[ev.messageSid] = { status: next, errorCode: next === ev.status ? ev.errorCode : prev?.errorCode };
    showDetails();
  });
  setHandler(burnSignal, (req) => {
    if (!isFinal()) w.burnRequestedBy ??= byWhom(req, 'Temporal UI');
  });
  // The call session's answer: where the call's media stream lives, or that the call is gone.
  let callLine: CallLine | undefined;
  setHandler(callLineSignal, (l) => {
    if (l && typeof l.live === 'boolean') callLine = l;
  });
  setHandler(resolveSignal, (r) => {
    if (w.state === 'needs_technician' && ['retry', 'delivered_manually', 'cancel'].includes(r?.action)) resolution = r;
  });
  setHandler(
    burnUpdate,
    async (req) => {
      w.burnRequestedBy ??= byWhom(req, 'agent API');
      // Done when the hand-off has ended, or when burning itself failed and waits for a technician.
      await condition(() => isFinal() || w.burnBlocked === true);
      return status();
    },
    {
      validator: (_req) => {
        if (isFinal()) throw new Error(`the hand-off is already ${w.state}`);
      },
    },
  );

  const setState = (s: ShareState) => {
    if (w.state === s) return;
    w.state = s;
    upsertSearchAttributes([{ key: ShareStateKey, value: s }]);
    showDetails();
  };

  const note = async (text: string, followUp?: boolean) => {
    const n = { at: new Date().toISOString(), text, ...(followUp ? { followUp: true } : {}) };
    w.notes.push(n);
    showDetails();
    if (input.notesWebhook) {
      try {
        await notesHook.postNote({ shareId: input.shareId, ticketId: input.ticketId, note: n });
      } catch {
        w.notes.push({
          at: new Date().toISOString(),
          text: 'The PSA notes webhook did not accept the note above; it is kept here.',
        });
        showDetails();
      }
    }
  };

  const finish = async (): Promise<ShareResult> => {
    await condition(allHandlersFinished);
    return {
      shareId: input.shareId,
      ticketId: input.ticketId,
      state: w.state,
      viewedAt: w.viewedAt,
      expiresAt: w.created?.expiresAt,
    };
  };

  /**
   * Pauses for a technician after a failed step and returns their decision. A burn request also ends the pause
   * (as "cancel"), except while the failed step is the burn itself.
   */
  const pauseForTechnician = async (
    what: string,
    reason: string,
    opts: { burnEndsPause?: boolean } = {},
  ): Promise<Resolution> => {
    const burnEndsPause = opts.burnEndsPause ?? true;
    const resumeAt = w.state;
    resolution = undefined; // a decision sent before this pause does not answer it
    setState('needs_technician');
    await note(
      `${what} failed (${reason}). No cleartext fallback: the hand-off is paused until a technician resolves it ` +
        `(signal "resolve" with action retry, delivered_manually or cancel).`,
      true,
    );
    await condition(() => resolution !== undefined || (burnEndsPause && burnRequested()));
    const r: Resolution = resolution ?? { action: 'cancel', by: w.burnRequestedBy, comment: 'burn requested' };
    resolution = undefined;
    await note(`Technician decision: ${r.action}${r.by ? ` by ${r.by}` : ''}${r.comment ? ` (${r.comment})` : ''}.`);
    if (r.action === 'retry') setState(resumeAt);
    return r;
  };

  /** How a hand-off ends when a technician does not retry: a pending burn request wins. */
  const endingFor = (r: Resolution): Ending =>
    burnRequested() ? 'burned' : r.action === 'cancel' ? 'cancelled' : 'resolved';

  /** Runs a step; on failure waits for a technician. Returns undefined when the hand-off was closed instead. */
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        const r = await pauseForTechnician(what, failureReason(err));
        if (r.action === 'retry') continue;
        await close(endingFor(r));
        return undefined;
      }
    }
  };

  /**
   * Ends the hand-off. A secret that may still be live is burned first so no link outlives the hand-off; if the
   * burn fails, a technician decides (retry the burn, or accept that the link lives until it expires).
   */
  const close = async (ending: Ending): Promise<void> => {
    while (w.created && !w.viewedAt) {
      try {
        const r = await ots.burnSecret({ metadataKey: w.created.metadataKey, passphrase: input.secret.passphrase });
        if (r.state === 'gone' && (await applyCheck(await watch.checkSecret({ metadataKey: w.created.metadataKey }))))
          return;
        await note(
          ending === 'burned'
            ? `Secret burned at the request of ${w.burnRequestedBy ?? 'a technician'}; the link no longer opens.`
            : 'The Onetime Secret was burned so the link no longer opens.',
        );
        break;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        w.burnBlocked = true;
        const r = await pauseForTechnician('Burning the Onetime Secret', failureReason(err), { burnEndsPause: false });
        w.burnBlocked = false;
        if (r.action === 'retry') continue;
        await note(`The link was NOT burned: it stays live until it expires at ${w.created.expiresAt}.`, true);
        break;
      }
    }
    if (!w.created && ending === 'burned')
      await note(`Burn requested by ${w.burnRequestedBy} before a secret existed; nothing was sent.`);
    setState(ending);
  };

  /** Applies a receipt state; returns true when the hand-off reached a final state. */
  const applyCheck = async (r: SecretCheck): Promise<boolean> => {
    const created = w.created!;
    const expired = Date.now() >= Date.parse(created.expiresAt);
    switch (r.state) {
      case 'received':
        w.viewedAt = r.receivedAt;
        setState('viewed');
        await note(`Link opened at ${r.receivedAt}; the secret has been destroyed by Onetime Secret.`);
        return true;
      case 'burned':
        setState('burned');
        await note('The secret was burned in Onetime Secret outside this hand-off.');
        return true;
      case 'expired':
      case 'orphaned':
      case 'gone':
        if (r.state !== 'expired' && !expired) {
          setState('burned');
          await note('The secret vanished from Onetime Secret before it expired (burned or removed elsewhere).', true);
          return true;
        }
        setState('expired');
        await note(
          `Link expired unopened at ${created.expiresAt}. Technician follow-up needed: contact the caller. ` +
            'No new secret was created.',
          true,
        );
        return true;
      default:
        return false;
    }
  };

  const sendLink = async (): Promise<boolean> => {
    const created = w.created!;
    if (input.link.channel === 'email') {
      // OTS mailed the link itself when the secret was created with `recipient`.
      w.linkSentAt = new Date().toISOString();
      await note(
        `Link sent by email (by Onetime Secret) to ${maskRecipient(input.link.to)}; expires ${created.expiresAt}.`,
      );
      return true;
    }
    const link = input.link;
    const sent = await step('Sending the link by SMS', () =>
      delivery.sendLinkSms({
        to: link.to,
        link: created.link,
        expiresAt: created.expiresAt,
        statusCallback: input.smsStatusCallback,
        passphraseVia: input.passphrase.mode === 'none' ? undefined : input.passphrase.mode,
      }),
    );
    if (!sent) return false;
    w.linkMessageSid = sent.sid;
    w.linkSentAt = new Date().toISOString();
    await note(`Link sent by SMS to ${maskRecipient(link.to)} (message ${sent.sid}); expires ${created.expiresAt}.`);
    return true;
  };

  const sendPassphraseSms = async (to: string, why = 'a different channel from the link'): Promise<boolean> => {
    const passphrase = input.secret.passphrase!;
    const sent = await step('Sending the passphrase by SMS', () =>
      delivery.sendPassphraseSms({ to, passphrase, statusCallback: input.smsStatusCallback }),
    );
    if (!sent) return false;
    w.passphraseMessageSid = sent.sid;
    w.passphraseDeliveredAt = new Date().toISOString();
    await note(`Passphrase sent by SMS to ${maskRecipient(to)} (message ${sent.sid}; ${why}).`);
    return true;
  };

  /**
   * Reads the passphrase over the live call: register with the call's session, wait (bounded) for its media
   * stream, then speak on the task queue of the process holding it. If that fails, the fallback rule: by SMS only
   * when the link went by email, otherwise a technician decides. Never on the link's channel.
   */
  const speakPassphrase = async (pp: Extract<ShareInput['passphrase'], { mode: 'voice' }>): Promise<boolean> => {
    for (;;) {
      callLine = undefined;
      let failure: string;
      try {
        await calls.awaitCall({ callSid: pp.callSid, workflowId: workflowInfo().workflowId });
        const waitMs = input.callWaitMs ?? DEFAULT_CALL_WAIT_MS;
        await condition(() => callLine !== undefined || burnRequested(), waitMs);
        if (burnRequested()) return true; // the caller of this function closes the hand-off
        const line = callLine as CallLine | undefined;
        if (!line)
          failure = `CALL_NOT_LIVE: no media stream for call ${pp.callSid} within ${Math.round(waitMs / 1000)} s`;
        else if (!line.live) failure = `CALL_ENDED: ${line.reason}`;
        else {
          const voice = proxyActivities<Pick<VoiceActivities, 'speakPassphrase'>>({
            ...SPEAK_OPTIONS,
            taskQueue: line.taskQueue,
          });
          // A burn request cuts the reading short (the activity is cancelled and clears the audio): no point reading
          // the passphrase of a link that is being destroyed.
          const reading = new CancellationScope();
          void condition(burnRequested).then(() => reading.cancel());
          const r = await reading
            .run(() =>
              voice.speakPassphrase({ callSid: pp.callSid, passphrase: input.secret.passphrase!, format: pp.format }),
            )
            .catch((err: unknown) => {
              if (isCancellation(err) && burnRequested()) return undefined;
              throw err;
            });
          if (!r) return true; // burned: the caller of this function closes the hand-off
          if (r.outcome === 'heard') {
            w.passphraseDeliveredAt = r.heardAt ?? new Date().toISOString();
            await note(
              `Passphrase read over the call at ${w.passphraseDeliveredAt} (${r.readings} reading${r.readings === 1 ? '' : 's'}; ` +
                'composed from recorded clips, never sent as text).',
            );
            return true;
          }
          failure =
            r.outcome === 'hung_up'
              ? 'CALL_ENDED: the caller hung up before the passphrase was read'
              : `NOT_HEARD: ${r.reason ?? 'the reading did not finish playing'}`;
        }
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        failure = failureReason(err);
      }
      if (input.link.channel === 'email' && pp.fallbackTo) {
        await note(
          `The passphrase could not be read over the call (${failure}); sending it by SMS instead, as the link went by email.`,
        );
        return sendPassphraseSms(pp.fallbackTo, 'fallback after the call');
      }
      const r = await pauseForTechnician(
        'Reading the passphrase over the call',
        `${failure}. It is never sent on the link's channel; retry if the caller is still on this call, otherwise ` +
          'cancel (the link is burned) and start a new hand-off',
      );
      if (r.action === 'retry') continue;
      await close(endingFor(r));
      return false;
    }
  };

  const sendPassphrase = async (): Promise<boolean> => {
    const pp = input.passphrase;
    if (!input.secret.passphrase) return true;
    if (pp.mode === 'sms') return sendPassphraseSms(pp.to);
    if (pp.mode === 'voice') return speakPassphrase(pp);
    return true;
  };

  /** A link or passphrase SMS that Twilio reported undelivered or failed, not yet handled by a technician. */
  const failedDelivery = (): { sid: string; kind: 'link' | 'passphrase' } | undefined => {
    for (const [kind, sid] of [
      ['link', w.linkMessageSid],
      ['passphrase', w.passphraseMessageSid],
    ] as const) {
      if (sid && !w.handledFailures.includes(sid) && isSmsFailure(w.sms[sid]?.status)) return { sid, kind };
    }
    return undefined;
  };

  // 1. Create the secret.
  if (!w.created) {
    if (burnRequested()) {
      await close('burned');
      return finish();
    }
    // A technician's retry runs the step again: tell it when the failed tries ran, so it looks for a secret they
    // may have created before making one (src/ots/create-recovery.ts) — unless their failure proves OTS refused it.
    let recover: { since: number; until: number } | undefined;
    const created = await step('Creating the Onetime Secret', async () => {
      const triedAt = Date.now();
      try {
        return await otsCreate.createSecret({
          shareId: input.shareId,
          secret: input.secret,
          ttlSeconds: input.ttlSeconds,
          recipient: input.link.channel === 'email' ? input.link.to : undefined,
          recover,
        });
      } catch (err) {
        recover =
          failureOutcome(err) === 'refused' ? undefined : { since: recover?.since ?? triedAt, until: Date.now() };
        throw err;
      }
    });
    if (!created) return finish();
    w.created = created;
    upsertSearchAttributes([{ key: ExpiresAt, value: new Date(created.expiresAt) }]);
    await note(
      `Onetime Secret created (receipt ${created.metadataKey.slice(0, 8)}…, ` +
        `${created.passphraseRequired ? 'passphrase required' : 'no passphrase'}), expires ${created.expiresAt}.` +
        (created.recovered ? ' Found again after an attempt whose answer was lost; no second secret was created.' : ''),
    );
  }

  // 2. Deliver the link, then 3. the passphrase on the other channel. A burn request stops before each send.
  for (const [done, send] of [
    [() => w.linkSentAt !== undefined, sendLink],
    [() => w.passphraseDeliveredAt !== undefined || input.passphrase.mode === 'none', sendPassphrase],
  ] as const) {
    if (done()) continue;
    if (burnRequested()) {
      await close('burned');
      return finish();
    }
    setState('delivering');
    if (!(await send())) return finish();
  }

  // 4. Watch until opened, burned or expired.
  setState('awaiting_view');
  let pollsThisRun = 0;
  for (;;) {
    const delay = nextPollDelayMs(input.pollIntervals, w.polls, Date.now(), Date.parse(w.created.expiresAt));
    await condition(() => burnRequested() || failedDelivery() !== undefined, delay);

    if (burnRequested()) {
      await close('burned');
      return finish();
    }
    const failed = failedDelivery();
    if (failed) {
      w.handledFailures.push(failed.sid);
      const s = w.sms[failed.sid];
      const r = await pauseForTechnician(
        `Delivering the ${failed.kind} SMS`,
        `SMS_UNDELIVERED: Twilio reported ${s?.status} (error ${s?.errorCode ?? 'none'}) for message ${failed.sid}`,
      );
      if (r.action !== 'retry') {
        await close(endingFor(r));
        return finish();
      }
      setState('delivering');
      if (!(await (failed.kind === 'link' ? sendLink() : sendPassphrase()))) return finish();
      setState('awaiting_view');
      continue;
    }

    const check = await step('Checking the secret in Onetime Secret', () =>
      watch.checkSecret({ metadataKey: w.created!.metadataKey }),
    );
    if (check === undefined) return finish();
    w.polls += 1;
    pollsThisRun += 1;
    if (await applyCheck(check)) return finish();

    if (workflowInfo().continueAsNewSuggested || pollsThisRun >= POLLS_PER_RUN) {
      // A burn update that arrives now waits for the burn, so it must not be waited for here: burn first.
      await condition(() => allHandlersFinished() || burnRequested());
      if (burnRequested()) continue;
      return continueAsNew<typeof shareSecret>({ ...input, resume: w });
    }
  }
}

function byWhom(req: unknown, fallback: string): string {
  const by = (req as { by?: unknown } | undefined)?.by;
  return typeof by === 'string' && by.length > 0 && by.length <= 200 ? by : fallback;
}
