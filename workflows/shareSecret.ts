// shareSecret: one credential hand-off. Create the Onetime Secret, deliver the link (and the passphrase on another
// channel), watch the receipt on durable timers until it is opened, burned or expired, and record every step as
// a ticket note. Deterministic orchestration only: all I/O is in activities/.
//
// Failure rule (DESIGN.md): an API failure never leads to a cleartext fallback. The hand-off pauses in
// `needs_technician` with a note, and a technician resolves it (retry, delivered_manually or cancel).
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { DeliveryActivities, OtsActivities, SecretCheck } from '../activities/index.js';
import { burnSignal, burnUpdate, resolveSignal, smsStatusSignal, statusQuery } from './messages.js';
import { otsTaskQueue } from './queues.js';
import { advanceSmsStatus, isSmsFailure, maskRecipient, nextPollDelayMs } from './pure.js';
import { ExpiresAt, ShareState as ShareStateKey } from './search-attributes.js';
import {
  FINAL_STATES,
  type Resolution,
  type ShareInput,
  type ShareResult,
  type ShareState,
  type ShareStatus,
  type WatchState,
} from './types.js';

// Retries: OTS_RATE_LIMITED and OTS_UNAVAILABLE are retried (Retry-After wins over the backoff through the
// failure's nextRetryDelay); after the last attempt the hand-off goes to a technician. The rest fail at once.
const OTS_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
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

/** "TYPE: message" of an activity failure, for notes. OTS and Twilio error messages never carry secrets. */
function failureReason(err: ActivityFailure): string {
  const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
  return cause ? `${cause.type ?? 'error'}: ${cause.message}` : err.message;
}

/** Continue-as-new after this many polls in one run even if the server has not suggested it yet. */
const POLLS_PER_RUN = 500;

