// The createSecret activity: exactly one Onetime Secret per hand-off, across crashes and answers lost in flight.
// The design, and why it is safe, is in src/ots/create-recovery.ts and docs/onetime-secret.md ("Creating exactly
// once"); this is the activity's side of it: the marker it heartbeats, the window it looks in, the lookup.
import { asyncLocalStorage as activityContext } from '@temporalio/activity';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import {
  AccountTtlCeiling,
  fingerprintCandidates,
  isCreateMarker,
  matchCreatedReceipt,
  type CreateMarker,
  type CreateSearch,
} from '../src/ots/create-recovery.js';
import {
  LEASE_SEND_WITHIN_MS,
  LEASE_WAIT_MS,
  leaseMsFor,
  type FingerprintLease,
  type FingerprintLeases,
} from '../src/ots/fingerprint-lease.js';
import { OtsError, OtsNotFoundError } from '../src/ots/errors.js';
import type { Receipt } from '../src/ots/schemas.js';
import { verifyInput } from '../src/handoff-input.js';
import { handoffContext, type HandoffBinding, type Sealer } from '../src/seal.js';
import { shareWorkflowId } from '../workflows/ids.js';
import type { FailureFacts } from '../workflows/failures.js';
import type { CreatedSecret, ShareInput } from '../workflows/types.js';
import { failing } from './failures.js';
import type { OtsPort } from './ots.js';
import { DEFAULT_TIMEOUT_MS } from '../src/ots/client.js';

const sleep = (ms: number) => (ms > 0 ? new Promise((res) => setTimeout(res, ms)) : Promise.resolve());

/**
 * A technician's retry of the step (workflows/handoff.ts): the create markers the failed tries left (heartbeat
 * details or the failure's own), and the span of the tries that left none (epoch ms; absent when all left one). The
 * span only says that a try may have sent: its sends are found by the leases it took.
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
  /** How long a create waits for a free lease before its attempt fails (tests shorten it). Default LEASE_WAIT_MS. */
  leaseWaitMs?: number;
  /**
   * At most how long a retry waits for the sends it looks for to be past landing before it looks (tests shorten it).
   * Default LEASE_SEND_WITHIN_MS + the request deadline.
   */
  maxLandingWaitMs?: number;
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
 * Where earlier sends may have landed, or [] when there is nothing to look for. Each send held the lease on its TTL,
 * so each search is exclusive: the marker's send (from it to it plus the request deadline), the markers a
 * technician's retry carries, and the leases this hand-off took whose latest run is still its own (`held`: a marker
 * may not have reached the server before a crash; from the request to it plus the send's grace and the deadline).
 * A settled marker leaves nothing of its own to look for. A marker from before leases (no `ttl`) is searched for
 * fingerprintTtl's TTL but never exclusive: one found then pauses for a technician.
 */
