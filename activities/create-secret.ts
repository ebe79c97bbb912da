// The createSecret activity: exactly one Onetime Secret per hand-off, across crashes and answers lost in flight.
// The design, and why it is safe, is in src/ots/create-recovery.ts and docs/onetime-secret.md ("Creating exactly
// once"); this is the activity's side of it: the marker it heartbeats, the window it looks in, the lookup.
import { asyncLocalStorage as activityContext } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  AccountTtlCeiling,
  fingerprintCandidates,
  fingerprintTtl,
  isCreateMarker,
  matchCreatedReceipt,
  type CreateMarker,
  type CreateSearch,
} from '../src/ots/create-recovery.js';
import { LEASE_SEND_WITHIN_MS, leaseMsFor, type FingerprintLeases } from '../src/ots/fingerprint-lease.js';
import { OtsError, OtsNotFoundError } from '../src/ots/errors.js';
import type { Receipt } from '../src/ots/schemas.js';
import { verifyInput } from '../src/handoff-input.js';
import { handoffContext, type HandoffBinding, type Sealer } from '../src/seal.js';
import { shareWorkflowId } from '../workflows/ids.js';
import type { FailureFacts } from '../workflows/failures.js';
import type { CreatedSecret, ShareInput } from '../workflows/types.js';
import { failing } from './failures.js';
import type { OtsPort } from './ots.js';

/**
 * A technician's retry of the step (workflows/handoff.ts): the create markers the failed tries left (heartbeat
 * details or the failure's own), and the span of the tries that left none (epoch ms; absent when all left one).
 */
export interface RecoverWindow {
  since?: number;
  until?: number;
  markers?: unknown[];
}

export interface CreateSecretArgs {
  /** The hand-off's input as the agent API signed it (without `resume`). */
  input: ShareInput;
  recover?: RecoverWindow;
}

export interface CreateSecretDeps {
  ots: OtsPort;
  sealer: Sealer;
  /** How long after its send a create can still land at OTS: the client's request deadline. Default 10 s. */
  otsRequestTimeoutMs?: number;
  /** The TTL ceiling this process has seen the account clamp to (src/ots/create-recovery.ts). Default: a new one. */
  ttlCeiling?: AccountTtlCeiling;
  /**
   * The fleet's fingerprint leases (src/ots/fingerprint-lease.ts). Without them (unit tests, the bench's fakes)
   * every send is unleased, and a lost answer is never recovered automatically.
   */
  leases?: FingerprintLeases;
  /**
   * Whether the workflow run that scheduled this create is one of this service's hand-offs (a `shareSecret` on its
   * task queue): a problem, or undefined. Set by the worker (activities/index.ts); unit tests leave it out.
   */
  checkWorkflow?: (workflowId: string, runId: string) => Promise<string | undefined>;
}

/** The running activity attempt, or undefined when called outside a worker (unit tests, the bench's fakes). */
function currentAttempt() {
  const ctx = activityContext.getStore();
  if (!ctx) return undefined;
  const { attempt, scheduledTimestampMs, heartbeatDetails, heartbeatTimeoutMs, workflowExecution } = ctx.info;
  return {
    attempt,
    /** Empty for an activity no workflow scheduled (which createSecret refuses). */
    workflowId: workflowExecution?.workflowId ?? '',
    runId: workflowExecution?.runId ?? '',
    scheduledMs: scheduledTimestampMs,
    heartbeatTimeoutMs,
    marker: isCreateMarker(heartbeatDetails) ? heartbeatDetails : undefined,
    heartbeat: (marker: CreateMarker | undefined) => ctx.heartbeat(marker),
  };
}

/**
 * Where earlier sends may have landed, or [] when there is nothing to look for: the marker's send (from it to it
 * plus the request deadline, with its TTL, exclusive if it was leased); without a marker on a retry (its heartbeat
 * may not have reached the server before a crash), every TTL this hand-off may have asked for since the step was
 * first scheduled, not exclusive; and a technician's retry: the markers its failed tries left, plus their span
 * when some left none. A settled marker means the last answer proved nothing was made, after a lookup that covered
 * everything before.
 */
