// The lease on one create fingerprint (src/ots/fingerprint-lease.ts): a workflow whose id names the fingerprint and
// that runs for the lease's length. While it runs, Temporal refuses another workflow with that id, which is what
// makes the fingerprint one hand-off's own across the fleet. It does nothing else: no activity, no state.
import { sleep } from '@temporalio/workflow';

export async function fingerprintLease(ms: number): Promise<void> {
  await sleep(ms);
}