export async function shareSecret(input: ShareInput): Promise<ShareResult> {
  const ots = proxyActivities<OtsActivities>({ ...OTS_OPTIONS, taskQueue: otsTaskQueue(workflowInfo().taskQueue) });
  const delivery = proxyActivities<DeliveryActivities>(DELIVERY_OPTIONS);
  const notesHook = proxyActivities<DeliveryActivities>(NOTE_OPTIONS);

  const w: WatchState = input.resume ?? { state: 'creating', polls: 0, notes: [], runs: 0, sms: {} };
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
  const isFinal = () => FINAL_STATES.includes(w.state);

  setHandler(statusQuery, status);
  setHandler(smsStatusSignal, (ev) => {
    const prev = w.sms[ev.messageSid];
    const next = advanceSmsStatus(prev?.status, ev.status);
    w.sms[ev.messageSid] = { status: next, errorCode: next === ev.status ? ev.errorCode : prev?.errorCode };
  });
  setHandler(burnSignal, (req) => {
    if (!isFinal()) w.burnRequestedBy ??= req?.by ?? 'Temporal UI';
  });
  setHandler(resolveSignal, (r) => {
    if (w.state === 'needs_technician' && ['retry', 'delivered_manually', 'cancel'].includes(r?.action)) resolution = r;
  });
  setHandler(
    burnUpdate,
    async (req) => {
      w.burnRequestedBy ??= req.by ?? 'agent API';
      await condition(() => isFinal() || w.state === 'needs_technician');
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
  };

  const note = async (text: string, followUp?: boolean) => {
    const n = { at: new Date().toISOString(), text, ...(followUp ? { followUp: true } : {}) };
    w.notes.push(n);
    if (input.notesWebhook) {
      try {
        await notesHook.postNote({ shareId: input.shareId, ticketId: input.ticketId, note: n });
      } catch {
        w.notes.push({ at: new Date().toISOString(), text: 'The PSA notes webhook did not accept the note above; it is kept here.' });
      }
    }
  };

  const finish = async (): Promise<ShareResult> => {
    await condition(allHandlersFinished);
    return { shareId: input.shareId, ticketId: input.ticketId, state: w.state, viewedAt: w.viewedAt, expiresAt: w.created?.expiresAt };
  };

  /** Pauses for a technician after a failed step; returns their decision (a burn request counts as cancel). */
  const pauseForTechnician = async (what: string, reason: string): Promise<Resolution> => {
    const resumeAt = w.state;
    setState('needs_technician');
    await note(
      `${what} failed (${reason}). No cleartext fallback: the hand-off is paused until a technician resolves it ` +
        `(signal "resolve" with action retry, delivered_manually or cancel).`,
      true,
    );
    await condition(() => resolution !== undefined || w.burnRequestedBy !== undefined);
    const r: Resolution = resolution ?? { action: 'cancel', by: w.burnRequestedBy, comment: 'burn requested' };
    resolution = undefined;
    await note(`Technician decision: ${r.action}${r.by ? ` by ${r.by}` : ''}${r.comment ? ` (${r.comment})` : ''}.`);
    if (r.action === 'retry') setState(resumeAt);
    return r;
  };

  /** Runs a step; on failure waits for a technician. Returns undefined when the technician closed the hand-off. */
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        const r = await pauseForTechnician(what, failureReason(err));
        if (r.action === 'retry') continue;
        await close(r.action === 'cancel' ? 'cancelled' : 'resolved');
        return undefined;
      }
    }
  };

  /** Ends the hand-off; a secret that may still be live is burned first so no link outlives it. */
  const close = async (final: 'cancelled' | 'resolved' | 'burned', by?: string) => {
    if (w.created && !w.viewedAt) {
      try {
        const r = await ots.burnSecret({ metadataKey: w.created.metadataKey, passphrase: input.secret.passphrase });
        if (r.state === 'gone' && (await settleGone())) return;
        if (final === 'burned') await note(`Secret burned${by ? ` at the request of ${by}` : ''}; the link no longer opens.`);
        else await note('The Onetime Secret was burned so the link no longer opens.');
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        await note('Burning the Onetime Secret failed; it will expire on its own. Check the receipt in Onetime Secret.', true);
      }
    } else if (final === 'burned') {
      await note(`Burn requested${by ? ` by ${by}` : ''} before a secret existed; nothing was sent.`);
    }
    setState(final);
  };

  /** After OTS answered "unknown secret": find out whether it was opened (viewed) or is simply gone. */
  const settleGone = async (): Promise<boolean> => {
    const r = await ots.checkSecret({ metadataKey: w.created!.metadataKey });
    return applyCheck(r);
  };

  /** Applies a receipt state; returns true when the hand-off reached a final state. */
  const applyCheck = async (r: SecretCheck): Promise<boolean> => {
    const expired = Date.now() >= Date.parse(w.created!.expiresAt);
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
        if (r.state === 'gone' && !expired) {
          setState('burned');
          await note('The secret vanished from Onetime Secret before it expired (burned or removed elsewhere).', true);
          return true;
        }
        setState('expired');
        await note(
          `Link expired unopened at ${w.created!.expiresAt}. Technician follow-up needed: contact the caller. ` +
            'No new secret was created.',
          true,
        );
        return true;
      default:
        return false;
    }
  };

  const burnRequested = () => w.burnRequestedBy !== undefined;
  const linkFailed = () => {
    const sid = w.linkMessageSid;
    return sid !== undefined && sid !== w.linkFailureHandled && isSmsFailure(w.sms[sid]?.status);
  };

  // 1. Create the secret.
  if (!w.created) {
    if (burnRequested()) {
      await close('burned', w.burnRequestedBy);
      return finish();
    }
    const created = await step('Creating the Onetime Secret', () =>
      ots.createSecret({
        secret: input.secret,
        ttlSeconds: input.ttlSeconds,
        recipient: input.link.channel === 'email' ? input.link.to : undefined,
      }),
    );
    if (!created) return finish();
    w.created = created;
    upsertSearchAttributes([{ key: ExpiresAt, value: new Date(created.expiresAt) }]);
    await note(
      `Onetime Secret created (receipt ${created.metadataKey.slice(0, 8)}…, ` +
        `${created.passphraseRequired ? 'passphrase required' : 'no passphrase'}), expires ${created.expiresAt}.`,
    );
  }

  // 2. Deliver the link.
  const sendLink = async (): Promise<boolean> => {
    if (input.link.channel === 'email') {
      // OTS mailed the link itself when the secret was created with `recipient`.
      w.linkSentAt = new Date().toISOString();
      await note(`Link sent by email (by Onetime Secret) to ${maskRecipient(input.link.to)}; expires ${w.created!.expiresAt}.`);
      return true;
    }
    setState('delivering');
    const link = input.link;
    const sent = await step('Sending the link by SMS', () =>
      delivery.sendLinkSms({
        to: link.to,
        link: w.created!.link,
        expiresAt: w.created!.expiresAt,
        statusCallback: input.smsStatusCallback,
        passphraseVia: input.passphrase.mode === 'none' ? undefined : input.passphrase.mode,
      }),
    );
    if (!sent) return false;
    w.linkMessageSid = sent.sid;
    w.linkSentAt = new Date().toISOString();
    await note(`Link sent by SMS to ${maskRecipient(link.to)} (message ${sent.sid}); expires ${w.created!.expiresAt}.`);
    return true;
  };
  if (!w.linkSentAt) {
    if (burnRequested()) {
      await close('burned', w.burnRequestedBy);
      return finish();
    }
    setState('delivering');
    if (!(await sendLink())) return finish();
  }

  // 3. Deliver the passphrase on the other channel.
  const pp = input.passphrase;
  if (pp.mode === 'sms' && !w.passphraseDeliveredAt && input.secret.passphrase) {
    const sent = await step('Sending the passphrase by SMS', () =>
      delivery.sendPassphraseSms({ to: pp.to, passphrase: input.secret.passphrase!, statusCallback: input.smsStatusCallback }),
    );
    if (!sent) return finish();
    w.passphraseDeliveredAt = new Date().toISOString();
    await note(`Passphrase sent by SMS to ${maskRecipient(pp.to)} (a different channel from the link).`);
  }

  // 4. Watch until opened, burned or expired.
  setState('awaiting_view');
  let pollsThisRun = 0;
  for (;;) {
    const delay = nextPollDelayMs(input.pollIntervals, w.polls, Date.now(), Date.parse(w.created.expiresAt));
    await condition(() => burnRequested() || linkFailed(), delay);

    if (burnRequested()) {
      await close('burned', w.burnRequestedBy);
      return finish();
    }
    if (linkFailed()) {
      const sid = w.linkMessageSid!;
      w.linkFailureHandled = sid;
      const r = await pauseForTechnician(
        'Delivering the link SMS',
        `SMS_UNDELIVERED: Twilio reported ${w.sms[sid]?.status} (error ${w.sms[sid]?.errorCode ?? 'none'}) for message ${sid}`,
      );
      if (r.action !== 'retry') {
        await close(r.action === 'cancel' ? 'cancelled' : 'resolved');
        return finish();
      }
      if (!(await sendLink())) return finish();
      setState('awaiting_view');
      continue;
    }

    const check = await step('Checking the secret in Onetime Secret', () => ots.checkSecret({ metadataKey: w.created!.metadataKey }));
    if (check === undefined) return finish();
    w.polls += 1;
    pollsThisRun += 1;
    if (await applyCheck(check)) return finish();

    if (workflowInfo().continueAsNewSuggested || pollsThisRun >= POLLS_PER_RUN) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof shareSecret>({ ...input, resume: w });
    }
  }
}
