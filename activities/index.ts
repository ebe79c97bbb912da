// Activities: the only code the workflow runs that touches the outside world. Built by factories that receive
// their clients (STYLE.md), so tests pass fakes and the worker passes real ones.
//
// Secret material arrives sealed and is opened only here, just before it goes to Onetime Secret or Twilio;
// nothing returned from an activity (and so nothing in Temporal history) holds it in the clear.
import { asyncLocalStorage as activityContext } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { OtsClient } from '../src/ots/client.js';
import {
  fingerprintTtl,
  isCreateMarker,
  matchCreatedReceipt,
  REFUSED_CREATE_CODES,
  type CreateMarker,
} from '../src/ots/create-recovery.js';
import { OtsError, OtsNotFoundError, OtsProtocolError } from '../src/ots/errors.js';
import type { SmsSender } from '../src/twilio/sms.js';
import { SmsRateLimitedError, SmsRejectedError, SmsUnavailableError } from '../src/twilio/sms.js';
import type { NotePost, NotesSink } from '../src/notes.js';
import type { Sealed, Sealer } from '../src/seal.js';
import { SealError } from '../src/seal.js';
import type { ReceiptSource } from '../src/ots/receipt-batcher.js';
import type { Receipt } from '../src/ots/schemas.js';
import type { FailureFacts, FailureOutcome } from '../workflows/failures.js';
import { ttlText } from '../workflows/ttl-text.js';
import type { CreatedSecret, SecretMaterial } from '../workflows/types.js';

export type OtsPort = Pick<OtsClient, 'share' | 'generate' | 'receipt' | 'burn' | 'shareLink' | 'recent'>;

export interface ActivityDeps {
  ots: OtsPort;
  sms: SmsSender;
  sealer: Sealer;
  notes: NotesSink;
}

/** Receipt states as the workflow sees them; `gone` is OTS's "Unknown secret" (consumed, expired or never there). */
export type SecretCheck =
  { state: 'new' | 'viewed' | 'burned' | 'expired' | 'orphaned' | 'gone' } | { state: 'received'; receivedAt: string };

/**
 * The longest Retry-After the activity waits out by itself. A server asking for more (an hour, a day) is not
 * retried early against its word, nor waited for silently: the step fails at once and a technician decides.
 */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Retry-After as a retry decision: wait that long (bounded), or stop and hand over when it is longer. */
function retryAfter(retryable: boolean, retryAfterMs: number | undefined, message: string) {
  if (!retryable || retryAfterMs === undefined || retryAfterMs <= MAX_RETRY_AFTER_MS) {
    return { message, nonRetryable: !retryable, nextRetryDelay: retryAfterMs };
  }
  return {
    message: `${message} (asked to wait ${Math.ceil(retryAfterMs / 1000)} s, more than the ${MAX_RETRY_AFTER_MS / 1000} s retried automatically)`,
    nonRetryable: true,
  };
}

/**
 * Turns a client error into an ApplicationFailure whose type is the service's code and whose details say whether
 * the service refused (workflows/failures.ts: the workflow branches on that, never on codes or messages).
 * Retryable ones keep Temporal's retry policy, honouring Retry-After through nextRetryDelay up to
 * MAX_RETRY_AFTER_MS; the rest stop at once.
 */
export function toFailure(err: unknown): unknown {
  if (err instanceof OtsError) {
    const after = 'retryAfterMs' in err && typeof err.retryAfterMs === 'number' ? err.retryAfterMs : undefined;
    // A 2xx whose body is cut or garbled (a proxy, a dropped connection mid-body) is retried: every OTS activity
    // is safe to run again (createSecret finds a secret it made, checks only read, a repeated burn answers
    // "Unknown secret"). A wrong base URL (no such route) still stops at once.
    const garbled =
      err instanceof OtsProtocolError && err.status !== undefined && err.status >= 200 && err.status < 300;
    return ApplicationFailure.create({
      type: err.code,
      ...retryAfter(err.retryable || garbled, after, err.message),
      details: [facts(REFUSED_CREATE_CODES.includes(err.code) ? 'refused' : 'unknown')],
    });
  }
  if (err instanceof SmsRateLimitedError || err instanceof SmsUnavailableError || err instanceof SmsRejectedError) {
    const after = err instanceof SmsRateLimitedError ? err.retryAfterMs : undefined;
    return ApplicationFailure.create({
      type: err.code,
      ...retryAfter(!(err instanceof SmsRejectedError), after, err.message),
      // Twilio refused the message (rejected, rate limited): none was sent. Unavailable: it may have been.
      details: [facts(err instanceof SmsUnavailableError ? 'unknown' : 'refused')],
    });
  }
  if (err instanceof SealError)
    return ApplicationFailure.create({ message: err.message, type: err.code, nonRetryable: true });
  return err;
}

