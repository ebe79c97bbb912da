// One hand-off's state and every transition of it, for the shareSecret workflow (workflows/share-secret.ts), which
// sets up the message handlers and runs the steps in order. Deterministic orchestration only: all I/O is in
// activities/, see docs/architecture.md ("Workflow rules").
//
// Failure rule: an API failure never leads to a cleartext fallback, see docs/decisions.md ("No cleartext fallback,
// ever"). The hand-off pauses in `needs_technician` with a note, and a technician resolves it (retry,
// delivered_manually or cancel).
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  isCancellation,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RecoverWindow } from '../activities/create-secret.js';
import type { SecretCheck } from '../activities/index.js';
import { createMarkerOf, failureReason, isFatal } from './failures.js';
import { isObj, isText } from './input.js';
import { MAX_LIFETIME_MS as CALL_SESSION_MAX_LIFETIME_MS } from './call-session.js';
import { isVoiceTaskQueue } from './queues.js';
import { MAX_WAIT_MS, type BurnMaterial, type WaitRequest } from './messages.js';
import { speakPassphrase } from './passphrase-voice.js';
import { nextPollDelayMs } from './poll-schedule.js';
import { ExpiresAt, ShareState as ShareStateKey } from './search-attributes.js';
import type { HandoffActivities } from './share-secret.js';
import { advanceSmsStatus, isSmsFailure, isSmsStatus } from './sms-status.js';
import { maskRecipient, technicianDetails } from './technician-view.js';
import { reportFinished, reportLinkSent, runStartedAt } from './metrics.js';
import {
  FINAL_STATES,
  type Binding,
  type CallLine,
  type CreatedSecret,
  type HandoffState,
  type Resolution,
  type ShareInput,
  type ShareResult,
  type ShareState,
  type ShareStatus,
  type SmsStatusEvent,
} from './types.js';

/** How `close` ends a hand-off that a step stopped: a pending burn request wins over a technician's decision. */
export type Ending = 'burned' | 'cancelled' | 'resolved';

/**
 * What a step leaves for the workflow when the hand-off goes no further: an ending to close it with, or `final`
 * when it reached a final state by itself (opened, expired, burned outside this hand-off). A step that returns
 * undefined has done its part.
 */
export type StepEnd = Ending | 'final';

/** A step's result, or how the hand-off ends when the step failed and the technician did not retry it. */
type Stepped<T> = { value: T; end?: undefined } | { end: Ending };

/**
 * The live window: how long after the link was sent the caller is likely still on the line and about to open it
 * (README.md, "Watch"); a voice hand-off's stays open while its call does.
 */
export const LIVE_WINDOW_MS = 10 * 60_000;
/** While a voice hand-off's call is live, the receipt is checked (and its live registration renewed) this often. */
const CALL_LIVE_CHECK_MS = 60_000;
/** While a process watches the receipt live, the timers check it this often, as the fallback. */
const LIVE_FALLBACK_CHECK_MS = 60_000;
/** The least time between two checks when a receiptChanged signal asks for one. */
export const RECEIPT_HINT_SPACING_MS = 2_000;

/** Waits in flight per hand-off (of Temporal's 10 updates in flight per workflow: the rest is for burns). */
const MAX_WAITS_IN_FLIGHT = 3;
/** A run's history past this length takes no more waits (each adds about 9 events; Temporal warns at 10,240). */
const WAIT_HISTORY_LIMIT = 8_000;

/** Continue-as-new after this many polls in one run even if the server has not suggested it yet. */
const POLLS_PER_RUN = 500;

