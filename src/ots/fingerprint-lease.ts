// Fleet-wide leases on create fingerprints: what makes a lost create's retry sure that the one receipt it finds is
// its own (src/ots/create-recovery.ts, step 2; docs/onetime-secret.md, "Creating exactly once").
//
// A lease on TTL `t` is a workflow with id `ots-fingerprint-<t>` (workflows/fingerprint-lease.ts) started with a
// start delay of the lease's length: running, but on no worker (no worker cache, no timer), until the delay is over
// and its one workflow task ends it. Temporal starts at most one running workflow per id, strongly consistent
// across every replica (a start with conflict policy FAIL is refused while one runs), and a closed one frees the id
// (reuse policy ALLOW_DUPLICATE), so taking a lease is one StartWorkflowExecution call and nothing else has to be
// kept anywhere. Its execution timeout ends it should no worker be left to run that task.
//
// Every send holds the lease on the exact TTL it sends: a send on a TTL someone else holds would land in the
// holder's window and break what the lease proves. A create that finds every one of its TTLs held waits (and, past
// LEASE_WAIT_MS, fails to be retried later); it never sends unleased.
//
// How long: a send starts within LEASE_SEND_WITHIN_MS of asking for its lease (else it asks again), lands at OTS
// within the request deadline, and OTS's clock may be CLOCK_SKEW_MS either side of ours; its `created` is floored
// to the second. Another send with the same TTL comes after this lease closed (or before it began), at least the
// lease's length away from this send's request. A lease of 2 x send-within + deadline + 2 x skew + 2 s keeps every
// such send out of this send's matching window, whichever way the clocks are off, measured from the send
// (its marker) or from the request (the lease's memo, for a retry that lost its marker): leaseMsFor.
// Capacity, per TTL asked, fleet-wide: a 24 h link has 863 TTLs, a 1 h link 35, a link under 1,000 s 8 or 9 (60 s
// links one), each leased 82 s at a time; a create waits once all 16 of its own are held.
//
// Which hand-off holds a lease is in its memo (`holder`, and `askedAt`): a retry whose marker never reached the
// server (SIGKILL before a throttled heartbeat went out) finds its own sends there.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { fingerprintLeaseWorkflowId } from '../../workflows/ids.js';
import { CLOCK_SKEW_MS } from './create-recovery.js';

/** A send must start this soon after its lease was asked for; later, it asks for another. */
export const LEASE_SEND_WITHIN_MS = 5_000;

/** How long a create waits for a free lease before its attempt fails (OTS_FINGERPRINT_BUSY, retried). */
export const LEASE_WAIT_MS = 15_000;

/** The lease that keeps other sends out of the window of a send that lands within `landWithinMs` (the deadline). */
export function leaseMsFor(landWithinMs: number): number {
  return 2 * LEASE_SEND_WITHIN_MS + landWithinMs + 2 * CLOCK_SKEW_MS + 2_000;
}

/** A lease taken: on which TTL, and when it was asked for (epoch ms: the send follows within LEASE_SEND_WITHIN_MS). */
export interface FingerprintLease {
  ttl: number;
  askedAt: number;
}

/** A lease just granted: also how long the grant took (monotonic ms), which the send must not exceed. */
export interface GrantedLease extends FingerprintLease {
  grantedInMs: number;
}

export interface FingerprintLeases {
  /**
   * Takes the first of `ttls` that no one holds, for `ms`, in `holder`'s name; undefined when all are held. Throws
   * when the leases cannot be reached (the attempt fails and is retried; nothing is sent unleased).
   */
  acquire(ttls: readonly number[], ms: number, holder: string): Promise<GrantedLease | undefined>;
  /** The latest lease on each of `ttls` that `holder` took, running or ended: where its sends may have landed. */
  heldBy(ttls: readonly number[], holder: string): Promise<FingerprintLease[]>;
}

/** Leases as Temporal workflows on `taskQueue` (the service's main queue, whose workers run fingerprintLease). */
export function temporalFingerprintLeases(client: Client, taskQueue: string): FingerprintLeases {
  return {
    async acquire(ttls, ms, holder) {
      for (const ttl of ttls) {
        const askedAt = Date.now();
        const t0 = performance.now();
        try {
          await client.workflow.start('fingerprintLease', {
            workflowId: fingerprintLeaseWorkflowId(ttl),
            taskQueue,
            args: [],
            startDelay: ms,
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: 'ALLOW_DUPLICATE',
            // Only a backstop: its first workflow task ends it after `ms`; with no worker left to run it, this does.
            workflowExecutionTimeout: ms + 60_000,
            // Encrypted like every payload (src/temporal/payload-codec.ts).
            memo: { holder, askedAt },
          });
          return { ttl, askedAt, grantedInMs: performance.now() - t0 };
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) continue;
          throw err;
        }
      }
      return undefined;
    },
    async heldBy(ttls, holder) {
      const found = await Promise.all(
        ttls.map(async (ttl) => {
          try {
            const { memo } = await client.workflow.getHandle(fingerprintLeaseWorkflowId(ttl)).describe();
            const m = memo as { holder?: unknown; askedAt?: unknown } | undefined;
            return m?.holder === holder && typeof m.askedAt === 'number' ? [{ ttl, askedAt: m.askedAt }] : [];
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) return [];
            throw err;
          }
        }),
      );
      return found.flat();
    },
  };
}
