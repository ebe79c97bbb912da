// Fingerprint leases for tests that run createSecret without Temporal: the rules of the real ones
// (src/ots/fingerprint-lease.ts, a running workflow per TTL whose memo names its holder) kept in one process's memory.
import type { FingerprintLease, FingerprintLeases } from '../../src/ots/fingerprint-lease.js';

export interface MemoryLeases extends FingerprintLeases {
  /** TTL -> the latest lease on it: when it ends (epoch ms), who took it, when. Tests set it to play another replica. */
  held: Map<number, { until: number; holder: string; askedAt: number }>;
}

export function memoryLeases(): MemoryLeases {
  const held: MemoryLeases['held'] = new Map();
  return {
    held,
    async acquire(ttls, ms, holder) {
      for (const ttl of ttls) {
        const askedAt = Date.now();
        if ((held.get(ttl)?.until ?? 0) > askedAt) continue;
        held.set(ttl, { until: askedAt + ms, holder, askedAt });
        return { ttl, askedAt, grantedInMs: 0 };
      }
      return undefined;
    },
    async heldBy(ttls, holder) {
      const out: FingerprintLease[] = [];
      for (const ttl of ttls) {
        const l = held.get(ttl);
        if (l?.holder === holder) out.push({ ttl, askedAt: l.askedAt });
      }
      return out;
    },
  };
}