export class Handoff {
  readonly state: HandoffState;
  /** A technician's decision on the current pause (resolve signal); a decision sent before the pause is dropped. */
  private resolution: Resolution | undefined;
  /** The call session's answer: where the call's media stream lives, or that the call is gone. */
  callLine: CallLine | undefined;
  /**
   * The hand-off ended but its burn failed and nobody retried it: the link may open until it expires. Set only as
   * the workflow ends, so it is not carried across continue-as-new; a query on the closed workflow replays it.
   */
  private linkLeftLive = false;
  /** A process's receipt list saw the receipt change (receiptChanged signal): check before the next timer. */
  private receiptHinted = false;
  /** The run is about to continue as new: waits answer now, and no new one is taken. */
  private draining = false;
  /** A process watches this run's receipt live and will signal its change (watchReceipt said so). */
  private liveWatched = false;
  /** Waits (the long poll's update) in flight: bounded so that a burn always finds room (Temporal allows 10). */
  private waits = 0;

  constructor(
    readonly input: ShareInput,
    readonly activities: HandoffActivities,
  ) {
    this.state = input.resume ?? { state: 'creating', polls: 0, notes: [], runs: 0, sms: {}, handledFailures: [] };
    this.state.runs += 1;
    this.state.requestedAt ??= runStartedAt();
    // Shown before the handlers are set, as they may run as soon as they are (buffered signals).
    this.showDetails();
  }

  /** What the hand-off's sealed values are bound to; every activity that opens one gets it (src/seal.ts). */
  get binding(): Binding {
    const { shareId, link, passphrase } = this.input;
    return { shareId, link, passphrase };
  }

  // ---- What the hand-off looks like from outside ----

  status(): ShareStatus {
    const { input, state: s } = this;
    return {
      shareId: input.shareId,
      ticketId: input.ticketId,
      agent: input.agent,
      state: s.state,
      link: {
        channel: input.link.channel,
        to: maskRecipient(input.link.to),
        sentAt: s.linkSentAt,
        deliveryStatus: s.linkMessageSid ? s.sms[s.linkMessageSid]?.status : undefined,
      },
      passphrase: { mode: input.passphrase.mode, deliveredAt: s.passphraseDeliveredAt },
      expiresAt: s.created?.expiresAt,
      viewedAt: s.viewedAt,
      notes: s.notes,
    };
  }

  /** Temporal UI's "current details": the hand-off as it stands, refreshed on every change. */
  showDetails(): void {
    setCurrentDetails(technicianDetails(this.status()));
  }

  isFinal(): boolean {
    return FINAL_STATES.includes(this.state.state);
  }

  /**
   * What POST /v1/shares/:id/burn needs to burn the secret itself once the workflow has closed
   * (src/http/direct-burn.ts): the sealed receipt and passphrase with their binding, only while the link may still
   * open (a secret exists and the hand-off neither reached a final state nor burned it); otherwise nothing.
   */
  burnMaterial(): BurnMaterial {
    const s = this.state;
    if (!s.created || s.viewedAt || (this.isFinal() && !this.linkLeftLive)) return {};
    return { binding: this.binding, created: s.created, passphrase: this.input.secret.passphrase };
  }

  burnRequested(): boolean {
    return this.state.burnRequestedBy !== undefined;
  }

  // ---- Messages (each handler ignores input that does not fit, see workflows/share-secret.ts) ----
  // Signals and updates reach the workers only encrypted with PAYLOAD_KEYS: anything else, not encrypted or not
  // decrypting, arrives as a refusal marker (workflows/input.ts) that fits no handler, so sending one takes the codec:
  // see README.md ("Confidentiality and the threat model").

  recordSmsStatus(ev: SmsStatusEvent): void {
    if (!isObj(ev) || typeof ev.messageSid !== 'string' || !/^[A-Za-z0-9]{2,64}$/.test(ev.messageSid)) return;
    if (!isSmsStatus(ev.status)) return;
    if (ev.errorCode !== undefined && !isText(ev.errorCode, 16)) return;
    // A run's SMS map holds the hand-off's own messages and their callbacks: bounded against a flood of made-up SIDs.
    if (!(ev.messageSid in this.state.sms) && Object.keys(this.state.sms).length >= MAX_TRACKED_MESSAGES) return;
    const prev = this.state.sms[ev.messageSid];
    const next = advanceSmsStatus(prev?.status, ev.status);
    this.state.sms[ev.messageSid] = { status: next, errorCode: next === ev.status ? ev.errorCode : prev?.errorCode };
    this.showDetails();
  }

