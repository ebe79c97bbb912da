// The shareSecret workflow on Temporal's time-skipping test server, with in-memory activities: the workflow's
// decisions (retries, technician pauses, burns, expiry, the poll schedule, continue-as-new, the voice fallback rule)
// tested in well under a second each, a 24 h watch included.
//
// Only the workflow's public interface is used: the workflow types `shareSecret` and `callSession` from the real
// bundle (workflows/index.ts, bundled once per run by test/global-setup.ts), ShareInput, the messages of
// workflows/messages.ts and the activity names. The activities are plain functions returning what the real ones
// return (sealed links, `{sid}`, receipt states) and failing as they fail (an ApplicationFailure whose type is the
// service's code and whose details say whether the service refused). Every call is recorded with the attempt
// number and the server's clock, so tests count calls and read the schedule.
//
// Time: the test server's clock is locked while a test polls the status query (it runs at wall-clock speed), and
// skips ahead to the next timer while a test awaits a workflow result (`result()`) or calls `skip()`.
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inject } from 'vitest';
import { passphraseSmsRecipient } from '../../activities/delivery.js';
import { makeShareInput, type ShareFields } from '../../src/handoff-input.js';
import { createMetrics, handoffMetricsSink, type Metrics } from '../../src/metrics.js';
import { createSealer, handoffContext, type Sealed } from '../../src/seal.js';
import { createDataConverter } from '../../src/temporal/data-converter.js';
import { generatePayloadKey } from '../../src/temporal/payload-codec.js';
import {
  awaitCallSignal,
  burnSignal,
  smsStatusSignal,
  statusQuery,
  streamStartedSignal,
} from '../../workflows/messages.js';
import { callWorkflowId, shareWorkflowId } from '../../workflows/ids.js';
import type {
  Binding,
  CreatedSecret,
  ShareInput,
  ShareResult,
  ShareStatus,
  SmsStatusEvent,
  SpokenPassphrase,
} from '../../workflows/types.js';

/** The activities the workflows call, by name, and the queue each runs on. */
const MAIN = ['checkSecret', 'watchReceipt', 'sendLinkSms', 'sendPassphraseSms', 'postNote', 'awaitCall'] as const;
const OTS = ['createSecret', 'checkSecret', 'burnSecret'] as const;
const VOICE = ['speakPassphrase'] as const;
export type ActivityName = (typeof MAIN)[number] | (typeof OTS)[number] | (typeof VOICE)[number];

/** A receipt state as checkSecret and burnSecret answer it. */
export type SecretCheck =
  { state: 'new' | 'viewed' | 'burned' | 'expired' | 'orphaned' | 'gone' } | { state: 'received'; receivedAt: string };

/** One recorded activity call. */
export interface Call {
  args: any;
  /** 1 for the first attempt, 2 for Temporal's first retry, … */
  attempt: number;
  /** The server's clock when this attempt was scheduled (skipped time included). */
  atMs: number;
  /** The wall clock when the attempt ran (the server's clock runs at that pace while it is locked). */
  ranAtMs: number;
  /** The workflow run that called (continue-as-new starts a new one). */
  runId: string;
}

/** What a scripted step sees: the call, the hand-off, and the in-memory default behaviour. */
export interface StepContext<T> extends Call {
  handoff: Handoff;
  /** What the activity does by default (creates the secret, sends the SMS, …). */
  proceed(): Promise<T>;
}
export type Step<T = any> = (c: StepContext<T>) => T | Promise<T>;

/**
 * An ApplicationFailure as the activities raise it (activities/: the failure's type is the service's code, its
 * details say whether the service refused). Retryable unless `nonRetryable`; `nextRetryDelay` is a Retry-After.
 */
export function failure(
  type: string,
  outcome: 'refused' | 'unknown',
  opts: { nonRetryable?: boolean; nextRetryDelay?: string; message?: string } = {},
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message: opts.message ?? `${type} (test)`,
    nonRetryable: opts.nonRetryable ?? false,
    nextRetryDelay: opts.nextRetryDelay,
    details: [{ outcome }],
  });
}
/** A step that fails as above. */
export const fail =
  (...a: Parameters<typeof failure>): Step =>
  () => {
    throw failure(...a);
  };
