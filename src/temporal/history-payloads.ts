// Every Payload of a workflow history, for looking at what Temporal stores: the tests check they are all
// ciphertext and decode them through the codec server; the benchmark times the codec over them.
import type { Payload } from '@temporalio/common';

/** Every Payload in a history, except search attributes (never encoded by Temporal's design, and never secret). */
export function payloadsIn(history: unknown): Payload[] {
  const out: Payload[] = [];
  const walk = (v: unknown, key: string) => {
    if (!v || typeof v !== 'object' || v instanceof Uint8Array || key === 'searchAttributes') return;
    if (Array.isArray(v)) return v.forEach((x) => walk(x, key));
    const o = v as Record<string, unknown>;
    if ((o.data instanceof Uint8Array || o.metadata) && !('events' in o) && isPayloadMetadata(o.metadata)) {
      out.push(o as Payload);
      return;
    }
    for (const [k, x] of Object.entries(o)) walk(x, k);
  };
  walk(history, '');
  return out;
}

function isPayloadMetadata(m: unknown): boolean {
  return !!m && typeof m === 'object' && Object.values(m).every((x) => x instanceof Uint8Array);
}