  /**
   * A burn signal (Temporal UI, the CLI): recorded unless the hand-off is over; it must say who asks (`{"by": …}`),
   * and the first requester is the one named in notes.
   */
  requestBurn(req: unknown): void {
    if (!isObj(req) || !isText(req.by, 200)) return;
    if (!this.isFinal()) this.state.burnRequestedBy ??= req.by;
  }

  /**
   * The burn update's validator: only the agent that started the hand-off may burn it through the API; any other
   * caller is told there is no such hand-off (src/http/shares.ts answers 404).
   */
  validateBurn(req: unknown): void {
    // input.agent is a token id (workflows/input.ts checked it), so an equal req.agent is one too.
    if (!isObj(req) || !isText(req.by, 200) || req.agent !== this.input.agent)
      throw ApplicationFailure.create({ type: 'NOT_FOUND', message: 'no such share', nonRetryable: true });
    if (this.isFinal())
      throw ApplicationFailure.create({
        type: 'ALREADY_FINAL',
        message: `the hand-off is already ${this.state.state}`,
      });
  }

  /** The burn update: done when the hand-off has ended, or when burning itself failed and waits for a technician. */
  async burn(req: { by: string }): Promise<ShareStatus> {
    this.state.burnRequestedBy ??= req.by;
    await condition(() => this.isFinal() || this.state.burnBlocked === true);
    return this.status();
  }

  /**
   * The wait update's validator: only the agent that started the hand-off may wait on it (anyone else: "no such
   * share"), and not on a hand-off that is over or a run about to continue as new (the API answers at once then).
   */
  validateWait(req: unknown): void {
    if (!isObj(req) || req.agent !== this.input.agent)
      throw ApplicationFailure.create({ type: 'NOT_FOUND', message: 'no such share', nonRetryable: true });
    if (
      !isText(req.since, 40) ||
      typeof req.timeoutMs !== 'number' ||
      !(req.timeoutMs >= 1 && req.timeoutMs <= MAX_WAIT_MS)
    )
      throw ApplicationFailure.create({
        type: 'BAD_REQUEST',
        message: 'since and timeoutMs (1 ms to 60 s) are required',
      });
    if (this.isFinal() || this.draining)
      throw ApplicationFailure.create({ type: 'ANSWER_NOW', message: `the hand-off is ${this.state.state}` });
    // Temporal takes at most 10 updates in flight per workflow and 2,000 per run: keep room for burns, and a hand-off
    // that stays in one state for a long time (paused for a technician) from filling its history with waits. The
    // API then waits by reading the status instead (src/http/shares.ts).
    if (this.waits >= MAX_WAITS_IN_FLIGHT || workflowInfo().historyLength >= WAIT_HISTORY_LIMIT)
      throw ApplicationFailure.create({ type: 'WAIT_BY_READING', message: 'too many waits on this hand-off' });
  }

  /** The wait update: the status, once the state differs from `since`, or when the time is up. */
  async waitForChange(req: WaitRequest): Promise<ShareStatus> {
    this.waits += 1;
    try {
      await condition(() => this.state.state !== req.since || this.draining, req.timeoutMs);
    } finally {
      this.waits -= 1;
    }
    return this.status();
  }

  /** The receiptChanged signal: a hint to check now, taken only while the receipt is watched. */
  hintReceiptChanged(): void {
    if (this.state.state === 'awaiting_view') this.receiptHinted = true;
  }

  /** The call session's answer: a live stream must be on one of this deployment's voice queues. */
  receiveCallLine(line: CallLine): void {
    if (!isObj(line)) return;
    if (
      (line.live === true &&
        isText(line.streamSid, 128) &&
        isText(line.taskQueue, 300) &&
        isVoiceTaskQueue(workflowInfo().taskQueue, line.taskQueue)) ||
      (line.live === false && isText(line.reason, 300))
    )
      this.callLine = line;
  }