/** What the workflow learns of a failure (workflows/failures.ts), attached as the failure's details. */
function facts(outcome: FailureOutcome): FailureFacts {
  return { outcome };
}

async function failing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err);
  }
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
 * Activities that call Onetime Secret. createSecret and burnSecret run on the rate-limited OTS task queue;
 * checkSecret runs on the main queue and reads receipts through `receipts` (the process's ReceiptBatcher, whose one
 * recent-receipts call serves every watch; src/ots/receipt-batcher.ts), so watches do not queue behind the budget.
 */
export function createOtsActivities(
  deps: Pick<ActivityDeps, 'ots' | 'sealer'> & { receipts?: ReceiptSource; otsRequestTimeoutMs?: number },
) {
  /** How long after its send a create can still land at OTS: the client's request deadline. */
  const landWithinMs = deps.otsRequestTimeoutMs ?? 10_000;
  const { ots, sealer } = deps;
  const receipts = deps.receipts ?? ots;
  const open = (s: Sealed | undefined) => (s ? sealer.open(s) : undefined);

  /** A fresh or recovered receipt as the workflow keeps it: the link sealed, the expiry from the live TTL. */
  const toCreated = async (
    receipt: Receipt,
    passphrase: string | undefined,
    recovered?: true,
  ): Promise<CreatedSecret> => {
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
  };

  /** The secret an earlier attempt created, if exactly one receipt fits; undefined if none (create it now). */
  const recoverCreated = async (
    ttl: number,
    sinceMs: number,
    untilMs: number,
    passphrase: string | undefined,
  ): Promise<CreatedSecret | undefined> => {
    const match = matchCreatedReceipt(await ots.recent(), { ttl, sinceMs, untilMs });
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
          `created since ${new Date(sinceMs).toISOString()} carry this hand-off's fingerprint (ttl ${ttl} s): ${keys}. ` +
          "Burn in Onetime Secret those that are not this hand-off's, then retry; a retry with one left recovers it, with none creates it",
      });
    }
    let receipt: Receipt;
    try {
      // The list carries no secret key; the receipt itself does while the secret is unopened (ots-api.md §3).
      receipt = await ots.receipt(match.receipt.metadataKey);
    } catch (err) {
      if (err instanceof OtsNotFoundError) return undefined;
      throw err;
    }
    // Gone meanwhile (expired or burned, never delivered): nothing live to recover, so a new one is made.
    if (!receipt.secretKey || (receipt.state !== 'new' && receipt.state !== 'viewed')) return undefined;
    return toCreated(receipt, passphrase, true);
  };

  return {
    /**
     * Creates the hand-off's one Onetime Secret. With `shareId` it is idempotent across crashes and answers lost in
     * flight: a retry first looks for the secret an earlier attempt may have made (src/ots/create-recovery.ts has
     * the design). `recover` is the workflow saying "an earlier execution of this step may have created it, between
     * these times" (epoch ms): set when a technician retries a step whose failure did not prove nothing was made.
     */
    async createSecret(args: {
      secret: SecretMaterial;
      ttlSeconds: number;
      recipient?: string;
      shareId?: string;
      recover?: { since: number; until: number };
    }): Promise<CreatedSecret> {
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
          // Where an earlier send may have landed: between the marker's first and last send (plus the request
          // deadline); without a marker on a retry (its heartbeat may not have reached the server before a crash),
          // since the step was first scheduled; plus the workflow's window for a technician's retry. A settled
          // marker means the last answer proved nothing was made, after a lookup that covered everything before.
          const windows: { since: number; until: number }[] = [];
          if (marker && !marker.settled)
            windows.push({ since: marker.sentAt, until: (marker.lastSentAt ?? marker.sentAt) + landWithinMs });
          else if (!marker && attempt && attempt.attempt > 1)
            windows.push({ since: attempt.scheduledMs, until: Date.now() });
          if (args.recover) windows.push(args.recover);
          if (windows.length > 0 && args.shareId) {
            const since = Math.min(...windows.map((w) => w.since));
            const until = Math.max(...windows.map((w) => w.until));
            const recovered = await recoverCreated(ttl, since, until, passphrase);
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
            return await toCreated(receipt, passphrase);
          } catch (err) {
            // OTS refused it: nothing was created, so the next attempt need not look for it.
            if (err instanceof OtsError && REFUSED_CREATE_CODES.includes(err.code)) {
              marker = { ...marker, settled: true };
              attempt?.heartbeat(marker);
            }
            throw err;
          }
        });
      } finally {
        clearInterval(keepAlive);
      }
    },

    async checkSecret(args: { metadataKey: string }): Promise<SecretCheck> {
      return failing(async () => {
        try {
          const r = await receipts.receipt(args.metadataKey);
          if (r.state === 'received') {
            return { state: 'received', receivedAt: new Date((r.received ?? r.updated) * 1000).toISOString() };
          }
          return { state: r.state };
        } catch (err) {
          if (err instanceof OtsNotFoundError) return { state: 'gone' };
          throw err;
        }
      });
    },

    async burnSecret(args: { metadataKey: string; passphrase?: Sealed }): Promise<SecretCheck> {
      return failing(async () => {
        try {
          const r = await ots.burn(args.metadataKey, open(args.passphrase));
          return { state: r.state === 'received' ? 'gone' : r.state } as SecretCheck;
        } catch (err) {
          if (err instanceof OtsNotFoundError) return { state: 'gone' };
          throw err;
        }
      });
    },
  };
}

