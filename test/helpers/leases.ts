// Fingerprint leases for tests that run createSecret without Temporal: the rule of the real ones
// (src/ots/fingerprint-lease.ts, a running workflow per TTL) kept in one process's memory.
import type { FingerprintLeases } from '../../src/ots/fingerprint-lease.js';

export interface MemoryLeases extends FingerprintLeases {
  /** TTL -> when its lease ends (epoch ms). Tests take a lease by hand to play another replica. */
  held: Map<number, number>;
}

export function memoryLeases(): MemoryLeases {
  const held = new Map<number, number>();
  return {
    held,
    async acquire(ttls, ms) {
      for (const ttl of ttls) {
        const askedAt = Date.now();
        if ((held.get(ttl) ?? 0) > askedAt) continue;
        held.set(ttl, askedAt + ms);
        return { ttl, askedAt };
      }
      return undefined;
    },
  };
}