  resolve(r: Resolution): void {
    if (!isObj(r) || !['retry', 'delivered_manually', 'cancel'].includes(r.action as string)) return;
    if ((r.by !== undefined && !isText(r.by, 200)) || (r.comment !== undefined && !isText(r.comment, 500))) return;
    if (this.state.state === 'needs_technician') this.resolution = r;
  }

  // ---- Transitions ----

  setState(s: ShareState): void {
    if (this.state.state === s) return;
    this.state.state = s;
    upsertSearchAttributes([{ key: ShareStateKey, value: s }]);
    if (this.isFinal()) reportFinished(s, this.state.requestedAt!);
    this.showDetails();
  }

  /** Adds a ticket note; also posted to the PSA webhook, best effort: the note list is the record either way. */
  async note(text: string, followUp?: boolean): Promise<void> {
    const n = { at: new Date().toISOString(), text, ...(followUp ? { followUp: true } : {}) };
    this.state.notes.push(n);
    this.showDetails();
    if (!this.input.notesWebhook) return;
    try {
      await this.activities.notesHook.postNote({ shareId: this.input.shareId, ticketId: this.input.ticketId, note: n });
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.state.notes.push({
        at: new Date().toISOString(),
        text: 'The PSA notes webhook did not accept the note above; it is kept here.',
      });
      this.showDetails();
    }
  }

  /**
   * Pauses for a technician after a failed step and returns their decision. A burn request also ends the pause
   * (as "cancel"), except while the failed step is the burn itself.
   */
  async pauseForTechnician(what: string, reason: string, opts: { burnEndsPause?: boolean } = {}): Promise<Resolution> {
    const burnEndsPause = opts.burnEndsPause ?? true;
    const resumeAt = this.state.state;
    this.resolution = undefined; // a decision sent before this pause does not answer it
    this.setState('needs_technician');
    await this.note(
      `${what} failed (${reason}). No cleartext fallback: the hand-off is paused until a technician resolves it ` +
        `(signal "resolve" with action retry, delivered_manually or cancel).`,
      true,
    );
    await condition(() => this.resolution !== undefined || (burnEndsPause && this.burnRequested()));
    const r: Resolution = this.resolution ?? {
      action: 'cancel',
      by: this.state.burnRequestedBy,
      comment: 'burn requested',
    };
    this.resolution = undefined;
    await this.note(
      `Technician decision: ${r.action}${r.by ? ` by ${r.by}` : ''}${r.comment ? ` (${r.comment})` : ''}.`,
    );
    if (r.action === 'retry') this.setState(resumeAt);
    return r;
  }

  /** How a hand-off ends when a technician does not retry: a pending burn request wins. */
  endingFor(r: Resolution): Ending {
    return this.burnRequested() ? 'burned' : r.action === 'cancel' ? 'cancelled' : 'resolved';
  }

  /** Runs a step; on failure waits for a technician, and runs it again until they decide otherwise. */
  private async step<T>(what: string, fn: () => Promise<T>): Promise<Stepped<T>> {
    for (;;) {
      try {
        return { value: await fn() };
      } catch (err) {
        // A cancelled workflow cancels its activities: that is no failure for a technician (workflows/share-secret.ts).
        if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
        // An input the agent API did not make: the workflow fails here, with no note and nothing sent.
        if (isFatal(err)) throw err.cause;
        const r = await this.pauseForTechnician(what, failureReason(err));
        if (r.action === 'retry') continue;
        return { end: this.endingFor(r) };
      }
    }
  }

