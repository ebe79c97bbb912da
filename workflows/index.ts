// The workflow bundle's entry point: every workflow the worker runs.
export { shareSecret } from './shareSecret.js';
export { callSession } from './callSession.js';