export function recoverySearches(
  marker: CreateMarker | undefined,
  attempt: { attempt: number; scheduledMs: number } | undefined,
  recover: RecoverWindow | undefined,
  landWithinMs: number,
  possibleTtls: readonly number[],
): CreateSearch[] {
  const searches: CreateSearch[] = [];
  const fromMarker = (m: CreateMarker) => {
    if (m.settled) return;
    const ttl = m.ttl ?? possibleTtls[0];
    if (ttl === undefined) return;
    const until = (m.lastSentAt ?? m.sentAt) + landWithinMs;
    searches.push({
      ttls: [ttl],
      sinceMs: m.sentAt,
      untilMs: until,
      exclusive: m.exclusive === true && m.ttl !== undefined,
    });
  };
  if (marker) fromMarker(marker);
  else if (attempt && attempt.attempt > 1)
    searches.push({ ttls: possibleTtls, sinceMs: attempt.scheduledMs, untilMs: Date.now() });
  for (const m of recover?.markers ?? []) if (isCreateMarker(m)) fromMarker(m);
  if (recover && typeof recover.since === 'number')
    searches.push({ ttls: possibleTtls, sinceMs: recover.since, untilMs: recover.until ?? Date.now() });
  return searches.filter((w) => w.ttls.length > 0);
}

/**
 * A fresh or recovered receipt as the workflow keeps it: the link and the receipt key sealed for this hand-off, the
 * expiry from the live TTL.
 */
async function toCreated(
  { ots, sealer }: CreateSecretDeps,
  binding: HandoffBinding,
  receipt: Receipt,
  passphrase: string | undefined,
  recovered?: true,
): Promise<CreatedSecret> {
  let link: string;
  try {
    link = ots.shareLink(receipt);
  } catch {
    // A receipt without a secret key cannot be delivered: burn it rather than leave an untracked secret.
    await ots.burn(receipt.metadataKey, passphrase).catch(() => undefined);
    throw ApplicationFailure.create({
      type: 'OTS_BAD_RESPONSE',
      message: 'Onetime Secret returned a receipt without a secret key',
      nonRetryable: true,
    });
  }
  const liveTtl = typeof receipt.secretTtl === 'number' ? receipt.secretTtl : receipt.ttl;
  return {
    receipt: sealer.seal(receipt.metadataKey, handoffContext('receipt', binding)),
    receiptRef: receipt.metadataKey.slice(0, 8),
    link: sealer.seal(link, handoffContext('link', binding)),
    expiresAt: new Date(Date.now() + liveTtl * 1000).toISOString(),
    passphraseRequired: receipt.passphraseRequired ?? passphrase !== undefined,
    ...(recovered ? { recovered } : {}),
  };
}