  /**
   * Ends the hand-off. A secret that may still be live is burned first so no link outlives the hand-off; if the
   * burn fails, a technician decides (retry the burn, or accept that the link lives until it expires).
   */
  async close(ending: Ending): Promise<void> {
    const s = this.state;
    while (s.created && !s.viewedAt) {
      try {
        const { binding } = this;
        const { receipt } = s.created;
        const r = await this.activities.ots.burnSecret({ binding, receipt, passphrase: this.input.secret.passphrase });
        if (
          r.state === 'gone' &&
          (await this.applyCheck(await this.activities.receipts.checkSecret({ binding, receipt })))
        )
          return;
        await this.note(
          ending === 'burned'
            ? `Secret burned at the request of ${s.burnRequestedBy ?? 'a technician'}; the link no longer opens.`
            : 'The Onetime Secret was burned so the link no longer opens.',
        );
        break;
      } catch (err) {
        if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
        s.burnBlocked = true;
        const r = await this.pauseForTechnician('Burning the Onetime Secret', failureReason(err), {
          burnEndsPause: false,
        });
        s.burnBlocked = false;
        if (r.action === 'retry') continue;
        this.linkLeftLive = true;
        await this.note(`The link was NOT burned: it stays live until it expires at ${s.created.expiresAt}.`, true);
        break;
      }
    }
    if (!s.created && ending === 'burned')
      await this.note(`Burn requested by ${s.burnRequestedBy} before a secret existed; nothing was sent.`);
    this.setState(ending);
  }

  /**
   * The workflow was cancelled in Temporal (UI "Request Cancellation", `temporal workflow cancel`, a client's
   * cancel()). Runs in a non-cancellable scope (workflows/share-secret.ts): burns a secret that may still be live and
   * ends `cancelled`. It never pauses for a technician, as the cancellation came from one: a burn that still fails
   * after its retries is noted with a follow-up flag. See docs/decisions.md ("Cancelled in Temporal: burn, then end
   * Canceled").
   */
  async cancelled(): Promise<void> {
    const s = this.state;
    if (this.isFinal()) return; // over already: its ending stands
    // Final at once: a burn update waiting now is refused as "already cancelled" rather than left to race the burn.
    this.setState('cancelled');
    const what =
      'Cancelled in Temporal (a workflow cancellation request: Temporal UI, `temporal workflow cancel` or an API ' +
      "client; the requester's identity is in the history's WorkflowExecutionCancelRequested event)";
    if (!s.created) {
      await this.note(`${what} before a secret was created; nothing was sent.`);
      return;
    }
    try {
      const { binding } = this;
      const { receipt } = s.created;
      const r = await this.activities.otsCancelBurn.burnSecret({
        binding,
        receipt,
        passphrase: this.input.secret.passphrase,
      });
      await this.note(
        r.state === 'gone'
          ? `${what}. The secret was already gone from Onetime Secret (opened, expired or burned elsewhere): the link no longer opens.`
          : `${what}. The secret was burned: the link no longer opens.`,
      );
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      this.linkLeftLive = true;
      await this.note(
        `${what}. Burning the secret failed (${failureReason(err)}): the link was NOT burned and stays live until it ` +
          `expires at ${s.created.expiresAt}. Burn it with POST /v1/shares/${this.input.shareId}/burn (the agent ` +
          'API burns it directly in Onetime Secret once the workflow has ended).',
        true,
      );
    }
  }

  /** Waits for the handlers still running (a burn update's answer), then gives the result. */
  async finish(): Promise<ShareResult> {
    await condition(allHandlersFinished);
    const s = this.state;
    return {
      shareId: this.input.shareId,
      ticketId: this.input.ticketId,
      state: s.state,
      viewedAt: s.viewedAt,
      expiresAt: s.created?.expiresAt,
    };
  }

  // ---- The steps ----

