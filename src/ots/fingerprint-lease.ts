// Fleet-wide leases on create fingerprints: what makes a lost create's retry sure that the one receipt it finds is
// its own (src/ots/create-recovery.ts, step 2; docs/onetime-secret.md, "Creating exactly once").
//
// A lease on TTL `t` is a running workflow with id `ots-fingerprint-<t>` (workflows/fingerprint-lease.ts) that
// sleeps for the lease's length. Temporal starts at most one running workflow per id, strongly consistent across
// every replica (a start with conflict policy FAIL is refused while one runs), and a closed one frees the id
// (reuse policy ALLOW_DUPLICATE), so taking a lease is one StartWorkflowExecution call and nothing else has to be
// kept anywhere. A run's execution timeout bounds it should no worker be left to run its timer.
//
// How long: a send made within LEASE_SEND_WITHIN_MS of taking the lease lands at OTS within the request deadline,
// and OTS's clock may be CLOCK_SKEW_MS either side of ours; its `created` is floored to the second. A lease of
// send-within + deadline + 2 x skew + 2 s keeps every other send with the same TTL (before it or after it, each
// under its own lease) out of this send's matching window, whichever way the clocks are off (leaseMsFor).
// Capacity: a TTL has up to 863 offsets (24 h; a 1 h TTL has 35), each leased ~77 s at a time, so up to ~11 creates
// a second fleet-wide on 24 h links and ~0.45 on 1 h links hold a lease; beyond that a create is sent without one
// (still created once; only a lost answer then pauses for a technician instead of being recovered).
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { fingerprintLeaseWorkflowId } from '../../workflows/ids.js';
import { CLOCK_SKEW_MS } from './create-recovery.js';

/** A send must start this soon after its lease was asked for, or it goes without one. */
export const LEASE_SEND_WITHIN_MS = 5_000;

/** The lease that keeps other sends out of the window of a send that lands within `landWithinMs` (the deadline). */
export function leaseMsFor(landWithinMs: number): number {
  return LEASE_SEND_WITHIN_MS + landWithinMs + 2 * CLOCK_SKEW_MS + 2_000;
}

/** A lease taken: on which TTL, and when it was asked for (epoch ms: it holds from no earlier than that). */
export interface FingerprintLease {
  ttl: number;
  askedAt: number;
}

export interface FingerprintLeases {
  /**
   * Takes the first of `ttls` that no one holds, for `ms`; undefined when all are held. Throws when the leases
   * cannot be reached (the create then waits for a retry rather than send unleased).
   */
  acquire(ttls: readonly number[], ms: number): Promise<FingerprintLease | undefined>;
}

/** Leases as Temporal workflows on `taskQueue` (the service's main queue, whose workers run fingerprintLease). */
export function temporalFingerprintLeases(client: Client, taskQueue: string): FingerprintLeases {
  return {
    async acquire(ttls, ms) {
      for (const ttl of ttls) {
        const askedAt = Date.now();
        try {
          await client.workflow.start('fingerprintLease', {
            workflowId: fingerprintLeaseWorkflowId(ttl),
            taskQueue,
            args: [ms],
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: 'ALLOW_DUPLICATE',
            // Only a backstop: the timer ends it after `ms`; with no worker left to run it, this does.
            workflowExecutionTimeout: ms + 60_000,
          });
          return { ttl, askedAt };
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) continue;
          throw err;
        }
      }
      return undefined;
    },
  };
}