/** The same step n times (for a queue of attempts). */
export const times = <T>(n: number, step: Step<T>): Step<T>[] => Array.from({ length: n }, () => step);

/**
 * A reading (speakPassphrase) that plays, heartbeating, until it is cancelled, or until `stop()` is called once the
 * test is over (the cancellation may reach it after the workflow ended).
 */
export function readUntilCancelled(): { step: Step<SpokenPassphrase>; stop(): void } {
  let over = false;
  return {
    step: async () => {
      const ctx = Context.current();
      while (!over) {
        ctx.heartbeat();
        await Promise.race([ctx.cancelled, new Promise((r) => setTimeout(r, 20))]);
      }
      throw new CancelledFailure('test over');
    },
    stop: () => {
      over = true;
    },
  };
}

/** A send whose Twilio status callback then reports it undelivered (relayed to the workflow as smsStatus). */
export const undelivered =
  (errorCode = '30003', status: SmsStatusEvent['status'] = 'undelivered'): Step<{ sid: string }> =>
  async (c) => {
    const sent = await c.proceed();
    await c.handoff.handle.signal(smsStatusSignal, { messageSid: sent.sid, status, errorCode });
    return sent;
  };

/** The outcomes of the caller opening the link (default: never). */
export interface Script {
  /** Per activity, the steps of its successive calls (attempts included); past the end, the default behaviour. */
  steps?: Partial<Record<ActivityName, Step[]>>;
  /** The caller opens the link this long after it was created (server clock). */
  openAfterMs?: number;
  /** watchReceipt answers that a process watches the receipt live (as src/ots/receipt-batcher.ts does). */
  liveWatched?: boolean;
}

interface SecretRecord {
  metadataKey: string;
  link: string;
  createdMs: number;
  expiresMs: number;
  openedMs?: number;
  burned?: boolean;
}

export interface HandoffOptions extends Partial<ShareFields> {
  /** The secret's value (sealed into the input with the harness's sealer); default a random one. */
  value?: string;
  /** The passphrase (sealed into the input); the workflow sends or reads one only when it is set. */
  passphraseValue?: string;
  /** Start with a burn signal already in the history (signal-with-start): burn before anything runs. */
  burnAtStart?: { by?: string };
}

let shareCounter = 0;

/** One hand-off under test: its workflow handle, its input, its in-memory world and what the activities recorded. */
export class Handoff {
  readonly calls = new Map<ActivityName, Call[]>();
  readonly secrets: SecretRecord[] = [];
  readonly sms: { kind: 'link' | 'passphrase'; to: string; sid: string; args: any }[] = [];
  /** Set by `open()`: the caller opens the link before the next receipt check or burn. */
  private openNow = false;
  private stepIndex = new Map<ActivityName, number>();
  /** The run the hand-off started with (continue-as-new starts others under the same workflow id). */
  firstRunId = '';

  constructor(
    readonly harness: Harness,
    readonly input: ShareInput,
    readonly workflowId: string,
    readonly handle: WorkflowHandle,
    private readonly script: Script,
  ) {}

  /** The calls made to one activity, attempts included, in order. */
  callsOf(name: ActivityName): Call[] {
    return this.calls.get(name) ?? [];
  }

  /** The caller opens the link now (as seen by the next receipt check or burn). */
  open(): void {
    this.openNow = true;
  }

  status(): Promise<ShareStatus> {
    return this.handle.query(statusQuery);
  }

  /** The workflow's result; the server skips time while it is awaited. */
  result(): Promise<ShareResult> {
    return this.handle.result() as Promise<ShareResult>;
  }

