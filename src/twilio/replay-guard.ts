// Replayed Twilio webhooks. X-Twilio-Signature covers the URL and the posted parameters but no timestamp or nonce
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security), so a captured request stays validly signed
// forever. For one signing key (the auth token, or a SharedKey of TWILIO_WEBHOOK_KEYS with its algorithm) the
// signature identifies (URL, parameters) exactly, so a signature seen before is the same request again, in either
// signing mode: refused with 403. (I-Twilio-Idempotency-Token is no help: it is not signed, and a
// replayer can drop or change it.)
//
// A signature is remembered only once the request was handled: one that failed with a 5xx (Temporal down) is
// forgotten, so Twilio's own retry of it still gets through. Memory is bounded: entries live `ttlMs` (default one
// hour) and at most `max` are kept, oldest dropped first. An older replay, or one sent to another instance, is
// accepted: a status callback that arrives again changes nothing (the workflow ranks statuses), so this is defence
// in depth, not the only guard.
import type { RequestHandler } from 'express';

export interface ReplayGuardOptions {
  ttlMs?: number;
  max?: number;
  now?: () => number;
  onReject?: (info: { path: string }) => void;
}

export function twilioReplayGuard(opts: ReplayGuardOptions = {}): RequestHandler {
  const ttlMs = opts.ttlMs ?? 3_600_000;
  const max = opts.max ?? 50_000;
  const now = opts.now ?? Date.now;
  // Insertion order is age order: the first entries are the oldest.
  const seen = new Map<string, number>();

  const prune = () => {
    const t = now();
    for (const [sig, at] of seen) {
      if (t - at < ttlMs && seen.size <= max) break;
      seen.delete(sig);
    }
  };

  return (req, res, next) => {
    // Runs after the signature check, so the header is present and valid here.
    const signature = req.get('x-twilio-signature') ?? '';
    prune();
    if (seen.has(signature)) {
      opts.onReject?.({ path: req.originalUrl.split('?')[0] ?? req.path });
      res.status(403).json({ error: 'replayed Twilio request' });
      return;
    }
    seen.set(signature, now());
    res.on('finish', () => {
      if (res.statusCode >= 500) seen.delete(signature);
    });
    next();
  };
}