export function recoverySearches(
  markers: readonly unknown[],
  held: readonly FingerprintLease[],
  landWithinMs: number,
  firstTtl: number,
): CreateSearch[] {
  const searches: CreateSearch[] = [];
  for (const m of markers) {
    if (!isCreateMarker(m) || m.settled) continue;
    searches.push({
      ttls: [m.ttl ?? firstTtl],
      sinceMs: m.sentAt,
      untilMs: (m.lastSentAt ?? m.sentAt) + landWithinMs,
      exclusive: m.exclusive === true && m.ttl !== undefined,
    });
  }
  for (const l of held)
    searches.push({
      ttls: [l.ttl],
      sinceMs: l.askedAt,
      untilMs: l.askedAt + LEASE_SEND_WITHIN_MS + landWithinMs,
      exclusive: true,
    });
  return searches;
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
  const landWithinMs = deps.otsRequestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { ots, sealer, leases } = deps;
  const ceiling = deps.ttlCeiling ?? new AccountTtlCeiling();
  const leaseMs = leaseMsFor(landWithinMs);
  const landingWaitMs = deps.maxLandingWaitMs ?? LEASE_SEND_WITHIN_MS + landWithinMs;

  /**
   * A lease on one of `ttls` taken moments ago, so the send that follows is inside it (LEASE_SEND_WITHIN_MS).
   * Waits up to LEASE_WAIT_MS while every one is held elsewhere, then fails to be retried: never a send unleased.
   */
  async function leaseForSend(ttls: readonly number[], holder: string): Promise<FingerprintLease> {
    const giveUpAt = Date.now() + (deps.leaseWaitMs ?? LEASE_WAIT_MS);
    for (;;) {
      const lease = await leases!.acquire(ttls, leaseMs, holder);
      // Measured on the monotonic clock: the wall clock may step while we wait.
      if (lease && lease.grantedInMs <= LEASE_SEND_WITHIN_MS) return lease;
      if (Date.now() >= giveUpAt)
        throw ApplicationFailure.create({
          type: 'OTS_FINGERPRINT_BUSY',
          message:
            `all ${ttls.length} of this hand-off's TTL fingerprints are leased by other creates (or Temporal took more ` +
            `than ${LEASE_SEND_WITHIN_MS / 1000} s to grant one); nothing was sent, and the create is tried again`,
          nextRetryDelay: '5s',
          details: [{ outcome: 'refused' } satisfies FailureFacts],
        });
      // Every round asks for all 16 again: every 2 s, not faster, to spare Temporal.
      await sleep(Math.min(2_000, Math.max(0, giveUpAt - Date.now())));
    }
  }

  /**
   * Creates the hand-off's one Onetime Secret, idempotent across crashes and answers lost in flight: a retry first
   * looks for the secret an earlier attempt may have made. `recover` is the workflow saying "an earlier execution
   * of this step may have created it": set when a technician retries the step after it failed, with the create
   * markers its tries left.
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
    const holder = shareWorkflowId(input.shareId);
    // The marker travels in heartbeat details; every heartbeat repeats it so a keep-alive never erases it.
    let marker = attempt?.marker;
    const keepAlive = attempt?.heartbeatTimeoutMs
      ? setInterval(() => attempt.heartbeat(marker), Math.max(200, attempt.heartbeatTimeoutMs / 5))
      : undefined;
    try {
      return await failing(async () => {
        const passphrase = open('passphrase');
        // Within a ceiling the account is known to clamp to, so that OTS keeps the fingerprint.
        const known = ceiling.known;
        const asked = known !== undefined && known < input.ttlSeconds ? known : input.ttlSeconds;
        const ttls = fingerprintCandidates(input.shareId, asked);

        // A retry (or a technician's): look first for what an earlier send made.
        if ((attempt?.attempt ?? 1) > 1 || args.recover !== undefined || marker !== undefined) {
          // Its TTLs within the ceiling, and those of the whole TTL (what a process not knowing the ceiling asked).
          const unclamped = asked === input.ttlSeconds ? ttls : fingerprintCandidates(input.shareId, input.ttlSeconds);
          const mine = ttls === unclamped ? ttls : [...ttls, ...unclamped];
          const held = leases ? await leases.heldBy(mine, holder) : [];
          const searches = recoverySearches(
            [marker, ...(args.recover?.markers ?? [])],
            held,
            landWithinMs,
            unclamped[0]!,
          );
          if (searches.length > 0) {
            // A send that failed fast (a reset, a proxy's 502) may still be in OTS's hands: look once every send
            // looked for is past the time it could land, or a lookup too early would find nothing and send again.
            await sleep(Math.min(landingWaitMs, Math.max(...searches.map((w) => w.untilMs)) - Date.now()));
            const recovered = await recoverCreated(deps, input, searches, passphrase);
            if (recovered) return recovered;
          }
          // Nothing outstanding any more: whatever was sent before has been looked for.
          marker = { sentAt: Date.now(), settled: true };
          attempt?.heartbeat(marker);
        }

        // Every send holds the lease on the TTL it sends (src/ots/fingerprint-lease.ts). A process without leases
        // (unit tests, the bench's fakes) sends unleased, and a lost answer of its is never taken back.
        const lease = leases ? await leaseForSend(ttls, holder) : undefined;
        const ttl = lease?.ttl ?? ttls[0]!;
        marker = { sentAt: Date.now(), ttl, ...(lease ? { exclusive: true as const } : {}) };
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

/**
 * createSecret's failure carrying the create marker in its facts (workflows/failures.ts): an ApplicationFailure
 * keeps everything else it said; any other error becomes one of its name, retryable, outcome unknown.
 */
function withMarker(err: unknown, marker: CreateMarker | undefined): unknown {
  // Temporal's own failures (a cancellation at shutdown) stay what they are.
  if (!marker || (err instanceof TemporalFailure && !(err instanceof ApplicationFailure))) return err;
  if (!(err instanceof ApplicationFailure))
    return ApplicationFailure.fromError(err, {
      details: [{ outcome: 'unknown', createMarker: marker } satisfies FailureFacts],
    });
  const facts = (err.details?.[0] ?? { outcome: 'unknown' }) as FailureFacts;
  if (typeof facts !== 'object' || facts === null) return err;
  const wrapped = new ApplicationFailure(
    err.message,
    err.type,
    err.nonRetryable,
    [{ ...facts, createMarker: marker } satisfies FailureFacts, ...(err.details?.slice(1) ?? [])],
    err.cause,
    err.nextRetryDelay,
    err.category,
  );
  wrapped.stack = err.stack;
  return wrapped;
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