  /**
   * Polls the status query until `pred` holds. Without `skipMs` the server's clock is locked meanwhile (wall-clock
   * time, for states reached without a timer); with it, each poll first skips that much server time (for states
   * reached after retries or timers).
   */
  async until(pred: (s: ShareStatus) => boolean, opts: { skipMs?: number; what?: string } = {}): Promise<ShareStatus> {
    const deadline = Date.now() + 15_000;
    let last: ShareStatus | undefined;
    for (;;) {
      last = await this.status().catch(() => undefined);
      if (last && pred(last)) return last;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${opts.what ?? 'the status'}; last status: ${JSON.stringify(last)}`);
      if (opts.skipMs) await this.harness.env.sleep(opts.skipMs);
      else await new Promise((r) => setTimeout(r, 15));
    }
  }
  untilState(state: ShareStatus['state'], opts: { skipMs?: number } = {}): Promise<ShareStatus> {
    return this.until((s) => s.state === state, { ...opts, what: `state ${state}` });
  }

  /** Note texts so far, joined by newlines, for regular expressions spanning several notes. */
  async noteText(): Promise<string> {
    return (await this.status()).notes.map((n) => n.text).join('\n');
  }

  /** Runs activity `name` for this hand-off: the script's next step for it, or the default. */
  async run(name: ActivityName, args: any): Promise<unknown> {
    const info = Context.current().info;
    const call: Call = {
      args,
      attempt: info.attempt,
      atMs: info.currentAttemptScheduledTimestampMs,
      ranAtMs: Date.now(),
      runId: info.workflowExecution?.runId ?? '',
    };
    this.calls.set(name, [...this.callsOf(name), call]);
    const i = this.stepIndex.get(name) ?? 0;
    this.stepIndex.set(name, i + 1);
    const step = this.script.steps?.[name]?.[i];
    const proceed = () => this.defaultActivity(name, call);
    return step ? step({ ...call, handoff: this, proceed }) : proceed();
  }

  private async defaultActivity(name: ActivityName, call: Call): Promise<unknown> {
    const { args, atMs } = call;
    const sealer = this.harness.sealer;
    switch (name) {
      case 'createSecret': {
        const binding = args.input as ShareInput;
        const n = this.secrets.length + 1;
        const metadataKey = `m${this.input.shareId.slice(4)}${n}`;
        const link = `https://ots.invalid/secret/s${this.input.shareId.slice(4)}${n}`;
        const secret: SecretRecord = {
          metadataKey,
          link,
          createdMs: atMs,
          expiresMs: atMs + binding.ttlSeconds * 1000,
        };
        this.secrets.push(secret);
        const created: CreatedSecret = {
          receipt: sealer.seal(metadataKey, handoffContext('receipt', binding)),
          receiptRef: metadataKey.slice(0, 8),
          link: sealer.seal(link, handoffContext('link', binding)),
          expiresAt: new Date(secret.expiresMs).toISOString(),
          passphraseRequired: binding.secret.passphrase !== undefined,
        };
        return created;
      }
      case 'checkSecret': {
        const s = this.secretFor(this.receiptKey(args), atMs);
        const openAt = this.script.openAfterMs !== undefined ? s.createdMs + this.script.openAfterMs : undefined;
        if (s.openedMs === undefined && openAt !== undefined && atMs >= openAt && openAt < s.expiresMs && !s.burned)
          s.openedMs = openAt;
        if (s.openedMs !== undefined) return { state: 'received', receivedAt: new Date(s.openedMs).toISOString() };
        // OTS answers "Unknown secret" for a burned, consumed or expired one: the activity reports `gone`.
        if (s.burned || atMs >= s.expiresMs) return { state: 'gone' };
        return { state: 'new' };
      }
      case 'burnSecret': {
        const s = this.secretFor(this.receiptKey(args), atMs);
        if (s.openedMs !== undefined || s.burned || atMs >= s.expiresMs) return { state: 'gone' };
        s.burned = true;
        return { state: 'burned' };
      }
      case 'sendLinkSms':
      case 'sendPassphraseSms': {
        const sid = `SM${randomBytes(16).toString('hex')}`;
        // As the real activities: the recipient comes from the binding the sealed value opens for.
        const to = name === 'sendLinkSms' ? args.binding.link.to : passphraseSmsRecipient(args.binding)!;
        this.sms.push({ kind: name === 'sendLinkSms' ? 'link' : 'passphrase', to, sid, args });
        return { sid };
      }
      case 'postNote':
        return undefined;
      case 'watchReceipt':
        // A real process's live watch (src/ots/receipt-batcher.ts) when the script says so; none by default.
        return this.script.liveWatched ? { watching: true } : { watching: false };
      case 'awaitCall':
        // As the real activity: register with the call's session (signal-with-start of the real callSession).
        await this.harness.env.client.workflow.signalWithStart('callSession', {
          workflowId: callWorkflowId(args.callSid),
          taskQueue: this.harness.taskQueue,
          args: [{ callSid: args.callSid }],
          signal: awaitCallSignal,
          signalArgs: [{ workflowId: args.workflowId }],
        });
        this.harness.track(callWorkflowId(args.callSid));
        return undefined;
      case 'speakPassphrase': {
        const heard: SpokenPassphrase = { outcome: 'heard', heardAt: new Date(atMs).toISOString(), readings: 1 };
        return heard;
      }
    }
  }

  /** The receipt key a checkSecret or burnSecret call carries, opened as the real activity opens it. */
  receiptKey(args: { binding: Binding; receipt: Sealed }): string {
    return this.harness.sealer.open(args.receipt, handoffContext('receipt', args.binding));
  }

  /** The secret of a receipt, opened now if `open()` was called and it still can be. */
  private secretFor(metadataKey: string, atMs: number): SecretRecord {
    const s = this.secrets.find((x) => x.metadataKey === metadataKey);
    if (!s) throw new Error(`no secret with receipt ${metadataKey}`);
    if (this.openNow && s.openedMs === undefined && !s.burned && atMs < s.expiresMs) s.openedMs = atMs;
    this.openNow = false;
    return s;
  }
}

