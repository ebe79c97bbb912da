// The Onetime Secret part: the service's own client (src/ots/client.ts), built as src/service.ts builds it, goes
// through create → receipt → recent → burn → receipt with a random value and passphrase made here. Every secret is
// in the ledger from the moment its receipt is known. A create whose answer was lost is looked for (whole-minute TTL,
// created around the send) and reported, never burned: without the service's leases nothing proves it is this run's.
import { randomBytes } from 'node:crypto';
import { liveOtsOptions, OtsClient, type Receipt } from '../../src/ots/client.js';
import { matchCreatedReceipt } from '../../src/ots/create-recovery.js';
import { OtsError, OtsNotFoundError } from '../../src/ots/errors.js';
import type { Config } from '../../src/config.js';
import type { Interrupt, Ledger } from './ledger.js';
import { errorText, showKey, showLink, showOrigin, type Output } from './output.js';

/** Every secret smoke makes lives at most this long (seconds), should its burn ever fail. */
export const SMOKE_TTL_SECONDS = 600;

export class StepFailed extends Error {
  constructor(
    readonly step: string,
    why: string,
  ) {
    super(why);
    this.name = 'StepFailed';
  }
}

/** The client as src/service.ts `createClients` makes it for a live account. */
export function makeOtsClient(config: Config): OtsClient {
  return new OtsClient(liveOtsOptions(config));
}

/** A random value of `chars` URL-safe characters: what smoke shares. Never printed, only its length. */
export function randomValue(chars: number): string {
  return randomBytes(Math.ceil((chars * 3) / 4))
    .toString('base64url')
    .slice(0, chars);
}

export interface OtsPartContext {
  out: Output;
  ledger: Ledger;
  interrupt: Interrupt;
  ots: OtsClient;
  /** Distinguishes this run's TTL fingerprint (as a share id does a hand-off's). */
  runId: string;
}

/** Runs the OTS steps; throws StepFailed naming the step. */
export async function runOtsPart(ctx: OtsPartContext): Promise<void> {
  const { out, ledger, interrupt, ots } = ctx;
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await interrupt.guard(run());
    } catch (err) {
      if (err instanceof OtsError || err instanceof StepFailed) throw new StepFailed(`OTS ${name}`, errorText(err));
      throw err;
    }
  };

  const selection = await step('API version', () => ots.detectApiVersion());
  out.say(`OTS: API ${selection.version} (${selection.reason}), ${showOrigin(ots.baseUrl)}`);

  const value = randomValue(24);
  const passphrase = randomValue(16);
  out.sensitive(value, passphrase);
  // A whole number of minutes, which no hand-off ever asks for (src/ots/create-recovery.ts, fingerprintCandidates):
  // this secret can never be taken for a hand-off's lost create, whatever the service's leases.
  const ttl = SMOKE_TTL_SECONDS;
  const sentAt = Date.now();
  let receipt: Receipt;
  try {
    // Not raced against Ctrl-C: a create that was sent is waited for (the client's deadline, 10 s), so its receipt
    // is known and the cleanup can burn it.
    receipt = await ots.share({ secret: value, ttl, passphrase });
  } catch (err) {
    if (err instanceof OtsError && !err.refused) await adoptLostCreate(ctx, { ttl, sentAt, passphrase });
    if (err instanceof OtsError) throw new StepFailed('OTS create', errorText(err));
    throw err;
  }
  remember(ctx, receipt, passphrase, 'secret');
  const link = receipt.secretKey ? ots.shareLink(receipt) : undefined;
  out.sensitive(link);
  out.say(
    `OTS: created secret (value redacted, ${value.length} chars; passphrase redacted, ${passphrase.length} chars), ` +
      `receipt ${showKey(receipt.metadataKey)}${link ? `, link ${showLink(link)}` : ''}, ttl ${receipt.ttl} s`,
  );

  const fresh = await step('receipt', () => ots.receipt(receipt.metadataKey));
  if (fresh.state !== 'new' && fresh.state !== 'viewed')
    throw new StepFailed('OTS receipt', `a fresh secret's receipt says ${fresh.state}, expected new`);
  if (fresh.passphraseRequired === false)
    throw new StepFailed('OTS receipt', 'the receipt says no passphrase is required, but one was set');
  out.say(
    `OTS: receipt ${showKey(receipt.metadataKey)} says ${fresh.state}` +
      `${fresh.passphraseRequired ? ', passphrase required' : ''}`,
  );

  // The service's watch reads this list (src/ots/receipt-batcher.ts) and its create recovery too.
  const listed = (await step('recent', () => ots.recent())).find((r) => r.metadataKey === receipt.metadataKey);
  if (!listed)
    throw new StepFailed('OTS recent', `the account's recent receipts do not list ${showKey(receipt.metadataKey)}`);
  out.say(`OTS: the account's recent receipts list it (${listed.state}, ttl ${listed.ttl} s)`);

  await step('burn', () => ots.burn(receipt.metadataKey, passphrase));
  ledger.markBurned(receipt.metadataKey);
  out.say(`OTS: burned ${showKey(receipt.metadataKey)}`);

  const after = await step('receipt after burn', () => ots.receipt(receipt.metadataKey));
  if (after.state !== 'burned')
    throw new StepFailed('OTS receipt after burn', `the receipt says ${after.state}, expected burned`);
  out.say(`OTS: receipt ${showKey(receipt.metadataKey)} says burned`);
}