/** Activities that deliver to people: SMS and ticket notes. */
export function createDeliveryActivities(deps: Pick<ActivityDeps, 'sms' | 'sealer' | 'notes'>) {
  const { sms, sealer, notes } = deps;
  return {
    async sendLinkSms(args: {
      to: string;
      link: Sealed;
      expiresAt: string;
      statusCallback: string;
      passphraseVia?: 'sms' | 'voice';
    }): Promise<{ sid: string }> {
      return failing(async () => {
        const gate =
          args.passphraseVia === 'voice'
            ? ' You will need the passphrase we read to you on the call.'
            : args.passphraseVia === 'sms'
              ? ' You will need the passphrase we send you separately.'
              : '';
        // The body holds the link and a short explanation only: never the secret or a passphrase.
        const body = `Your IT help desk sent you a one-time secure link. It works once and expires in ${ttlText((Date.parse(args.expiresAt) - Date.now()) / 1000, 'long')}.${gate} ${sealer.open(args.link)}`;
        const r = await sms.send({ to: args.to, body, statusCallback: args.statusCallback });
        return { sid: r.sid };
      });
    },

    async sendPassphraseSms(args: {
      to: string;
      passphrase: Sealed;
      statusCallback: string;
    }): Promise<{ sid: string }> {
      return failing(async () => {
        // Passphrase by SMS only when the link went by email (DESIGN.md step 4): never on the link's channel.
        const spoken = sealer.open(args.passphrase).replace(/(\d{3})(?=\d)/g, '$1 ');
        const body = `The passphrase for the secure link we emailed you is: ${spoken}`;
        const r = await sms.send({ to: args.to, body, statusCallback: args.statusCallback });
        return { sid: r.sid };
      });
    },

    async postNote(args: NotePost): Promise<void> {
      await notes.post(args);
    },
  };
}

export type OtsActivities = ReturnType<typeof createOtsActivities>;
export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;

export function createActivities(deps: ActivityDeps) {
  return { ...createOtsActivities(deps), ...createDeliveryActivities(deps) };
}
