// One recent-receipts call serves every watch in this process. Each hand-off checks its receipt on its own
// schedule; asking Onetime Secret once per check costs one API call per watch per poll (1,000 watches at 15 s are
// 4,000 calls a minute, forty times the account's budget). Instead every check in a short window is answered from
// one recent-receipts call (`GET /api/v1/private/recent` or `/api/v2/receipt/recent`: the account's receipts of the
// last 30 days, with their stored states), fetched at most once per `maxAgeMs` and shared by concurrent callers. A
// receipt the list does not hold (older, or beyond what the server returns) is asked for directly, as before, and
// so is one the list still shows unopened after its secret's lifetime: the list shows the stored state, and only
// loading the receipt applies the expiry (on both versions). The price is staleness: an opening is seen up to
// `maxAgeMs` later.
//
// The live watch (docs/onetime-secret.md, "The live window"): while any hand-off checked here is in its live window
// (the caller likely on the line), the list is fetched every `maxAgeMs` whether or not a check asks, and a receipt
// that changed is reported at once (`onChange`, which signals its workflow), so the opening is seen within one
// refresh instead of at the workflow's next timer. It costs no more than the checks did: still at most one list call
// per `maxAgeMs` per process, the same list serving both. The registry holds a digest of each receipt key, never the
// key (a receipt key fetches an unopened secret's key: docs/onetime-secret.md, "Receipt states").
import { createHash } from 'node:crypto';
import type { OtsClient } from './client.js';
import type { Receipt } from './schemas.js';

export interface ReceiptSource {
  receipt(metadataKey: string): Promise<Receipt>;
  /**
   * Look for this receipt on every refresh for the next `liveForMs` (a later call renews it), and report its
   * workflow once when its state moves on from unopened.
   */
  watchLive?(metadataKey: string, workflowId: string, liveForMs: number): boolean;
}

export interface ReceiptBatcher extends ReceiptSource {
  /** Whether it will look for the receipt (false without `onChange`: nobody to tell). */
  watchLive(metadataKey: string, workflowId: string, liveForMs: number): boolean;
  /** Receipts in a live window now. */
  liveCount(): number;
  /** Stops the live refreshes (shutdown). */
  close(): void;
}

/** States in which the receipt's secret can still be opened: nothing to report yet. */
const UNOPENED = new Set<Receipt['state']>(['new', 'viewed']);
const digest = (metadataKey: string) => createHash('sha256').update(metadataKey).digest('base64url');

export function createReceiptBatcher(opts: {
  ots: Pick<OtsClient, 'recent' | 'receipt'>;
  /** How old a recent list may be to answer a check, and how often it is fetched during a live window. Default 10 s. */
  maxAgeMs?: number;
  now?: () => number;
  /** A live receipt changed: tell its workflow (a receiptChanged signal). Errors are the caller's to swallow. */
  onChange?: (workflowId: string) => Promise<void>;
}): ReceiptBatcher {
  const maxAgeMs = opts.maxAgeMs ?? 10_000;
  const now = opts.now ?? Date.now;
  let snapshot: { at: number; byKey: Map<string, Receipt> } | undefined;
  let inflight: Promise<void> | undefined;
  /** Digest of a receipt key → whose it is and until when it is live. */
  const live = new Map<string, { workflowId: string; until: number }>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  /** When the last fetch started, whether or not it succeeded: the live refreshes keep their cadence through errors. */
  let lastAttemptAt = -Infinity;

  const refresh = (): Promise<void> => {
    // Coalesce: whoever comes while a fetch is under way waits for that one.
    inflight ??= (async () => {
      const startedAt = now();
      lastAttemptAt = startedAt;
      try {
        const list = await opts.ots.recent();
        snapshot = { at: startedAt, byKey: new Map(list.map((r) => [r.metadataKey, r])) };
        report(snapshot.byKey);
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  /**
   * Reports every live receipt the list shows opened, burned or expired, once. (One missing from the list is left
   * to the workflow's timers: the list may simply not reach back that far.)
   */
  const report = (byKey: Map<string, Receipt>) => {
    if (live.size === 0) return;
    for (const [key, r] of byKey) {
      if (UNOPENED.has(r.state)) continue;
      const d = digest(key);
      const w = live.get(d);
      if (!w) continue;
      live.delete(d);
      void opts.onChange?.(w.workflowId).catch(() => undefined);
    }
  };

  /** Keeps one timer while anything is live: the next refresh when the snapshot is due. */
  const schedule = () => {
    if (timer || closed) return;
    const t = now();
    for (const [d, w] of live) if (w.until <= t) live.delete(d);
    if (live.size === 0) return;
    // From the last fetch, answered or not: a failing list (an outage, a 429) is tried again a whole period later,
    // never in a loop; the workflows' timers stay the fallback meanwhile.
    const due = Math.max(0, Math.max(snapshot?.at ?? -Infinity, lastAttemptAt) + maxAgeMs - t);
    timer = setTimeout(() => {
      timer = undefined;
      const stale = !snapshot || now() - snapshot.at >= maxAgeMs;
      void (stale && now() - lastAttemptAt >= maxAgeMs ? refresh() : Promise.resolve())
        .catch(() => undefined)
        .finally(schedule);
    }, due);
    timer.unref();
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
    watchLive(metadataKey, workflowId, liveForMs) {
      if (!opts.onChange || !(liveForMs > 0) || closed) return false;
      live.set(digest(metadataKey), { workflowId, until: now() + liveForMs });
      schedule();
      return true;
    },
    liveCount: () => live.size,
    close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
