// Activities: the only code the workflow runs that touches the outside world. Built by factories that receive
// their clients (STYLE.md), so tests pass fakes and the worker passes real ones.
//
// Secret material arrives sealed and is opened only here, just before it goes to Onetime Secret or Twilio;
// nothing returned from an activity (and so nothing in Temporal history) holds it in the clear.
import { ApplicationFailure } from '@temporalio/common';
import type { OtsClient } from '../src/ots/client.js';
import { OtsError, OtsNotFoundError } from '../src/ots/errors.js';
import type { SmsSender } from '../src/twilio/sms.js';
import { SmsRateLimitedError, SmsRejectedError, SmsUnavailableError } from '../src/twilio/sms.js';
import type { NotePost, NotesSink } from '../src/notes.js';
import type { Sealed, Sealer } from '../src/seal.js';
import { SealError } from '../src/seal.js';
import type { ReceiptSource } from '../src/ots/receipt-batcher.js';
import type { CreatedSecret, SecretMaterial } from '../workflows/types.js';

export type OtsPort = Pick<OtsClient, 'share' | 'generate' | 'receipt' | 'burn' | 'shareLink'>;

export interface ActivityDeps {
  ots: OtsPort;
  sms: SmsSender;
  sealer: Sealer;
  notes: NotesSink;
}

/** Receipt states as the workflow sees them; `gone` is OTS's "Unknown secret" (consumed, expired or never there). */
export type SecretCheck =
  | { state: 'new' | 'viewed' | 'burned' | 'expired' | 'orphaned' | 'gone' }
  | { state: 'received'; receivedAt: string };

/**
 * Turns a client error into the failure the workflow branches on (by `type`, never by message): retryable ones
 * keep Temporal's retry policy, honouring Retry-After through nextRetryDelay; the rest stop at once.
 */
function toFailure(err: unknown): unknown {
  if (err instanceof OtsError) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.code,
      nonRetryable: !err.retryable,
      nextRetryDelay: 'retryAfterMs' in err && typeof err.retryAfterMs === 'number' ? err.retryAfterMs : undefined,
    });
  }
  if (err instanceof SmsRateLimitedError || err instanceof SmsUnavailableError || err instanceof SmsRejectedError) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.code,
      nonRetryable: err instanceof SmsRejectedError,
      nextRetryDelay: err instanceof SmsRateLimitedError ? err.retryAfterMs : undefined,
    });
  }
  if (err instanceof SealError) return ApplicationFailure.create({ message: err.message, type: err.code, nonRetryable: true });
  return err;
}

async function failing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err);
  }
}

function ttlText(expiresAt: string): string {
  const hours = Math.round((Date.parse(expiresAt) - Date.now()) / 3_600_000);
  if (hours >= 48) return `${Math.round(hours / 24)} days`;
  if (hours >= 1) return `${hours} hour${hours === 1 ? '' : 's'}`;
  return 'less than an hour';
}

/**
 * Activities that call Onetime Secret. createSecret and burnSecret run on the rate-limited OTS task queue;
 * checkSecret runs on the main queue and reads receipts through `receipts` (the process's ReceiptBatcher, whose one
 * recent-receipts call serves every watch; src/ots/receipt-batcher.ts), so watches do not queue behind the budget.
 */
export function createOtsActivities(deps: Pick<ActivityDeps, 'ots' | 'sealer'> & { receipts?: ReceiptSource }) {
  const { ots, sealer } = deps;
  const receipts = deps.receipts ?? ots;
  const open = (s: Sealed | undefined) => (s ? sealer.open(s) : undefined);

  return {
    async createSecret(args: { secret: SecretMaterial; ttlSeconds: number; recipient?: string }): Promise<CreatedSecret> {
      return failing(async () => {
        const passphrase = open(args.secret.passphrase);
        const value = open(args.secret.value);
        // A generated value comes back in the response; it is dropped here and never leaves this function.
        const receipt = value !== undefined
          ? await ots.share({ secret: value, ttl: args.ttlSeconds, passphrase, recipient: args.recipient })
          : (await ots.generate({ ttl: args.ttlSeconds, passphrase, recipient: args.recipient })).receipt;
        let link: string;
        try {
          link = ots.shareLink(receipt);
        } catch {
          // A receipt without a secret key cannot be delivered: burn it rather than leave an untracked secret.
          await ots.burn(receipt.metadataKey, passphrase).catch(() => undefined);
          throw ApplicationFailure.create({ type: 'OTS_BAD_RESPONSE', message: 'Onetime Secret returned a receipt without a secret key', nonRetryable: true });
        }
        const liveTtl = typeof receipt.secretTtl === 'number' ? receipt.secretTtl : receipt.ttl;
        return {
          metadataKey: receipt.metadataKey,
          link: sealer.seal(link),
          expiresAt: new Date(Date.now() + liveTtl * 1000).toISOString(),
          passphraseRequired: receipt.passphraseRequired ?? passphrase !== undefined,
        };
      });
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
    async sendLinkSms(args: { to: string; link: Sealed; expiresAt: string; statusCallback: string; passphraseVia?: 'sms' | 'voice' }): Promise<{ sid: string }> {
      return failing(async () => {
        const gate = args.passphraseVia === 'voice'
          ? ' You will need the passphrase we read to you on the call.'
          : args.passphraseVia === 'sms'
            ? ' You will need the passphrase we send you separately.'
            : '';
        // The body holds the link and a short explanation only: never the secret or a passphrase.
        const body = `Your IT help desk sent you a one-time secure link. It works once and expires in ${ttlText(args.expiresAt)}.${gate} ${sealer.open(args.link)}`;
        const r = await sms.send({ to: args.to, body, statusCallback: args.statusCallback });
        return { sid: r.sid };
      });
    },

    async sendPassphraseSms(args: { to: string; passphrase: Sealed; statusCallback: string }): Promise<{ sid: string }> {
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
