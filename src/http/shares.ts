// The agent API: start a hand-off, read its status, burn it (README.md, "The agent API"; docs/architecture.md,
// "Request path").
import { createAdmission } from './admission.js';
import { createHash, randomBytes } from 'node:crypto';
import express, { Router } from 'express';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { Logger } from 'pino';
import { parseTtl } from '../ots/ttl.js';
import { generatePassphrase } from '../passphrase.js';
import { signInput } from '../handoff-input.js';
import { handoffContext, type Sealer } from '../seal.js';
import { burnUpdate, statusQuery } from '../../workflows/messages.js';
import { CallSid, DeliveryChannel, ShareState, TicketId } from '../../workflows/search-attributes.js';
import type { shareSecret } from '../../workflows/share-secret.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import { technicianStaticDetails, technicianSummary } from '../../workflows/technician-view.js';
import type { Binding, PassphraseDelivery } from '../../workflows/types.js';
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
}

const SHARE_ID = /^shr_[0-9a-z]{20,40}$/;
/**
 * How long a request waits for Temporal. Without a deadline the client retries an unreachable server for about
 * 20 s; with one the agent hears 503 (src/http/app.ts) sooner and can retry with the same Idempotency-Key.
 */
const TEMPORAL_DEADLINE_MS = 10_000;
/**
 * Admission control (src/http/admission.ts): Temporal calls of the agent API in flight per process, how many may
 * wait, and for how long, before the answer is 503 "busy".
 */
export const TEMPORAL_ADMISSION = { maxInFlight: 32, maxQueued: 5_000, maxWaitMs: 20_000 };

/**
 * A retried request with the same Idempotency-Key (from the same token) maps to the same shareId, hence the same
 * workflow id; the workflow id conflict policy then returns the existing hand-off instead of starting another.
 */
function shareIdFor(token: string, idempotencyKey: string | undefined): string {
  const raw = idempotencyKey ? createHash('sha256').update(`${token}\0${idempotencyKey}`).digest() : randomBytes(16);
  return `shr_${BigInt(`0x${raw.subarray(0, 16).toString('hex')}`)
    .toString(36)
    .padStart(25, '0')}`;
}

