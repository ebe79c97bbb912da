// One recent-receipts call serves every watch in this process. Each hand-off checks its receipt on its own
// schedule; asking Onetime Secret once per check costs one API call per watch per poll (1,000 watches at 15 s are
// 4,000 calls a minute, forty times the account's budget). Instead every check in a short window is answered from
// one recent-receipts call (`GET /api/v1/private/recent` or `/api/v2/receipt/recent`: the account's receipts of the
// last 30 days, with their stored states), fetched at most once per `maxAgeMs` and shared by concurrent callers. A
// receipt the list does not hold (older, or beyond what the server returns) is asked for directly, as before, and
// so is one the list still shows unopened after its secret's lifetime: the list shows the stored state, and only
// loading the receipt applies the expiry (on both versions). The price is staleness: an opening is seen up to
// `maxAgeMs` later.
import type { OtsClient } from './client.js';
import type { Receipt } from './schemas.js';

export interface ReceiptSource {
  receipt(metadataKey: string): Promise<Receipt>;
}

export function createReceiptBatcher(opts: {
  ots: Pick<OtsClient, 'recent' | 'receipt'>;
  /** How old a recent list may be to answer a check. Default 10 s. */
  maxAgeMs?: number;
  now?: () => number;
}): ReceiptSource {
  const maxAgeMs = opts.maxAgeMs ?? 10_000;
  const now = opts.now ?? Date.now;
  let snapshot: { at: number; byKey: Map<string, Receipt> } | undefined;
  let inflight: Promise<void> | undefined;

  const refresh = (): Promise<void> => {
    // Coalesce: whoever comes while a fetch is under way waits for that one.
    inflight ??= (async () => {
      const startedAt = now();
      try {
        const list = await opts.ots.recent();
        snapshot = { at: startedAt, byKey: new Map(list.map((r) => [r.metadataKey, r])) };
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  return {
    async receipt(metadataKey) {
      if (!snapshot || now() - snapshot.at >= maxAgeMs) await refresh();
      const listed = snapshot?.byKey.get(metadataKey);
      const pastLifetime =
        listed !== undefined &&
        (listed.state === 'new' || listed.state === 'viewed') &&
        (listed.created + listed.ttl) * 1000 <= now();
      return listed && !pastLifetime ? listed : opts.ots.receipt(metadataKey);
    },
  };
}