  /** Step 1: creates the Onetime Secret, unless an earlier run did. */
  async create(): Promise<StepEnd | undefined> {
    const { input } = this;
    if (this.state.created) return undefined;
    if (this.burnRequested()) return 'burned';
    // A technician's retry runs the step again: tell it what the failed tries left, so it looks for a secret they
    // may have created before making one. See docs/onetime-secret.md ("Creating exactly once").
    // The tries' create markers say where each one's last send could have landed (and whether it held its
    // fingerprint's lease); for a try that left none, its span says a retry must look (by the leases it took).
    let recover: RecoverWindow | undefined;
    const created = await this.step('Creating the Onetime Secret', async () => {
      const triedAt = Date.now();
      try {
        // The input as the agent API signed it: the activity checks the signature first.
        return await this.activities.otsCreate.createSecret({ input: { ...input, resume: undefined }, recover });
      } catch (err) {
        // Even after a refusal: the refused call may have been the lookup, not the send before it.
        const marker = createMarkerOf(err);
        recover = marker
          ? { ...recover, markers: [...(recover?.markers ?? []), marker] }
          : { ...recover, since: recover?.since ?? triedAt, until: Date.now() };
        throw err;
      }
    });
    if (created.end) return created.end;
    const secret = created.value;
    this.state.created = secret;
    upsertSearchAttributes([{ key: ExpiresAt, value: new Date(secret.expiresAt) }]);
    await this.note(
      `Onetime Secret created (receipt ${secret.receiptRef}…, ` +
        `${secret.passphraseRequired ? 'passphrase required' : 'no passphrase'}), expires ${secret.expiresAt}.` +
        (secret.recovered ? ' Found again after an attempt whose answer was lost; no second secret was created.' : ''),
    );
    return undefined;
  }

  /** Steps 2 and 3: sends the link, or the passphrase on the other channel, unless already done. */
  async deliver(what: 'link' | 'passphrase'): Promise<StepEnd | undefined> {
    const s = this.state;
    const done =
      what === 'link'
        ? s.linkSentAt !== undefined
        : s.passphraseDeliveredAt !== undefined || this.input.passphrase.mode === 'none';
    if (done) return undefined;
    // A burn request stops before each send.
    if (this.burnRequested()) return 'burned';
    this.setState('delivering');
    return what === 'link' ? this.sendLink() : this.sendPassphrase();
  }

  /**
   * Step 4: watches the receipt on durable timers until the link is opened, burned or expired, and hands a failed
   * SMS delivery to a technician. Returns `continue-as-new` when this run's history is long enough.
   */
  async watch(): Promise<StepEnd | 'continue-as-new'> {
    const s = this.state;
    const created = s.created!;
    this.setState('awaiting_view');
    let pollsThisRun = 0;
    let lastCheckAt = 0;
    // While the caller is likely on the line, a process's batched receipt list looks for the receipt on every
    // refresh and signals a change (src/ots/receipt-batcher.ts); the timers below are the fallback.
    // Patched: a hand-off already watching when this version came in has no watchReceipt in its history.
    if (patched('live-window')) await this.watchLive(created);
    for (;;) {
      const delay = nextPollDelayMs(this.input.pollIntervals, s.polls, Date.now(), Date.parse(created.expiresAt));
      const live = this.liveForMs() > 0;
      // While a call is live, check at least every minute, so the live registration is renewed on some process.
      let timer = live && this.callIsLive() ? Math.min(delay, CALL_LIVE_CHECK_MS) : delay;
      // While a process watches the receipt live (and will signal its change), the fast checks of the schedule
      // would only repeat what that list sees: one a minute is the fallback (and renews the registration), never
      // past the expiry. The schedule's own pace comes back with the end of the live window.
      if (live && this.liveWatched)
        timer = Math.max(timer, Math.min(LIVE_FALLBACK_CHECK_MS, Date.parse(created.expiresAt) + 1_000 - Date.now()));
      const byTimer = !(await condition(
        () => this.burnRequested() || this.failedDelivery() !== undefined || this.receiptHinted,
        timer,
      ));

      if (this.burnRequested()) return 'burned';
      const failed = this.failedDelivery();
      if (failed) {
        const end = await this.redeliver(failed);
        if (end) return end;
        continue;
      }
      if (!byTimer) {
        // A hint: checked at once, but no more often than RECEIPT_HINT_SPACING_MS whoever sends them.
        this.receiptHinted = false;
        const wait = lastCheckAt + RECEIPT_HINT_SPACING_MS - Date.now();
        if (wait > 0) await condition(() => this.burnRequested(), wait);
        if (this.burnRequested()) return 'burned';
      }

      const check = await this.step('Checking the secret in Onetime Secret', () =>
        this.activities.receipts.checkSecret({
          binding: this.binding,
          receipt: created.receipt,
          liveForMs: this.liveForMs() || undefined,
        }),
      );
      if (check.end) return check.end;
      lastCheckAt = Date.now();
      // Only the timers' checks advance the schedule: a hint (or a flood of made-up ones) does not thin it out.
      if (byTimer) s.polls += 1;
      pollsThisRun += 1;
      if (await this.applyCheck(check.value)) return 'final';

      if (workflowInfo().continueAsNewSuggested || pollsThisRun >= POLLS_PER_RUN) {
        // A burn update that arrives now waits for the burn, so it must not be waited for here: burn first. Waits
        // (the long poll) answer now and no new ones are taken: they would keep this run open.
        this.draining = true;
        await condition(() => allHandlersFinished() || this.burnRequested());
        if (this.burnRequested()) {
          this.draining = false;
          continue;
        }
        return 'continue-as-new';
      }
    }
  }

