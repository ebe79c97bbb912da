// The faults a test can inject into the emulator (createOtsEmulator's injectFault, in ../ots-emulator.ts): what they
// match and what they answer.

/**
 * What the service's client does, on whichever API version it speaks: a fault aimed at one hits the routes of both
 * (a test of an outage then holds on v1 and v2 alike). Aliases included.
 */
export const OPERATIONS = {
  create: /^\/api\/(v1\/(share|create|generate)|v2\/secret\/(conceal|generate))$/,
  recent: /^\/api\/(v1\/(private|receipt|metadata)|v2\/(receipt|private))\/recent$/,
  receipt: /^\/api\/(v1\/(private|receipt|metadata)|v2\/(receipt|private))\/(?!recent$)[^/]+$/,
  burn: /^\/api\/(v1\/(private|receipt|metadata)|v2\/(receipt|private))\/[^/]+\/burn$/,
} as const;
export type FaultOperation = keyof typeof OPERATIONS;

export interface InjectedFault {
  /** Any method when omitted. */
  method?: string;
  /** Path under the mount point, e.g. /api/v1/share or /api/v2/secret/conceal; or `op`. */
  path?: string;
  /** Instead of `path`: every route of this operation on either version (OPERATIONS). */
  op?: FaultOperation;
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** The canned answer's status (unless `reset` or `stall`). */
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Drop the connection without answering, before the request is handled (a connection reset). */
  reset?: true;
  /**
   * Handle the request normally (a create does create the secret) but hold its answer back: for `ms`, or until
   * releaseStalled(). The client times out or its process dies while the server has done the work: the ambiguous
   * failure a retried create must not turn into a second secret.
   */
  stall?: { ms?: number };
  /** Handle the request normally, then answer 200 with its JSON cut in half (a proxy truncating the body). */
  garble?: true;
}
