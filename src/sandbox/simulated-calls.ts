// The sandbox's call simulator routes: POST /sandbox/calls places a simulated Twilio call against this service,
// GET /sandbox/calls/:callSid shows what the caller heard and pressed. Sandbox mode only.
//
// CONFIDENTIALITY: the GET answer's `heard` and `wroteDown` spell the passphrase, by design (the simulated caller is
// the person on the phone). Mount these routes only in sandbox mode, behind the same auth rule as the outbox, and
// never log a snapshot. Leak scans of a sandbox run must treat this route like the caller's ear, not like a leak.
import express, { Router } from 'express';
import { z } from 'zod';
import { describeIssues } from '../http/schemas.js';
import {
  callerScriptSchema,
  placeSimulatedCall,
  SimulatedCallError,
  type SimulatedCall,
  type SimulatedCallOptions,
  type SimulatedCallSnapshot,
} from './simulated-caller.js';

const E164 = /^\+[1-9]\d{1,14}$/;

/** Body of POST /sandbox/calls. */
export const placeCallRequestSchema = z
  .object({
    from: z.string().regex(E164, 'from is an E.164 number').optional(),
    to: z.string().regex(E164, 'to is an E.164 number').optional(),
    /** The voice webhook path and query, e.g. "/twilio/voice?returnUrl=…" for a hand-over from an agent. */
    voicePath: z
      .string()
      .regex(/^\/twilio\/voice(\?.*)?$/, 'voicePath is /twilio/voice, optionally with a query string')
      .optional(),
    script: callerScriptSchema.optional(),
    maxDurationMs: z.number().int().min(1000).max(3_600_000).optional(),
  })
  .strict();

export type PlaceCallRequest = z.infer<typeof placeCallRequestSchema>;

export interface SimulatedCallsOptions extends Pick<
  SimulatedCallOptions,
  'accountSid' | 'authToken' | 'clips' | 'callerClips' | 'statusCallbackPath' | 'returnUrlBases'
> {
  /** The service's PUBLIC_BASE_URL and where it really listens; functions because the port may be known late. */
  publicBaseUrl: () => string;
  localBaseUrl: () => string;
  /** Calls kept for GET (oldest ended ones are forgotten first). Default 100. */
  maxCalls?: number;
}

export interface SimulatedCalls {
  place(req: PlaceCallRequest): SimulatedCall;
  get(callSid: string): SimulatedCallSnapshot | undefined;
  /** Hangs up every live call (shutdown). */
  closeAll(): Promise<void>;
  /** POST /sandbox/calls (JSON body) and GET /sandbox/calls/:callSid. */
  router: Router;
}

export function createSimulatedCalls(opts: SimulatedCallsOptions): SimulatedCalls {
  const calls = new Map<string, SimulatedCall>();
  const maxCalls = opts.maxCalls ?? 100;

  const forgetOld = () => {
    for (const [sid, call] of calls) {
      if (calls.size < maxCalls) return;
      const s = call.snapshot().status;
      if (s === 'completed' || s === 'failed') calls.delete(sid);
    }
  };

  const place = (req: PlaceCallRequest): SimulatedCall => {
    forgetOld();
    if (calls.size >= maxCalls)
      throw new SimulatedCallError(`too many live simulated calls (${maxCalls}); hang some up first`);
    const call = placeSimulatedCall({
      accountSid: opts.accountSid,
      authToken: opts.authToken,
      clips: opts.clips,
      ...(opts.callerClips ? { callerClips: opts.callerClips } : {}),
      ...(opts.statusCallbackPath !== undefined ? { statusCallbackPath: opts.statusCallbackPath } : {}),
      ...(opts.returnUrlBases ? { returnUrlBases: opts.returnUrlBases } : {}),
      publicBaseUrl: opts.publicBaseUrl(),
      localBaseUrl: opts.localBaseUrl(),
      ...req,
    });
    calls.set(call.callSid, call);
    return call;
  };

  const router = Router();
  router.post('/sandbox/calls', express.json({ limit: '16kb' }), (req, res) => {
    const parsed = placeCallRequestSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid call request', issues: describeIssues(parsed.error) });
      return;
    }
    try {
      const call = place(parsed.data);
      res.status(201).json({ callSid: call.callSid, status: call.snapshot().status });
    } catch (err) {
      if (err instanceof SimulatedCallError) res.status(400).json({ error: err.message });
      else throw err;
    }
  });
  router.get('/sandbox/calls/:callSid', (req, res) => {
    const call = calls.get(req.params.callSid);
    if (!call) {
      res.status(404).json({ error: 'no simulated call with that CallSid' });
      return;
    }
    res.json(call.snapshot());
  });

  return {
    place,
    get: (callSid) => calls.get(callSid)?.snapshot(),
    async closeAll() {
      await Promise.all([...calls.values()].map((c) => c.hangup()));
    },
    router,
  };
}
