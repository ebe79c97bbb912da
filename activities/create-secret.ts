// The createSecret activity: exactly one Onetime Secret per hand-off, across crashes and answers lost in flight.
// The design, and why it is safe, is in src/ots/create-recovery.ts and docs/onetime-secret.md ("Creating exactly
// once"); this is the activity's side of it: the marker it heartbeats, the window it looks in, the lookup.
import { asyncLocalStorage as activityContext } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { fingerprintTtl, isCreateMarker, matchCreatedReceipt, type CreateMarker } from '../src/ots/create-recovery.js';
import { OtsError, OtsNotFoundError } from '../src/ots/errors.js';
import type { Receipt } from '../src/ots/schemas.js';
import type { Sealed, Sealer } from '../src/seal.js';
import type { CreatedSecret, SecretMaterial } from '../workflows/types.js';
import { failing } from './failures.js';
import type { OtsPort } from './ots.js';

export interface CreateSecretArgs {
  secret: SecretMaterial;
  ttlSeconds: number;
  recipient?: string;
  shareId?: string;
  recover?: { since: number; until: number };
}

export interface CreateSecretDeps {
  ots: OtsPort;
  sealer: Sealer;
  /** How long after its send a create can still land at OTS: the client's request deadline. Default 10 s. */
  otsRequestTimeoutMs?: number;
}

/** The running activity attempt, or undefined when called outside a worker (unit tests, the bench's fakes). */
function currentAttempt() {
  const ctx = activityContext.getStore();
  if (!ctx) return undefined;
  const { attempt, scheduledTimestampMs, heartbeatDetails, heartbeatTimeoutMs } = ctx.info;
  return {
    attempt,
    scheduledMs: scheduledTimestampMs,
    heartbeatTimeoutMs,
    marker: isCreateMarker(heartbeatDetails) ? heartbeatDetails : undefined,
    heartbeat: (marker: CreateMarker | undefined) => ctx.heartbeat(marker),
  };
}

/**
 * Where an earlier send may have landed (epoch ms), or undefined when there is nothing to look for: between the
 * marker's first and last send (plus the request deadline); without a marker on a retry (its heartbeat may not
 * have reached the server before a crash), since the step was first scheduled; plus the workflow's window for a
 * technician's retry. A settled marker means the last answer proved nothing was made, after a lookup that covered
 * everything before.
 */
export function recoveryWindow(
  marker: CreateMarker | undefined,
  attempt: { attempt: number; scheduledMs: number } | undefined,
  recover: { since: number; until: number } | undefined,
  landWithinMs: number,
): { since: number; until: number } | undefined {
  const windows: { since: number; until: number }[] = [];
  if (marker && !marker.settled)
    windows.push({ since: marker.sentAt, until: (marker.lastSentAt ?? marker.sentAt) + landWithinMs });
  else if (!marker && attempt && attempt.attempt > 1) windows.push({ since: attempt.scheduledMs, until: Date.now() });
  if (recover) windows.push(recover);
  if (windows.length === 0) return undefined;
  return { since: Math.min(...windows.map((w) => w.since)), until: Math.max(...windows.map((w) => w.until)) };
}

/** A fresh or recovered receipt as the workflow keeps it: the link sealed, the expiry from the live TTL. */
async function toCreated(
  { ots, sealer }: CreateSecretDeps,
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
    metadataKey: receipt.metadataKey,
    link: sealer.seal(link),
    expiresAt: new Date(Date.now() + liveTtl * 1000).toISOString(),
    passphraseRequired: receipt.passphraseRequired ?? passphrase !== undefined,
    ...(recovered ? { recovered } : {}),
  };
}

