// The lease on one create fingerprint (src/ots/fingerprint-lease.ts): a workflow whose id names the fingerprint,
// started with a start delay of the lease's length. Until the delay is over it is running (Temporal refuses another
// workflow with that id, which is what makes the fingerprint one hand-off's own across the fleet) without being on
// any worker, so thousands of leases cost no worker memory; then its one workflow task ends it.
export async function fingerprintLease(): Promise<void> {
  // Nothing to do: the lease is the time before this runs.
}
