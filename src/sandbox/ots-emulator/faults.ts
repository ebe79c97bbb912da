// The faults a test can inject into the emulator (createOtsEmulator's injectFault, in ../ots-emulator.ts): what they
// match and what they answer, and the schema the emulator's control API (control.ts) reads them with.
import { z } from 'zod';

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

const FAULT_OPERATIONS = Object.keys(OPERATIONS) as [FaultOperation, ...FaultOperation[]];

/**
 * An InjectedFault as JSON (the control API's POST /_control/faults): unknown fields are refused, so a misspelt one
 * is an error rather than a fault that silently does something else.
 */
export const injectedFaultSchema: z.ZodType<InjectedFault> = z
  .strictObject({
    method: z
      .string()
      .regex(/^[A-Za-z]+$/, 'is an HTTP method, e.g. POST')
      .optional(),
    path: z.string().startsWith('/', 'is a path under the mount point, e.g. /api/v2/secret/conceal').optional(),
    op: z.enum(FAULT_OPERATIONS).optional(),
    times: z.int().min(1).max(10_000).optional(),
    status: z.int().min(100).max(599).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.unknown().optional(),
    reset: z.literal(true).optional(),
    stall: z.strictObject({ ms: z.int().min(0).max(600_000).optional() }).optional(),
    garble: z.literal(true).optional(),
  })
  .superRefine((f, ctx) => {
    if (f.path === undefined && f.op === undefined)
      ctx.addIssue({ code: 'custom', path: ['op'], message: `give a path or an op (${FAULT_OPERATIONS.join(', ')})` });
    if (f.path !== undefined && f.op !== undefined)
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'give a path or an op, not both' });
    const kinds = (['reset', 'stall', 'garble'] as const).filter((k) => f[k] !== undefined);
    if (kinds.length > 1)
      ctx.addIssue({
        code: 'custom',
        path: [kinds[1]!],
        message: `is one kind of fault, ${kinds[0]} another: pick one`,
      });
    if (kinds.length > 0 && (f.status !== undefined || f.headers !== undefined || f.body !== undefined))
      ctx.addIssue({
        code: 'custom',
        path: [kinds[0]!],
        message: 'answers on its own: status, headers and body are only for a canned answer',
      });
  });