/** The secret an earlier attempt created, if exactly one receipt fits; undefined if none (create it now). */
async function recoverCreated(
  deps: CreateSecretDeps,
  binding: HandoffBinding,
  searches: readonly CreateSearch[],
  passphrase: string | undefined,
): Promise<CreatedSecret | undefined> {
  const { ots } = deps;
  const match = matchCreatedReceipt(await ots.recent(), searches);
  if (match.kind === 'none') return undefined;
  if (match.kind === 'ambiguous') {
    const keys = match.receipts
      .slice(0, 5)
      .map((r) => `${r.metadataKey.slice(0, 8)}… (ttl ${r.ttl} s)`)
      .join(', ');
    const since = Math.min(...searches.map((w) => w.sinceMs));
    const one = match.receipts.length === 1;
    throw ApplicationFailure.create({
      type: 'OTS_CREATE_AMBIGUOUS',
      nonRetryable: true,
      message:
        `an earlier attempt may have created the secret but its answer was lost, and ${one ? '1 receipt' : `${match.receipts.length} receipts`} ` +
        `created since ${new Date(since).toISOString()} ${one ? 'carries' : 'carry'} a TTL this hand-off may have asked for ` +
        `without it being this hand-off's alone: ${keys}. Another hand-off may have made ${one ? 'it' : 'them'}, so none is sent. ` +
        'Burn in Onetime Secret any that is not the hand-off of another ticket, then retry; the retry creates a new one if none is left',
    });
  }
  const listed = match.receipt;
  let receipt: Receipt;
  try {
    // Loading the receipt is what applies expiry (the list shows stored states), and on v1 it is what carries the
    // secret key, which v1's recent list leaves out (docs/onetime-secret.md, "Receipt states").
    receipt = await ots.receipt(listed.metadataKey);
  } catch (err) {
    if (err instanceof OtsNotFoundError) return undefined;
    throw err;
  }
  // Gone meanwhile (expired or burned, never delivered): nothing live to recover, so a new one is made.
  if (receipt.state !== 'new' && receipt.state !== 'viewed') return undefined;
  // v2's receipt hides the key of a passphrase-protected secret, but its recent list gives it for the receipts
  // whose secret is still there (docs/onetime-secret.md, "API v2 as this client uses it"), so the link rebuilds.
  // A secret with a passphrase when this hand-off has none, or the other way round, is a stranger's.
  const protectedSecret = receipt.passphraseRequired ?? listed.passphraseRequired;
  if (protectedSecret !== undefined && protectedSecret !== (passphrase !== undefined)) return undefined;
  const secretKey = receipt.secretKey ?? listed.secretKey;
  if (!secretKey) {
    // No key anywhere (no server known to us answers so): the link cannot be rebuilt, so a new one is made. When the
    // server says the old one is passphrase-protected, as ours is, it is burned first with our passphrase, which a
    // stranger's would refuse. Otherwise a burn could destroy a stranger's secret (OTS burns one without a passphrase
    // whatever passphrase is sent: burn_secret.rb), so it is left to expire undelivered.
    if (passphrase !== undefined && protectedSecret === true)
      await ots.burn(listed.metadataKey, passphrase).catch(() => undefined);
    return undefined;
  }
  return toCreated(deps, binding, { ...receipt, secretKey }, passphrase, true);
}