  /** Registers the receipt with a process's live watch for as long as the caller is likely on the line. */
  private async watchLive(created: CreatedSecret): Promise<void> {
    const liveForMs = this.liveForMs();
    if (liveForMs <= 0) return;
    try {
      const r = await this.activities.receipts.watchReceipt({
        binding: this.binding,
        receipt: created.receipt,
        liveForMs,
      });
      this.liveWatched = r?.watching === true;
    } catch (err) {
      // Only an acceleration: the timers check the receipt either way.
      if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
    }
  }

  /** Whether the hand-off's call is live: its passphrase went over a call whose session has not said it ended. */
  private callIsLive(): boolean {
    // At most as long as a call session lives (workflows/call-session.ts MAX_LIFETIME_MS): a session that ended
    // before sessions said so to the hand-offs they served never will.
    const sent = this.state.linkSentAt ? Date.parse(this.state.linkSentAt) : Date.now();
    return (
      this.input.passphrase.mode === 'voice' &&
      this.callLine?.live === true &&
      Date.now() < sent + CALL_SESSION_MAX_LIFETIME_MS
    );
  }

  /**
   * How much longer the caller is likely on the line: the first LIVE_WINDOW_MS after the link was sent, and a
   * voice hand-off's call while its session says it is live (renewed on every check).
   */
  private liveForMs(): number {
    const sent = this.state.linkSentAt ? Date.parse(this.state.linkSentAt) : Date.now();
    const window = Math.max(0, sent + LIVE_WINDOW_MS - Date.now());
    return this.callIsLive() ? Math.max(window, 2 * CALL_LIVE_CHECK_MS) : window;
  }

  // ---- Parts of the steps ----

  /** Applies a receipt state; returns true when the hand-off reached a final state. */
  private async applyCheck(r: SecretCheck): Promise<boolean> {
    const created = this.state.created!;
    const expired = Date.now() >= Date.parse(created.expiresAt);
    switch (r.state) {
      case 'received':
        this.state.viewedAt = r.receivedAt;
        this.setState('viewed');
        await this.note(`Link opened at ${r.receivedAt}; the secret has been destroyed by Onetime Secret.`);
        return true;
      case 'burned':
        this.setState('burned');
        await this.note('The secret was burned in Onetime Secret outside this hand-off.');
        return true;
      case 'expired':
      case 'orphaned':
      case 'gone':
        if (r.state !== 'expired' && !expired) {
          this.setState('burned');
          await this.note(
            'The secret vanished from Onetime Secret before it expired (burned or removed elsewhere).',
            true,
          );
          return true;
        }
        // Never a new secret on expiry: docs/decisions.md ("Expired unopened: flag, never regenerate").
        this.setState('expired');
        await this.note(
          `Link expired unopened at ${created.expiresAt}. Technician follow-up needed: contact the caller. ` +
            'No new secret was created.',
          true,
        );
        return true;
      default:
        return false;
    }
  }