export function sharesRouter(deps: SharesDeps): Router {
  const r = Router();
  const admission = createAdmission(TEMPORAL_ADMISSION);
  /** Workflow id → its start (and describe) under way, shared by concurrent repeats of one Idempotency-Key. */
  const startsInFlight = new Map<string, Promise<unknown>>();
  const inTime = <T>(fn: () => Promise<T>): Promise<T> =>
    admission.run(() => deps.client.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, fn));
  r.use(express.json({ limit: '32kb' }));

  r.get('/v1/tool-schema', (_req, res) => {
    res.json(shareToolSchema());
  });

  r.post('/v1/shares', async (req, res) => {
    const parsed = shareRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid share request', issues: describeIssues(parsed.error) });
      return;
    }
    const body = parsed.data;
    const mode = body.passphrase ?? 'none';
    if (deps.requirePassphrase && mode === 'none') {
      res.status(400).json({
        error: 'invalid share request',
        issues: [
          {
            path: 'passphrase',
            message: 'is required by policy (OTS_REQUIRE_PASSPHRASE): send the link by email with passphrase "sms"',
          },
        ],
      });
      return;
    }
    const key = req.get('idempotency-key');
    if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) {
      res.status(400).json({
        error: 'invalid share request',
        issues: [{ path: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }],
      });
      return;
    }
    const shareId = shareIdFor(String(res.locals.token), key);
    const workflowId = shareWorkflowId(shareId);
    const passphrase: PassphraseDelivery =
      mode === 'sms'
        ? { mode, to: body.passphraseTo! }
        : mode === 'voice'
          ? { mode, callSid: body.callSid!, format: body.passphraseFormat ?? 'digits', fallbackTo: body.passphraseTo }
          : { mode: 'none' };
    // The secret and passphrase are sealed for this hand-off and its recipients only (src/seal.ts), and the whole
    // input is signed, so that nothing in it can be reused elsewhere from Temporal (README.md, "Confidentiality and
    // the threat model").
    const binding: Binding = { shareId, link: body.link, passphrase };
    const input = signInput(deps.sealer, {
      shareId,
      ticketId: body.ticketId,
      sessionId: body.sessionId,
      agent: String(res.locals.tokenId),
      secret: {
        ...('value' in body.secret
          ? { value: deps.sealer.seal(body.secret.value, handoffContext('value', binding)) }
          : { generate: true as const }),
        ...(mode !== 'none'
          ? {
              passphrase: deps.sealer.seal(
                generatePassphrase({ format: passphrase.mode === 'voice' ? passphrase.format : 'digits' }),
                handoffContext('passphrase', binding),
              ),
            }
          : {}),
      },
      ttlSeconds: parseTtl(body.ttl ?? deps.defaultTtl),
      link: body.link,
      passphrase,
      pollIntervals: deps.pollIntervals,
      smsStatusCallback: `${deps.publicBaseUrl}/twilio/sms-status?share=${shareId}`,
      notesWebhook: deps.notesWebhook,
      ...(mode === 'voice' ? { callWaitMs: deps.callWaitMs } : {}),
    });
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
    const startAndDescribe = async (): Promise<unknown> => {
      let handle;
      try {
        handle = await inTime(() =>
          deps.client.workflow.start<typeof shareSecret>('shareSecret', {
            taskQueue: deps.taskQueue,
            workflowId,
            args: [input],
            workflowIdConflictPolicy: 'USE_EXISTING',
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
      } catch (err) {
        // The same key after the first hand-off finished: still the same hand-off.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        handle = deps.client.workflow.getHandle(workflowId);
      }
      // The digest of the request that started the hand-off, to tell a repeat from a different request.
      return key === undefined ? requestDigest : (await inTime(() => handle.describe())).memo?.requestDigest;
    };
    // Repeats of one Idempotency-Key that arrive while its start is in flight share that one start instead of
    // racing each other to the Temporal frontend (each still compares its own digest below).
    let starting = startsInFlight.get(workflowId);
    if (!starting) {
      starting = startAndDescribe().finally(() => startsInFlight.delete(workflowId));
      startsInFlight.set(workflowId, starting);
    }
    if ((await starting) !== requestDigest) {
      res.status(422).json({ error: 'this Idempotency-Key was already used for a different request', shareId });
      return;
    }
    log.info({ channel: body.link.channel, passphrase: mode, idempotencyKey: key !== undefined }, 'share requested');
    res.status(202).json({ shareId, workflowId, statusUrl: `${deps.publicBaseUrl}/v1/shares/${shareId}` });
  });

  r.get('/v1/shares/:shareId', async (req, res) => {
    const { shareId } = req.params;
    if (!SHARE_ID.test(shareId)) {
      res.status(404).json({ error: 'no such share' });
      return;
    }
    try {
      const status = await inTime(() => deps.client.workflow.getHandle(shareWorkflowId(shareId)).query(statusQuery));
      // Another agent's hand-off does not exist for this token.
      if (status.agent !== res.locals.tokenId) {
        res.status(404).json({ error: 'no such share' });
        return;
      }
      res.json(status);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        res.status(404).json({ error: 'no such share' });
        return;
      }
      throw err;
    }
  });

  r.post('/v1/shares/:shareId/burn', async (req, res) => {
    const { shareId } = req.params;
    if (!SHARE_ID.test(shareId)) {
      res.status(404).json({ error: 'no such share' });
      return;
    }
    const handle = deps.client.workflow.getHandle(shareWorkflowId(shareId));
    try {
      const agent = String(res.locals.tokenId);
      res.json(await handle.executeUpdate(burnUpdate, { args: [{ by: `agent API (${agent})`, agent }] }));
      deps.log.info({ shareId }, 'burn requested');
    } catch (err) {
      // Rejected by the validator (another agent's, or already final), or the workflow has closed (an update to a
      // closed workflow answers "not found"): report the state it ended in. A workflow that never existed, or
      // another agent's, is a 404.
      if (!(err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError)) throw err;
      let status;
      try {
        status = await handle.query(statusQuery);
      } catch (e) {
        if (!(e instanceof WorkflowNotFoundError)) throw e;
      }
      if (!status || status.agent !== res.locals.tokenId) {
        res.status(404).json({ error: 'no such share' });
        return;
      }
      res.status(409).json({ error: `the hand-off is already ${status.state}`, state: status.state });
    }
  });

  return r;
}