export interface Harness {
  env: TestWorkflowEnvironment;
  /** What the workflows reported through their metrics sink (workflows/metrics.ts). */
  metrics: Metrics;
  sealer: ReturnType<typeof createSealer>;
  taskQueue: string;
  /** The task queue of the "process holding the call's stream": speakPassphrase runs there. */
  voiceQueue: string;
  /** Starts a hand-off with `opts` over the defaults (SMS link, no passphrase, 1 h TTL, 60 s polls). */
  start(opts?: HandoffOptions, script?: Script): Promise<Handoff>;
  /** Skips server time (the clock is locked otherwise, except while a result is awaited). */
  skip(ms: number): Promise<void>;
  /** Remembers a workflow to terminate after the test if it is still running. */
  track(workflowId: string): void;
  /**
   * The call's media stream starts on "a process" whose voice queue is this harness's: as the media-stream handler
   * does, signal-with-start of the call's session, so the order against the hand-off's registration does not matter.
   */
  streamStarts(callSid: string): Promise<void>;
  /** Terminates what the last test left running. */
  cleanup(): Promise<void>;
  stop(): Promise<void>;
}

/** Why the time-skipping tests cannot run here (the test server could not be installed), or undefined. */
export function timeSkippingUnavailable(): string | undefined {
  return inject('timeSkipping').unavailable;
}

/**
 * One test server and one set of workers (main, OTS and voice queues) for a test file. With `on: 'dev-server'`, the
 * same on the run's shared dev server instead (real time, the production bundle and search attributes, and the
 * server suggests continue-as-new after 60 events: test/global-setup.ts).
 */