/** The secret an earlier attempt created, if exactly one receipt fits; undefined if none (create it now). */
async function recoverCreated(
  deps: CreateSecretDeps,
  ttl: number,
  { since, until }: { since: number; until: number },
  passphrase: string | undefined,
): Promise<CreatedSecret | undefined> {
  const { ots } = deps;
  const match = matchCreatedReceipt(await ots.recent(), { ttl, sinceMs: since, untilMs: until });
  if (match.kind === 'none') return undefined;
  if (match.kind === 'ambiguous') {
    const keys = match.receipts
      .slice(0, 5)
      .map((r) => `${r.metadataKey.slice(0, 8)}…`)
      .join(', ');
    throw ApplicationFailure.create({
      type: 'OTS_CREATE_AMBIGUOUS',
      nonRetryable: true,
      message:
        `an earlier attempt may have created the secret but its answer was lost, and ${match.receipts.length} receipts ` +
        `created since ${new Date(since).toISOString()} carry this hand-off's fingerprint (ttl ${ttl} s): ${keys}. ` +
        "Burn in Onetime Secret those that are not this hand-off's, then retry; a retry with one left recovers it, with none creates it",
    });
  }
  let receipt: Receipt;
  try {
    // The recent list carries no secret key; the receipt itself does while the secret is unopened
    // (docs/onetime-secret.md, "Receipt states").
    receipt = await ots.receipt(match.receipt.metadataKey);
  } catch (err) {
    if (err instanceof OtsNotFoundError) return undefined;
    throw err;
  }
  // Gone meanwhile (expired or burned, never delivered): nothing live to recover, so a new one is made.
  if (!receipt.secretKey || (receipt.state !== 'new' && receipt.state !== 'viewed')) return undefined;
  return toCreated(deps, receipt, passphrase, true);
}

export function createSecretActivity(deps: CreateSecretDeps) {
  const landWithinMs = deps.otsRequestTimeoutMs ?? 10_000;
  const { ots, sealer } = deps;
  const open = (s: Sealed | undefined) => (s ? sealer.open(s) : undefined);

  /**
   * Creates the hand-off's one Onetime Secret. With `shareId` it is idempotent across crashes and answers lost in
   * flight: a retry first looks for the secret an earlier attempt may have made. `recover` is the workflow saying
   * "an earlier execution of this step may have created it, between these times" (epoch ms): set when a technician
   * retries a step whose failure did not prove nothing was made.
   */
  return async function createSecret(args: CreateSecretArgs): Promise<CreatedSecret> {
    const attempt = currentAttempt();
    // The marker travels in heartbeat details; every heartbeat repeats it so a keep-alive never erases it.
    let marker = attempt?.marker;
    const keepAlive = attempt?.heartbeatTimeoutMs
      ? setInterval(() => attempt.heartbeat(marker), Math.max(200, attempt.heartbeatTimeoutMs / 3))
      : undefined;
    try {
      return await failing(async () => {
        const passphrase = open(args.secret.passphrase);
        const ttl = args.shareId ? fingerprintTtl(args.shareId, args.ttlSeconds) : args.ttlSeconds;
        const window = recoveryWindow(marker, attempt, args.recover, landWithinMs);
        if (window && args.shareId) {
          const recovered = await recoverCreated(deps, ttl, window, passphrase);
          if (recovered) return recovered;
        }

        const now = Date.now();
        marker = { sentAt: marker && !marker.settled ? marker.sentAt : now, lastSentAt: now };
        attempt?.heartbeat(marker);
        const value = open(args.secret.value);
        try {
          // A generated value comes back in the response; it is dropped here and never leaves this function.
          const receipt =
            value !== undefined
              ? await ots.share({ secret: value, ttl, passphrase, recipient: args.recipient })
              : (await ots.generate({ ttl, passphrase, recipient: args.recipient })).receipt;
          return await toCreated(deps, receipt, passphrase);
        } catch (err) {
          // OTS refused it: nothing was created, so the next attempt need not look for it.
          if (err instanceof OtsError && err.refused) {
            marker = { ...marker, settled: true };
            attempt?.heartbeat(marker);
          }
          throw err;
        }
      });
    } finally {
      clearInterval(keepAlive);
    }
  };
}