export function createSecretActivity(deps: CreateSecretDeps) {
  const landWithinMs = deps.otsRequestTimeoutMs ?? 10_000;
  const { ots, sealer, leases } = deps;
  const ceiling = deps.ttlCeiling ?? new AccountTtlCeiling();
  const leaseMs = leaseMsFor(landWithinMs);

  /**
   * Creates the hand-off's one Onetime Secret, idempotent across crashes and answers lost in flight: a retry first
   * looks for the secret an earlier attempt may have made. `recover` is the workflow saying "an earlier execution
   * of this step may have created it, between these times" (epoch ms): set when a technician retries a step whose
   * failure did not prove nothing was made.
   *
   * First of all it checks that the agent API made this input, for this workflow (src/handoff-input.ts).
   */
  return async function createSecret(args: CreateSecretArgs): Promise<CreatedSecret> {
    const attempt = currentAttempt();
    const { input } = args;
    checkInput(sealer, input, attempt?.workflowId);
    // A workflow of someone else's code (started on a task queue they poll) could ask for a recovery window of its
    // choosing, and have a stranger's secret found "again" for this input's recipient: the run must be ours.
    const problem = attempt && deps.checkWorkflow && (await deps.checkWorkflow(attempt.workflowId, attempt.runId));
    if (problem) throw notAuthentic(problem);
    const open = (field: 'value' | 'passphrase') => {
      const box = input.secret[field];
      return box ? sealer.open(box, handoffContext(field, input)) : undefined;
    };
    const recipient = input.link.channel === 'email' ? input.link.to : undefined;
    // The marker travels in heartbeat details; every heartbeat repeats it so a keep-alive never erases it.
    let marker = attempt?.marker;
    const keepAlive = attempt?.heartbeatTimeoutMs
      ? setInterval(() => attempt.heartbeat(marker), Math.max(200, attempt.heartbeatTimeoutMs / 3))
      : undefined;
    try {
      return await failing(async () => {
        const passphrase = open('passphrase');
        // Within a ceiling the account is known to clamp to, so that OTS keeps the fingerprint.
        const known = ceiling.known;
        const asked = known !== undefined && known < input.ttlSeconds ? known : input.ttlSeconds;
        const ttls = fingerprintCandidates(input.shareId, asked);
        const searches = recoverySearches(marker, attempt, args.recover, landWithinMs, [
          ...ttls,
          ...(asked !== input.ttlSeconds ? fingerprintCandidates(input.shareId, input.ttlSeconds) : []),
        ]);
        if (searches.length > 0) {
          const recovered = await recoverCreated(deps, input, searches, passphrase);
          if (recovered) return recovered;
        }

        // The fingerprint, leased fleet-wide when one of ours is free, so that a lost answer can be recovered.
        const lease = leases && ttls.length > 0 ? await leases.acquire(ttls, leaseMs) : undefined;
        const now = Date.now();
        const exclusive = lease !== undefined && now - lease.askedAt <= LEASE_SEND_WITHIN_MS;
        const ttl = lease?.ttl ?? fingerprintTtl(input.shareId, asked);
        marker = { sentAt: now, ttl, ...(exclusive ? { exclusive } : {}) };
        attempt?.heartbeat(marker);
        const value = open('value');
        try {
          // A generated value comes back in the response; it is dropped here and never leaves this function.
          const receipt =
            value !== undefined
              ? await ots.share({ secret: value, ttl, passphrase, recipient })
              : (await ots.generate({ ttl, passphrase, recipient })).receipt;
          ceiling.observe(ttl, receipt.ttl);
          return await toCreated(deps, input, receipt, passphrase);
        } catch (err) {
          // OTS refused it: nothing was created, so the next attempt need not look for it.
          if (err instanceof OtsError && err.refused) {
            marker = { ...marker, settled: true };
            attempt?.heartbeat(marker);
          }
          throw err;
        }
      });
    } catch (err) {
      // The marker goes with the failure too: a technician's retry of the step gets it from the workflow.
      throw withMarker(err, marker);
    } finally {
      clearInterval(keepAlive);
    }
  };
}

/** An ApplicationFailure of createSecret carrying the create marker in its facts (workflows/failures.ts). */
function withMarker(err: unknown, marker: CreateMarker | undefined): unknown {
  if (!marker || !(err instanceof ApplicationFailure) || err.details?.length !== 1) return err;
  const facts = err.details[0] as FailureFacts;
  if (typeof facts !== 'object' || facts === null || !('outcome' in facts)) return err;
  return ApplicationFailure.create({
    type: err.type ?? undefined,
    message: err.message,
    nonRetryable: err.nonRetryable === true,
    nextRetryDelay: err.nextRetryDelay ?? undefined,
    details: [{ ...facts, createMarker: marker } satisfies FailureFacts],
  });
}

/**
 * Refuses an input the agent API did not sign, or signed for another workflow (a hand-off's input copied into a
 * workflow started under another id). Not retryable: nothing about it changes on a retry.
 */
function checkInput(sealer: Sealer, input: ShareInput, workflowId: string | undefined): void {
  if (!input || typeof input.shareId !== 'string' || !verifyInput(sealer, input))
    throw notAuthentic("the hand-off's input does not carry the agent API's signature");
  if (workflowId !== undefined && workflowId !== shareWorkflowId(input.shareId))
    throw notAuthentic(`the input was signed for workflow ${shareWorkflowId(input.shareId)}, not ${workflowId}`);
}

/** The failure that ends a workflow whose input or run is not the agent API's (workflows/failures.ts isFatal). */
function notAuthentic(why: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'INPUT_NOT_AUTHENTIC',
    nonRetryable: true,
    // The workflow ends at once (failed), with no note and nothing sent.
    details: [{ outcome: 'refused', fatal: true } satisfies FailureFacts],
    message: `${why}: only the agent API starts hand-offs (README.md, "Confidentiality and the threat model")`,
  });
}
