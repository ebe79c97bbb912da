// Activities that call Onetime Secret. createSecret and burnSecret run on the rate-limited OTS task queue;
// checkSecret runs on the main queue and reads receipts through `receipts` (the process's ReceiptBatcher, whose one
// recent-receipts call serves every watch: src/ots/receipt-batcher.ts, docs/onetime-secret.md "Batched receipt
// checks"), so watches do not queue behind the budget.
import { Context } from '@temporalio/activity';
import type { OtsClient } from '../src/ots/client.js';
import { OtsNotFoundError } from '../src/ots/errors.js';
import type { ReceiptSource } from '../src/ots/receipt-batcher.js';
import { handoffContext, type Sealed } from '../src/seal.js';
import type { Binding } from '../workflows/types.js';
import { createSecretActivity, type CreateSecretDeps } from './create-secret.js';
import { failing } from './failures.js';

export type OtsPort = Pick<OtsClient, 'share' | 'generate' | 'receipt' | 'burn' | 'shareLink' | 'recent'>;

/** Receipt states as the workflow sees them; `gone` is OTS's "Unknown secret" (consumed, expired or never there). */
export type SecretCheck =
  { state: 'new' | 'viewed' | 'burned' | 'expired' | 'orphaned' | 'gone' } | { state: 'received'; receivedAt: string };

export function createOtsActivities(
  deps: CreateSecretDeps & {
    /** Where checkSecret reads receipts: the process's ReceiptBatcher. Default: `ots`, one call per check. */
    receipts?: ReceiptSource;
  },
) {
  const { ots, sealer } = deps;
  const receipts: ReceiptSource = deps.receipts ?? ots;
  // The receipt key and passphrase open only for the hand-off they were sealed for (src/seal.ts).
  const receiptKey = (binding: Binding, receipt: Sealed) => sealer.open(receipt, handoffContext('receipt', binding));
  /** The live watch is told whose receipt it is: the workflow that runs this activity. */
  const watchLive = (metadataKey: string, liveForMs: number | undefined): boolean => {
    const workflowId = liveForMs && liveForMs > 0 ? Context.current().info.workflowExecution?.workflowId : undefined;
    if (!workflowId || !receipts.watchLive) return false;
    return receipts.watchLive(metadataKey, workflowId, liveForMs!);
  };

  return {
    createSecret: createSecretActivity(deps),

    /**
     * The receipt's state, from the process's batched list. With `liveForMs` (the hand-off is in its live window),
     * the process also looks for it on every refresh of the list and signals a change (src/ots/receipt-batcher.ts).
     */
    async checkSecret(args: { binding: Binding; receipt: Sealed; liveForMs?: number }): Promise<SecretCheck> {
      return failing(async () => {
        const metadataKey = receiptKey(args.binding, args.receipt);
        try {
          const r = await receipts.receipt(metadataKey);
          // Still unopened: keep looking for it on every refresh (an opened one would only be reported again).
          if (r.state === 'new' || r.state === 'viewed') watchLive(metadataKey, args.liveForMs);
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

    /** Registers the receipt with this process's live watch (no call to Onetime Secret). */
    /**
     * Registers the receipt with this process's live watch (no call to Onetime Secret). `watching`: this process
     * will signal a change, so the workflow may check less often meanwhile (workflows/handoff.ts watch).
     */
    async watchReceipt(args: { binding: Binding; receipt: Sealed; liveForMs: number }): Promise<{ watching: boolean }> {
      return failing(async () => ({ watching: watchLive(receiptKey(args.binding, args.receipt), args.liveForMs) }));
    },

    async burnSecret(args: { binding: Binding; receipt: Sealed; passphrase?: Sealed }): Promise<SecretCheck> {
      return failing(async () => {
        const metadataKey = receiptKey(args.binding, args.receipt);
        const passphrase = args.passphrase && sealer.open(args.passphrase, handoffContext('passphrase', args.binding));
        try {
          const r = await ots.burn(metadataKey, passphrase);
          return { state: r.state === 'received' ? 'gone' : r.state } as SecretCheck;
        } catch (err) {
          if (err instanceof OtsNotFoundError) return { state: 'gone' };
          throw err;
        }
      });
    },
  };
}

export type OtsActivities = ReturnType<typeof createOtsActivities>;
