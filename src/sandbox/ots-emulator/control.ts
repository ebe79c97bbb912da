// The emulator's control API, for fault tests against an emulator that runs as its own process
// (scripts/stack/ots-emulator.ts) and so cannot be reached as an object: inject a fault, release stalled answers,
// drop pending faults, read the counters and the stored secrets' metadata. Not part of Onetime Secret's API: it is
// mounted beside the emulator (at OTS_CONTROL_PATH), never under its prefix, and answers only a client on this
// machine, by peer address and by Host header (a DNS-rebinding page's requests carry its own name; src/loopback.ts).
// Nothing here answers a secret's value, passphrase or key: the tests open secrets through the OTS API, as a
// recipient would.
import express, { Router, type ErrorRequestHandler } from 'express';
import { describeIssues } from '../../http/schemas.js';
import { isLoopbackAddress, isLoopbackHostHeader } from '../../loopback.js';
import type { OtsEmulator } from '../ots-emulator.js';
import { injectedFaultSchema } from './faults.js';

/** Where the control API is mounted, beside the emulator's /sandbox/ots. */
export const OTS_CONTROL_PATH = '/_control';

/**
 * The routes, relative to where they are mounted (OTS_CONTROL_PATH):
 *   POST /faults        an InjectedFault as JSON (ots-emulator/faults.ts) → 201 { pendingFaults }; 400 naming the
 *                       field that is wrong
 *   POST /release       answers held back by `stall` faults are sent → { released }
 *   POST /clear-faults  faults not yet used up are dropped → { cleared }
 *   GET  /stats         OtsEmulatorStats (the same object as …/sandbox/ots/_stats)
 *   GET  /secrets       SecretListing[]: every stored receipt, oldest first, without values, passphrases or keys
 */
export function otsControlRouter(emulator: OtsEmulator): Router {
  const r = Router();
  r.use((req, res, next) => {
    // A page in a browser on this machine passes both checks with a simple POST (no preflight), so anything a
    // browser sends (an Origin, or Fetch metadata) is refused too: the control API is for programs only.
    const fromBrowser = req.get('origin') !== undefined || req.get('sec-fetch-site') !== undefined;
    if (isLoopbackAddress(req.socket.remoteAddress) && isLoopbackHostHeader(req.get('host')) && !fromBrowser)
      return next();
    res.status(403).json({
      error: 'the control API answers only programs on this machine (a loopback peer and Host, no browser)',
    });
  });
  r.post('/faults', express.json({ limit: '64kb' }), (req, res) => {
    if (!req.is('application/json')) {
      res.status(400).json({ error: 'send the fault as JSON (Content-Type: application/json)' });
      return;
    }
    const parsed = injectedFaultSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid fault', issues: describeIssues(parsed.error) });
      return;
    }
    emulator.injectFault(parsed.data);
    res.status(201).json({ pendingFaults: emulator.pendingFaults() });
  });
  r.post('/release', (_req, res) => {
    res.json({ released: emulator.releaseStalled() });
  });
  r.post('/clear-faults', (_req, res) => {
    res.json({ cleared: emulator.clearFaults() });
  });
  r.get('/stats', (_req, res) => {
    res.json(emulator.stats());
  });
  r.get('/secrets', (_req, res) => {
    res.json(emulator.listSecrets());
  });
  r.use((_req, res) => {
    res.status(404).json({
      error: 'no such control route: POST faults, release, clear-faults; GET stats, secrets',
    });
  });
  const bodyError: ErrorRequestHandler = (err: { status?: number }, _req, res, next) => {
    if (typeof err.status !== 'number' || err.status >= 500) return next(err);
    res.status(err.status).json({ error: err.status === 413 ? 'body too large' : 'body is not a JSON object' });
  };
  r.use(bodyError);
  return r;
}
