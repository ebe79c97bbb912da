// The agent API: start a hand-off, read its status, burn it (README.md, "The agent API"; docs/architecture.md,
// "Request path").
import { createAdmission } from './admission.js';
import { createHash, randomBytes } from 'node:crypto';
import express, { Router } from 'express';
import { z } from 'zod';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { annotateSpan } from '../tracing.js';
import type { OtsClient } from '../ots/client.js';
import { OtsError } from '../ots/errors.js';
import { parseTtl } from '../ots/ttl.js';
import { generatePassphrase } from '../passphrase.js';
import { makeShareInput } from '../handoff-input.js';
import type { Sealer } from '../seal.js';
import {
  burnMaterialQuery,
  burnUpdate,
  statusQuery,
  waitForChangeUpdate,
  type BurnMaterial,
} from '../../workflows/messages.js';
import { CallSid, DeliveryChannel, ShareState, TicketId } from '../../workflows/search-attributes.js';
import type { shareSecret } from '../../workflows/share-secret.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import { SHARE_ID } from '../../workflows/input.js';
import { notOurHandoff } from '../temporal/handoff-run.js';
import { GRPC_STATUS } from '../temporal/client.js';
import { grpcCodeOf } from './temporal-errors.js';
import { technicianStaticDetails, technicianSummary } from '../../workflows/technician-view.js';
import {
  FINAL_STATES,
  type PassphraseDelivery,
  type ShareState as HandoffState,
  type ShareStatus,
} from '../../workflows/types.js';
import { agentHint } from './agent-hint.js';
import { shareStateSchema } from './api-schemas.js';
import { burnDirectly } from './direct-burn.js';
import { describeIssues, shareRequestSchema, shareToolSchema } from './schemas.js';

export interface SharesDeps {
  client: Client;
  taskQueue: string;
  sealer: Sealer;
  log: Logger;
  publicBaseUrl: string;
  defaultTtl: '1h' | '24h' | '7d' | number;
  requirePassphrase: boolean;
  pollIntervals: number[];
  notesWebhook: boolean;
  /** VOICE_CALL_WAIT_SECONDS in ms. */
  callWaitMs?: number;
  /** How long a request waits for Temporal (default TEMPORAL_DEADLINE_MS; tests shorten it). */
  temporalDeadlineMs?: number;
  /** Burns a closed hand-off's secret directly (src/http/direct-burn.ts). */
  ots: Pick<OtsClient, 'burn' | 'receipt'>;
  /** Hand-offs started (src/metrics.ts). */
  metrics?: Metrics;
}

/**
 * A 503 with Retry-After (src/http/app.ts): nothing is wrong with the request, the same request later will work.
 */