/** Puts a receipt in the ledger: the cleanup burns it with the client (and the passphrase, when it has one). */
export function remember(
  ctx: { out: Output; ledger: Ledger; ots: OtsClient },
  receipt: Receipt,
  passphrase: string | undefined,
  kind: string,
): void {
  ctx.out.sensitive(receipt.metadataKey, receipt.secretKey);
  ctx.ledger.add({
    what: `${kind} ${showKey(receipt.metadataKey)}`,
    key: receipt.metadataKey,
    expiresAt: new Date(Date.now() + receipt.ttl * 1000),
    burn: () => burnWithClient(ctx.ots, receipt.metadataKey, passphrase),
  });
}

/** Burns with the client; a secret already gone counts when its receipt says burned (else it says what it was). */
export async function burnWithClient(ots: OtsClient, metadataKey: string, passphrase?: string): Promise<string> {
  try {
    await ots.burn(metadataKey, passphrase);
    return 'burned';
  } catch (err) {
    if (!(err instanceof OtsNotFoundError)) throw err;
    const r = await ots.receipt(metadataKey);
    if (r.state === 'burned') return 'was already burned';
    throw new Error(`Onetime Secret has nothing left to burn: the receipt says ${r.state}`, { cause: err });
  }
}

/**
 * A create without an answer (timeout, reset, 5xx) may have made the secret. Like the service's recovery
 * (src/ots/create-recovery.ts), look for live receipts with this run's TTL fingerprint created around the send. The
 * smoke run holds no fleet lease on its fingerprint, so even one found may be someone else's: say so, and touch
 * nothing (the smoke run's secrets expire within minutes).
 */
async function adoptLostCreate(
  ctx: OtsPartContext,
  sent: { ttl: number; sentAt: number; passphrase: string },
): Promise<void> {
  try {
    const match = matchCreatedReceipt(await ctx.ots.recent(), {
      ttls: [sent.ttl],
      sinceMs: sent.sentAt,
      untilMs: Date.now(),
    });
    if (match.kind !== 'none') {
      const found = match.kind === 'one' ? 1 : match.receipts.length;
      ctx.out.warn(
        `OTS: the create's answer was lost and ${found} receipt(s) could be it, none surely this run's; none is burned (they expire within ${SMOKE_TTL_SECONDS / 60} minutes)`,
      );
    }
  } catch (err) {
    ctx.out.warn(
      `OTS: the create's answer was lost and the receipt list could not be read (${errorText(err)}); if a secret was made it expires within ${SMOKE_TTL_SECONDS / 60} minutes`,
    );
  }
}