export async function startHarness(opts: { on?: 'time-skipping' | 'dev-server' } = {}): Promise<Harness> {
  const dataConverter = createDataConverter([generatePayloadKey('in-memory')]);
  let env: TestWorkflowEnvironment;
  let bundlePath: string;
  if (opts.on === 'dev-server') {
    env = await TestWorkflowEnvironment.createFromExistingServer({
      address: inject('temporalAddress'),
      client: { dataConverter },
    });
    bundlePath = inject('workflowBundlePath');
  } else {
    const ts = inject('timeSkipping');
    if (!ts.serverPath || !ts.bundlePath) throw new Error(`time-skipping server unavailable: ${ts.unavailable}`);
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: ts.serverPath } },
      client: { dataConverter },
    });
    bundlePath = ts.bundlePath;
  }
  const sealer = createSealer(randomBytes(32));
  // Unique: the dev server is shared by every test file of the run.
  const taskQueue = `in-memory-${randomBytes(6).toString('hex')}`;
  const voiceQueue = `${taskQueue}-voice-test`;
  const handoffs = new Map<string, Handoff>();
  const running = new Set<string>();

  const dispatch = (names: readonly ActivityName[]) =>
    Object.fromEntries(
      names.map((name) => [
        name,
        async (args: unknown) => {
          const id = Context.current().info.workflowExecution?.workflowId ?? '';
          const h = handoffs.get(id);
          if (!h) throw new Error(`activity ${name} for an unknown workflow ${id}`);
          return h.run(name, args);
        },
      ]),
    );
  const code = await readFile(bundlePath, 'utf8');
  const metrics = createMetrics();
  const workers = await Promise.all([
    Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { code },
      activities: dispatch(MAIN),
      dataConverter,
      sinks: { handoffMetrics: handoffMetricsSink(metrics) },
    }),
    Worker.create({
      connection: env.nativeConnection,
      taskQueue: `${taskQueue}-ots`,
      activities: dispatch(OTS),
      dataConverter,
    }),
    Worker.create({
      connection: env.nativeConnection,
      taskQueue: voiceQueue,
      activities: dispatch(VOICE),
      dataConverter,
    }),
  ]);
  const runs = Promise.all(workers.map((w) => w.run()));

  const harness: Harness = {
    env,
    metrics,
    sealer,
    taskQueue,
    voiceQueue,
    skip: (ms) => env.sleep(ms),
    track: (id) => void running.add(id),
    async streamStarts(callSid) {
      running.add(callWorkflowId(callSid));
      await env.client.workflow.signalWithStart('callSession', {
        workflowId: callWorkflowId(callSid),
        taskQueue,
        args: [{ callSid }],
        signal: streamStartedSignal,
        signalArgs: [
          { streamSid: `MZ${randomBytes(16).toString('hex')}`, taskQueue: voiceQueue, at: new Date().toISOString() },
        ],
      });
    },
    async start(opts = {}, script = {}) {
      const { value, passphraseValue, burnAtStart, ...rest } = opts;
      const shareId = `shr_${randomBytes(12).toString('hex')}`;
      const n = ++shareCounter;
      // Sealed for this hand-off and signed, as the agent API does (src/handoff-input.ts).
      const input = makeShareInput(
        sealer,
        {
          shareId,
          ticketId: `T-TS-${n}`,
          agent: 'agt_0123456789ab',
          ttlSeconds: 3600,
          link: { channel: 'sms', to: `+1555040${String(n).padStart(4, '0')}` },
          passphrase: { mode: 'none' },
          pollIntervals: [60],
          smsStatusCallback: `http://127.0.0.1:9/twilio/sms-status?share=${shareId}`,
          notesWebhook: false,
          ...rest,
        },
        { value: value ?? `Ts-Secret-${n}-${randomBytes(4).toString('hex')}`, passphrase: passphraseValue },
      );
      const workflowId = shareWorkflowId(shareId);
      const options = { taskQueue, workflowId, args: [input] };
      // Registered before its workflow starts: its first activity may run at once. A handle without a run id
      // follows the hand-off across continue-as-new.
      const handoff = new Handoff(harness, input, workflowId, env.client.workflow.getHandle(workflowId), script);
      handoffs.set(workflowId, handoff);
      running.add(workflowId);
      handoff.firstRunId = burnAtStart
        ? (
            await env.client.workflow.signalWithStart('shareSecret', {
              ...options,
              signal: burnSignal,
              signalArgs: [burnAtStart],
            })
          ).signaledRunId
        : (await env.client.workflow.start('shareSecret', options)).firstExecutionRunId;
      return handoff;
    },
    async cleanup() {
      for (const id of running) {
        const handle = env.client.workflow.getHandle(id);
        const d = await handle.describe().catch(() => undefined);
        if (d?.status.name === 'RUNNING') await handle.terminate('test over').catch(() => undefined);
      }
      running.clear();
    },
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await runs.catch(() => undefined);
      await env.teardown();
    },
  };
  return harness;
}
