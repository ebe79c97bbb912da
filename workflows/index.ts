// The workflow bundle's entry point: every workflow the worker runs.
export { shareSecret } from './share-secret.js';
export { callSession } from './call-session.js';
export { fingerprintLease } from './fingerprint-lease.js';