export class RetryLaterError extends Error {
  constructor(
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/**
 * How a hand-off's workflow ended when it closed without a final state (state `terminated`), or how a closed
 * hand-off's link was burned directly. Only in the agent API's answers: README.md ("Status").
 */
export interface Closed {
  /** Temporal's ExecutionStatus of the workflow: TERMINATED, TIMED_OUT, FAILED, CANCELLED, … */
  workflowStatus: string;
  at?: string;
  /** The hand-off's state when its workflow closed. */
  lastState: HandoffState;
  /** What that means for the link, for the agent and the ticket. */
  note: string;
}

/**
 * GET /v1/shares/:id's body, and the burn's: the workflow's status, with `closed` when it ended early and what the
 * agent may tell the caller (src/http/agent-hint.ts).
 */
export type StatusBody = ShareStatus & { closed?: Closed; agentHint: string };

/** A status body with its hint. */
function withHint(status: Omit<StatusBody, 'agentHint'> & { agentHint?: string }): StatusBody {
  return { ...status, agentHint: agentHint(status) };
}

/**
 * How long a request waits for Temporal. Without a deadline the client retries an unreachable server for about
 * 20 s; with one the agent hears 503 (src/http/app.ts) sooner and can retry with the same Idempotency-Key.
 */
export const TEMPORAL_DEADLINE_MS = 10_000;
/** How long a burn request whose update was not taken up should wait before trying again. */
const BURN_RETRY_AFTER_SECONDS = 5;
/**
 * Admission control (src/http/admission.ts): Temporal calls of the agent API in flight per process, how many may
 * wait, and for how long, before the answer is 503 "busy".
 */
export const TEMPORAL_ADMISSION = { maxInFlight: 32, maxQueued: 5_000, maxWaitMs: 20_000 };

/**
 * A retried request with the same Idempotency-Key (from the same token) maps to the same shareId, hence the same
 * workflow id; its start then fails ALREADY_EXISTS (conflict policy FAIL, reuse policy REJECT_DUPLICATE) and the
 * request is answered with the existing hand-off instead of starting another.
 */
function shareIdFor(token: string, idempotencyKey: string | undefined): string {
  const raw = idempotencyKey ? createHash('sha256').update(`${token}\0${idempotencyKey}`).digest() : randomBytes(16);
  return `shr_${BigInt(`0x${raw.subarray(0, 16).toString('hex')}`)
    .toString(36)
    .padStart(25, '0')}`;
}

/** Who is asking: the agent's bearer token and its id (src/http/auth.ts tokenId). */
export interface AgentCaller {
  token: string;
  tokenId: string;
}

/**
 * An operation's answer as the agent API gives it: the HTTP status and JSON body. The MCP tools (src/mcp/tools.ts)
 * give the same answers as tool results, so both front doors share one implementation. Errors that mean "retry
 * later" are thrown (RetryLaterError, TemporalBusyError, Temporal's own), and each front door maps them
 * (src/http/retry-later.ts).
 */
export interface AgentAnswer {
  status: number;
  body: object;
}

/** How long a status request may wait for a change (GET /v1/shares/:id?waitFor=change&timeout=…, MCP's wait). */
export const WAIT = { defaultSeconds: 30, maxSeconds: 60 } as const;
/**
 * Waits held open at once per process: beyond it a wait is answered 503 with Retry-After. A wait holds no admission
 * slot (it would starve the other requests), only an update call that sleeps in Temporal.
 */
export const MAX_WAITS_PER_PROCESS = 2_000;

export interface StatusWait {
  /** Answer as soon as the state differs from this one (default: the state when the request arrived). */
  since?: HandoffState;
  timeoutMs: number;
}

export function createAgentOps(deps: SharesDeps) {
  const admission = createAdmission(TEMPORAL_ADMISSION);
  /** Workflow id → its start (and describe) under way, shared by concurrent repeats of one Idempotency-Key. */
  const startsInFlight = new Map<string, Promise<unknown>>();
  const deadlineMs = deps.temporalDeadlineMs ?? TEMPORAL_DEADLINE_MS;
  const inTime = <T>(fn: () => Promise<T>): Promise<T> =>
    admission.run(() => deps.client.withDeadline(Date.now() + deadlineMs, fn));
  let waiting = 0;

  const invalid = (issues: { path: string; message: string }[]): AgentAnswer => ({
    status: 400,
    body: { error: 'invalid share request', issues },
  });
  const noSuchShare: AgentAnswer = { status: 404, body: { error: 'no such share' } };

  /** POST /v1/shares and MCP's share_secret: starts a hand-off (or finds the one this Idempotency-Key started). */
  async function share(caller: AgentCaller, raw: unknown, key: string | undefined): Promise<AgentAnswer> {
    const parsed = shareRequestSchema.safeParse(raw);
    if (!parsed.success) return invalid(describeIssues(parsed.error));
    const body = parsed.data;
    const mode = body.passphrase ?? 'none';
    if (deps.requirePassphrase && mode === 'none') {
      return invalid([
        {
          path: 'passphrase',
          message: 'is required by policy (OTS_REQUIRE_PASSPHRASE): send the link by email with passphrase "sms"',
        },
      ]);
    }
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key))
      return invalid([{ path: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }]);
    const shareId = shareIdFor(caller.token, key);
    annotateSpan({ 'handoff.share_id': shareId, 'handoff.channel': body.link.channel, 'handoff.passphrase': mode });
    const workflowId = shareWorkflowId(shareId);
    const passphrase: PassphraseDelivery =
      mode === 'sms'
        ? { mode, to: body.passphraseTo! }
        : mode === 'voice'
          ? { mode, callSid: body.callSid!, format: body.passphraseFormat ?? 'digits', fallbackTo: body.passphraseTo }
          : { mode: 'none' };
    // The secret and passphrase are sealed for this hand-off and its recipients only, and the whole input is signed,
    // so that nothing in it can be reused elsewhere from Temporal (README.md, "Confidentiality and the threat model").
    const input = makeShareInput(
      deps.sealer,
      {
        shareId,
        ticketId: body.ticketId,
        sessionId: body.sessionId,
        agent: caller.tokenId,
        ttlSeconds: parseTtl(body.ttl ?? deps.defaultTtl),
        link: body.link,
        passphrase,
        pollIntervals: deps.pollIntervals,
        smsStatusCallback: `${deps.publicBaseUrl}/twilio/sms-status?share=${shareId}`,
        notesWebhook: deps.notesWebhook,
        ...(mode === 'voice' ? { callWaitMs: deps.callWaitMs } : {}),
      },
      {
        value: 'value' in body.secret ? body.secret.value : undefined,
        passphrase:
          mode === 'none'
            ? undefined
            : generatePassphrase({ format: passphrase.mode === 'voice' ? passphrase.format : 'digits' }),
      },
    );
    const log = deps.log.child({ shareId, ticketId: body.ticketId });
    // What the request asked for, minus the secret (a digest of a password would be guessable): a retry with the
    // same Idempotency-Key must ask for the same hand-off.
    const requestDigest = createHash('sha256')
      .update(
        JSON.stringify([
          body.ticketId,
          body.sessionId,
          'value' in body.secret,
          input.ttlSeconds,
          body.link,
          mode,
          body.passphraseTo,
          body.callSid,
          body.passphraseFormat,
        ]),
      )
      .digest('hex');
    // Resolves with the digest of the request that started the hand-off, to tell a repeat from a different request.
    const startOrRead = async (): Promise<unknown> => {
      try {
        await inTime(() =>
          deps.client.workflow.start<typeof shareSecret>('shareSecret', {
            taskQueue: deps.taskQueue,
            workflowId,
            args: [input],
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            typedSearchAttributes: [
              { key: TicketId, value: body.ticketId },
              { key: ShareState, value: 'creating' },
              { key: DeliveryChannel, value: body.link.channel },
              ...(body.callSid ? [{ key: CallSid, value: body.callSid }] : []),
            ],
            memo: { requestDigest },
            // What Temporal UI shows for this hand-off (encoded by the payload codec like every payload).
            staticSummary: technicianSummary({
              ticketId: body.ticketId,
              link: body.link,
              passphrase: mode,
              ttlSeconds: input.ttlSeconds,
            }),
            staticDetails: technicianStaticDetails({
              ticketId: body.ticketId,
              sessionId: body.sessionId,
              shareId,
              requestedAt: new Date().toISOString(),
              ttlSeconds: input.ttlSeconds,
            }),
          }),
        );
        deps.metrics?.handoffStarted.labels(body.link.channel, mode).inc();
        // Started by this request: the digest is ours. Reading it back would double the calls of a burst.
        return requestDigest;
      } catch (err) {
        // The key's hand-off is already there, running or finished: still the same hand-off (ALREADY_EXISTS).
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      const handle = deps.client.workflow.getHandle(workflowId);
      return key === undefined ? requestDigest : (await inTime(() => handle.describe())).memo?.requestDigest;
    };
    // Repeats of one Idempotency-Key that arrive while its start is in flight share that one start instead of
    // racing each other to the Temporal frontend (each still compares its own digest below).
    let starting = startsInFlight.get(workflowId);
    if (!starting) {
      starting = startOrRead().finally(() => startsInFlight.delete(workflowId));
      startsInFlight.set(workflowId, starting);
    }
    if ((await starting) !== requestDigest)
      return { status: 422, body: { error: 'this Idempotency-Key was already used for a different request', shareId } };
    log.info({ channel: body.link.channel, passphrase: mode, idempotencyKey: key !== undefined }, 'share requested');
    return { status: 202, body: { shareId, workflowId, statusUrl: `${deps.publicBaseUrl}/v1/shares/${shareId}` } };
  }

  /**
   * The status as this caller may see it, or undefined (404). `known`: the status as a wait's update answered it, so
   * only the description is read (to check whose workflow answered, and how it ended), not the query again: on a
   * hand-off that has just ended, a query replays its whole history.
   */
  async function readStatus(
    caller: AgentCaller,
    shareId: string,
    known?: ShareStatus,
  ): Promise<StatusBody | undefined> {
    const handle = deps.client.workflow.getHandle(shareWorkflowId(shareId));
    try {
      const [status, desc] = await inTime(() =>
        Promise.all([known ? Promise.resolve(known) : handle.query(statusQuery), handle.describe()]),
      );
      // Another agent's hand-off, or a workflow that is no hand-off of ours, does not exist for this token.
      if (!ownedBy(status, desc, { agent: caller.tokenId, shareId, taskQueue: deps.taskQueue })) return undefined;
      return { ...asSeen(status, desc), running: isRunning(desc) } as StatusBody & { running: boolean };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * GET /v1/shares/:id and MCP's get_handoff_status / wait_for_handoff. With `wait`, a bounded long poll: answers
   * at once when the state already differs from `since` (or the hand-off is over), else when it changes or the
   * timeout passes, with the status either way. The waiting happens in the workflow (the waitForChange update: no
   * polling), after the status read has checked that the hand-off is this caller's.
   */
  async function status(
    caller: AgentCaller,
    shareId: string,
    wait?: StatusWait,
    left?: AbortSignal,
  ): Promise<AgentAnswer> {
    if (!SHARE_ID.test(shareId)) return noSuchShare;
    const first = await readStatus(caller, shareId);
    if (!first) return noSuchShare;
    const { running, ...seen } = first as StatusBody & { running: boolean };
    const since = wait?.since ?? seen.state;
    if (!wait || !running || seen.state !== since || FINAL_STATES.includes(seen.state)) {
      annotateSpan({ 'handoff.share_id': shareId, 'handoff.state': seen.state });
      return { status: 200, body: seen };
    }
    if (waiting >= MAX_WAITS_PER_PROCESS)
      throw new RetryLaterError(2, `this process holds ${MAX_WAITS_PER_PROCESS} waits already; retry shortly`);
    waiting += 1;
    let after: StatusBody | undefined;
    try {
      const deadline = Date.now() + wait.timeoutMs;
      const how = await waitInWorkflow(shareId, { agent: caller.tokenId, since, timeoutMs: wait.timeoutMs }, left);
      after = await readStatus(caller, shareId, typeof how === 'object' ? how : undefined);
      // The workflow had no room for another wait: wait by reading the status, every 2 s, until it moves.
      while (how === 'read' && after && !left?.aborted && after.state === since && Date.now() + 2_000 < deadline) {
        await new Promise((r) => setTimeout(r, 2_000));
        after = await readStatus(caller, shareId);
      }
    } finally {
      waiting -= 1;
    }
    if (!after) return noSuchShare;
    const { running: _r, ...body } = after as StatusBody & { running: boolean };
    annotateSpan({ 'handoff.share_id': shareId, 'handoff.state': body.state });
    return { status: 200, body };
  }

  /**
   * Sleeps in the workflow until its state differs from `since` or the timeout passes. Whatever happens to the
   * update (refused as another's or already over, the workflow closed, Temporal slow), the status read after it says
   * what the agent sees: the wait only decides when. The status when the update answered; `read` when the workflow
   * had no room for another wait.
   */
  async function waitInWorkflow(
    shareId: string,
    req: { agent: string; since: HandoffState; timeoutMs: number },
    left?: AbortSignal,
  ): Promise<ShareStatus | 'done' | 'read'> {
    const handle = deps.client.workflow.getHandle(shareWorkflowId(shareId));
    const call = () =>
      deps.client.withDeadline(Date.now() + req.timeoutMs + deadlineMs, () =>
        handle.executeUpdate(waitForChangeUpdate, { args: [req] }),
      );
    try {
      return await (left ? deps.client.withAbortSignal(left, call) : call());
    } catch (err) {
      if (left?.aborted) return 'done';
      if (err instanceof WorkflowUpdateFailedError)
        return err.cause instanceof ApplicationFailure && err.cause.type === 'WAIT_BY_READING' ? 'read' : 'done';
      if (err instanceof WorkflowNotFoundError || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)
        return 'done';
      // Temporal's own limit on updates in flight (RESOURCE_EXHAUSTED): read instead, as above.
      if (grpcCodeOf(err) === GRPC_STATUS.RESOURCE_EXHAUSTED) return 'read';
      throw err;
    }
  }

  /** POST /v1/shares/:id/burn and MCP's burn_secret; undefined when the caller left before the answer. */
  async function burn(caller: AgentCaller, shareId: string, left: AbortSignal): Promise<AgentAnswer | undefined> {
    if (!SHARE_ID.test(shareId)) return noSuchShare;
    annotateSpan({ 'handoff.share_id': shareId });
    const handle = deps.client.workflow.getHandle(shareWorkflowId(shareId));
    const agent = caller.tokenId;
    let step: BurnStep;
    try {
      // The same bound as the status, and no Temporal call left running once the agent has hung up: nobody would
      // read its answer. (The signal cancels calls in flight, not a call started after it fired: hence the checks
      // in between.)
      step = await admission.run(() =>
        left.aborted
          ? Promise.resolve<BurnStep>({ kind: 'left' })
          : deps.client.withAbortSignal(left, () =>
              deps.client.withDeadline(Date.now() + deadlineMs, () =>
                burnThroughWorkflow(handle, { agent, shareId, taskQueue: deps.taskQueue }, left, deadlineMs),
              ),
            ),
      );
    } catch (err) {
      if (left.aborted) return undefined;
      if (err instanceof WorkflowNotFoundError) return noSuchShare;
      throw err;
    }
    const log = deps.log.child({ shareId });
    switch (step.kind) {
      case 'left':
        log.info('burn request abandoned by the client');
        return undefined;
      case 'notFound':
        return noSuchShare;
      case 'done':
        log.info('burn requested');
        return { status: 200, body: withHint(step.status) };
      case 'accepted':
        // Recorded in the hand-off's history: the burn will happen; the status says when it has.
        log.info('burn requested, still running');
        return {
          status: 202,
          body: { shareId, state: 'burn_requested', statusUrl: `${deps.publicBaseUrl}/v1/shares/${shareId}` },
        };
      case 'refused':
        return { status: 409, body: { error: `the hand-off is already ${step.state}`, state: step.state } };
      case 'closed':
        return burnClosed(step, shareId, log);
    }
  }

  /** A closed workflow can burn nothing: burn its secret here when it may still open, else say how it ended. */
  async function burnClosed(
    { status, desc, material }: Extract<BurnStep, { kind: 'closed' }>,
    shareId: string,
    log: Logger,
  ): Promise<AgentAnswer> {
    const seen = asSeen(status, desc);
    let burned;
    try {
      burned = await burnDirectly(shareId, material, deps.sealer, deps.ots);
    } catch (err) {
      if (!(err instanceof OtsError)) throw err;
      log.warn({ code: err.code }, 'direct burn failed');
      if (err.retryable)
        throw new RetryLaterError(
          Math.max(BURN_RETRY_AFTER_SECONDS, Math.ceil((err.retryAfterMs ?? 0) / 1000)),
          `Onetime Secret did not burn the secret (${err.code}); the link may still open, retry shortly`,
        );
      return {
        status: 502,
        body: {
          error: `Onetime Secret refused to burn the secret (${err.code}); the link may still open until ${status.expiresAt}`,
          state: seen.state,
        },
      };
    }
    switch (burned.outcome) {
      case 'nothing':
        return {
          status: 409,
          body: {
            error: FINAL_STATES.includes(status.state)
              ? `the hand-off is already ${status.state}`
              : `the hand-off's workflow ${endedAs(desc)} before a secret was recorded: nothing to burn`,
            state: seen.state,
          },
        };
      case 'gone': {
        const state = RECEIPT_TO_STATE[burned.receipt];
        return { status: 409, body: { error: `the link no longer opens: ${RECEIPT_WORDS[burned.receipt]}`, state } };
      }
      case 'burned':
        log.info({ workflowStatus: desc.status.name }, 'secret burned directly (the workflow had closed)');
        return {
          status: 200,
          body: withHint({
            ...seen,
            state: 'burned',
            closed: {
              ...closedInfo(status, desc),
              note:
                `The hand-off's workflow had ${endedAs(desc)} in Temporal, so this request burned the secret directly ` +
                'in Onetime Secret: the link no longer opens.',
            },
          }),
        };
    }
  }

  return { share, status, burn };
}

export type AgentOps = ReturnType<typeof createAgentOps>;

/** What an Idempotency-Key may be (the MCP stdio proxy checks the same: src/mcp/stdio.ts). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The query of GET /v1/shares/:id: `waitFor=change` with `since` and `timeout` (seconds) make it a long poll. */
const statusQuerySchema = z.object({
  waitFor: z.literal('change', { error: 'must be "change"' }).optional(),
  since: shareStateSchema.optional(),
  timeout: z
    .string()
    .regex(/^\d+$/, `must be whole seconds from 1 to ${WAIT.maxSeconds}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(WAIT.maxSeconds, `must be at most ${WAIT.maxSeconds} seconds`))
    .optional(),
});

export function sharesRouter(deps: SharesDeps, ops: AgentOps = createAgentOps(deps)): Router {
  const r = Router();
  r.use(express.json({ limit: '32kb' }));
  const callerOf = (res: express.Response): AgentCaller => ({
    token: String(res.locals.token),
    tokenId: String(res.locals.tokenId),
  });
  const send = (res: express.Response, a: AgentAnswer | undefined) => {
    if (a && !res.headersSent) res.status(a.status).json(a.body);
  };
  /** Aborted when the client goes away before its answer. */
  const leaving = (res: express.Response) => {
    const left = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) left.abort();
    });
    return left.signal;
  };

  r.get('/v1/tool-schema', (_req, res) => {
    res.json(shareToolSchema());
  });

  r.post('/v1/shares', async (req, res) => {
    send(res, await ops.share(callerOf(res), req.body, req.get('idempotency-key')));
  });

  r.get('/v1/shares/:shareId', async (req, res) => {
    const q = statusQuerySchema.safeParse(req.query);
    if (!q.success) {
      res.status(400).json({ error: 'invalid status request', issues: describeIssues(q.error) });
      return;
    }
    const { waitFor, since, timeout } = q.data;
    if (waitFor === undefined && (since !== undefined || timeout !== undefined)) {
      res.status(400).json({
        error: 'invalid status request',
        issues: [{ path: since !== undefined ? 'since' : 'timeout', message: 'is only used with waitFor=change' }],
      });
      return;
    }
    const wait = waitFor ? { since, timeoutMs: (timeout ?? WAIT.defaultSeconds) * 1000 } : undefined;
    send(res, await ops.status(callerOf(res), req.params.shareId, wait, leaving(res)));
  });

  r.post('/v1/shares/:shareId/burn', async (req, res) => {
    send(res, await ops.burn(callerOf(res), req.params.shareId, leaving(res)));
  });

  return r;
}

/** What the burn's calls to Temporal came to. */
type BurnStep =
  | { kind: 'left' }
  /** Another agent's hand-off: it does not exist for this token. */
  | { kind: 'notFound' }
  | { kind: 'done'; status: ShareStatus }
  | { kind: 'accepted' }
  | { kind: 'refused'; state: HandoffState }
  | { kind: 'closed'; status: ShareStatus; desc: WorkflowExecutionDescription; material: BurnMaterial };

/**
 * The burn update, taken up (accepted) and then finished within the request's deadline, or the reason it was
 * not: 503 when it was not accepted in time (RetryLaterError), `accepted` when it was but has not finished.
 */
async function burnThroughWorkflow(
  handle: WorkflowHandle,
  owner: Owner,
  left: AbortSignal,
  deadlineMs: number,
): Promise<BurnStep> {
  const { agent } = owner;
  let update;
  try {
    update = await handle.startUpdate(burnUpdate, {
      args: [{ by: `agent API (${agent})`, agent }],
      waitForStage: WorkflowUpdateStage.ACCEPTED,
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)
      throw new RetryLaterError(
        BURN_RETRY_AFTER_SECONDS,
        `the hand-off did not take up the burn within ${deadlineMs / 1000} s (Temporal or its worker is ` +
          'not answering). The request may still be applied once they are back; retry, or read the status',
      );
    // The workflow has closed (an update to a closed workflow answers "not found"), or never existed.
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    return whyRefused(handle, owner, left);
  }
  if (left.aborted) return { kind: 'left' };
  try {
    return { kind: 'done', status: await update.result() };
  } catch (err) {
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return { kind: 'accepted' };
    // Rejected by the validator (another agent's, or already final), or the workflow closed before the burn finished.
    if (!(err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError)) throw err;
    return whyRefused(handle, owner, left);
  }
}

/** Whose burn this is: the agent's token id, the share it names, and this service's task queue. */
interface Owner {
  agent: string;
  shareId: string;
  taskQueue: string;
}

/**
 * Whether the status and description are of this agent's hand-off, run by this service: a workflow of another type or
 * on another task queue (started by someone who can reach Temporal, answering queries with what they please) is no
 * hand-off of ours (src/temporal/handoff-run.ts).
 */
function ownedBy(status: ShareStatus, desc: WorkflowExecutionDescription, owner: Owner): boolean {
  return (
    status.agent === owner.agent &&
    status.shareId === owner.shareId &&
    notOurHandoff(desc, owner.taskQueue) === undefined
  );
}

/**
 * A burn the workflow did not do: another agent's hand-off (404; the validator refuses it), one that had already
 * ended (409), or one whose workflow has closed (burn directly).
 */
async function whyRefused(handle: WorkflowHandle, owner: Owner, left: AbortSignal): Promise<BurnStep> {
  if (left.aborted) return { kind: 'left' };
  const [status, desc] = await Promise.all([handle.query(statusQuery), handle.describe()]);
  if (!ownedBy(status, desc, owner)) return { kind: 'notFound' };
  if (isRunning(desc)) return { kind: 'refused', state: status.state };
  if (left.aborted) return { kind: 'left' };
  return { kind: 'closed', status, desc, material: await handle.query(burnMaterialQuery) };
}

const isRunning = (desc: WorkflowExecutionDescription) =>
  desc.status.name === 'RUNNING' || desc.status.name === 'CONTINUED_AS_NEW';

/** How Temporal ended a workflow, in words. */
function endedAs(desc: WorkflowExecutionDescription): string {
  const words: Record<string, string> = {
    TERMINATED: 'been terminated',
    TIMED_OUT: 'timed out',
    FAILED: 'failed',
    CANCELLED: 'been cancelled',
    COMPLETED: 'completed',
  };
  return words[desc.status.name] ?? `ended (${desc.status.name})`;
}

function closedInfo(status: ShareStatus, desc: WorkflowExecutionDescription): Omit<Closed, 'note'> {
  return { workflowStatus: desc.status.name, at: desc.closeTime?.toISOString(), lastState: status.state };
}

/**
 * The status as the agent must read it. The status query answers from the workflow's own state, so a workflow that
 * closed before the hand-off finished (terminated, timed out or failed in Temporal) would still look as it was at
 * that moment, `awaiting_view` for instance, while nothing watches or burns its link any more: it is reported as
 * `terminated`, with how it ended.
 */
function asSeen(status: ShareStatus, desc: WorkflowExecutionDescription): StatusBody {
  if (FINAL_STATES.includes(status.state) || isRunning(desc)) return withHint(status);
  const ended = `The hand-off's workflow has ${endedAs(desc)} in Temporal while ${status.state}: nothing watches or burns the link any more.`;
  return withHint({
    ...status,
    state: 'terminated',
    closed: {
      ...closedInfo(status, desc),
      note: status.expiresAt
        ? `${ended} Unless it was burned since, the link may still open until ${status.expiresAt}; ` +
          `POST /v1/shares/${status.shareId}/burn burns it (409 "burned" if it already was).`
        : `${ended} No secret was recorded, so no link was sent.`,
    },
  });
}

const RECEIPT_TO_STATE = {
  burned: 'burned',
  received: 'viewed',
  expired: 'expired',
  orphaned: 'terminated',
  unknown: 'terminated',
} as const satisfies Record<string, HandoffState>;
const RECEIPT_WORDS = {
  burned: 'Onetime Secret says it was burned',
  received: 'Onetime Secret says it was opened',
  expired: 'Onetime Secret says it expired',
  orphaned: 'Onetime Secret no longer has the secret',
  unknown: 'Onetime Secret no longer knows the secret (opened, burned or expired long ago)',
} as const;