  /** The link went out; the time from the request is reported the first time only (not after a resend). */
  private markLinkSent(): void {
    const first = this.state.linkSentAt === undefined;
    this.state.linkSentAt = new Date().toISOString();
    if (first) reportLinkSent(this.state.requestedAt!);
  }

  private async sendLink(): Promise<Ending | undefined> {
    const { input } = this;
    const created = this.state.created!;
    if (input.link.channel === 'email') {
      // OTS mailed the link itself when the secret was created with `recipient`.
      this.markLinkSent();
      await this.note(
        `Link sent by email (by Onetime Secret) to ${maskRecipient(input.link.to)}; expires ${created.expiresAt}.`,
      );
      return undefined;
    }
    const link = input.link;
    const sent = await this.step('Sending the link by SMS', () =>
      this.activities.delivery.sendLinkSms({
        binding: this.binding,
        link: created.link,
        expiresAt: created.expiresAt,
        statusCallback: input.smsStatusCallback,
        passphraseVia: input.passphrase.mode === 'none' ? undefined : input.passphrase.mode,
      }),
    );
    if (sent.end) return sent.end;
    this.state.linkMessageSid = sent.value.sid;
    this.markLinkSent();
    await this.note(
      `Link sent by SMS to ${maskRecipient(link.to)} (message ${sent.value.sid}); expires ${created.expiresAt}.`,
    );
    return undefined;
  }

  private async sendPassphrase(): Promise<Ending | undefined> {
    const pp = this.input.passphrase;
    if (!this.input.secret.passphrase) return undefined;
    if (pp.mode === 'sms') return this.sendPassphraseSms(pp.to);
    if (pp.mode === 'voice') return speakPassphrase(this, pp);
    return undefined;
  }

  async sendPassphraseSms(to: string, why = 'a different channel from the link'): Promise<Ending | undefined> {
    const passphrase = this.input.secret.passphrase!;
    const sent = await this.step('Sending the passphrase by SMS', () =>
      this.activities.delivery.sendPassphraseSms({
        binding: this.binding,
        passphrase,
        statusCallback: this.input.smsStatusCallback,
      }),
    );
    if (sent.end) return sent.end;
    this.state.passphraseMessageSid = sent.value.sid;
    this.state.passphraseDeliveredAt = new Date().toISOString();
    await this.note(`Passphrase sent by SMS to ${maskRecipient(to)} (message ${sent.value.sid}; ${why}).`);
    return undefined;
  }

  /** A link or passphrase SMS that Twilio reported undelivered or failed, not yet handled by a technician. */
  private failedDelivery(): { sid: string; kind: 'link' | 'passphrase' } | undefined {
    const s = this.state;
    for (const [kind, sid] of [
      ['link', s.linkMessageSid],
      ['passphrase', s.passphraseMessageSid],
    ] as const) {
      if (sid && !s.handledFailures.includes(sid) && isSmsFailure(s.sms[sid]?.status)) return { sid, kind };
    }
    return undefined;
  }

  /** A failed SMS delivery goes to a technician; on retry it is sent again and the watch goes on. */
  private async redeliver(failed: { sid: string; kind: 'link' | 'passphrase' }): Promise<Ending | undefined> {
    this.state.handledFailures.push(failed.sid);
    const sms = this.state.sms[failed.sid];
    const r = await this.pauseForTechnician(
      `Delivering the ${failed.kind} SMS`,
      `SMS_UNDELIVERED: Twilio reported ${sms?.status} (error ${sms?.errorCode ?? 'none'}) for message ${failed.sid}`,
    );
    if (r.action !== 'retry') return this.endingFor(r);
    this.setState('delivering');
    const end = await (failed.kind === 'link' ? this.sendLink() : this.sendPassphrase());
    if (end) return end;
    this.setState('awaiting_view');
    return undefined;
  }
}

/** How many distinct message SIDs a run tracks (its own link and passphrase SMS, resent a few times). */
const MAX_TRACKED_MESSAGES = 50;
