// The codec server for Temporal UI and the temporal CLI: `POST /codec/decode` and `/codec/encode` with Temporal's
// remote codec protocol (body and answer: proto3 JSON of Payloads; docs/temporal.md, "Payload codec and codec
// server").
//
// Who may call it. Anyone who can call it can read every hand-off's history (minus the sealed fields), so:
//  - a request with an Origin outside CODEC_ALLOWED_ORIGINS is refused (403), and CORS echoes only listed origins;
//  - `Authorization: Bearer <one of CODEC_TOKENS>` is accepted from anywhere (the CLI's --codec-auth, or an
//    authenticating proxy in front of a remote UI);
//  - without a token, only when `localUi` is on (sandbox with the embedded dev server, or CODEC_LOCAL_UI=true):
//    the embedded UI sends no token and no cookie (docs/temporal.md, "Payload codec and codec server"), so a
//    browser on this machine is let in when the request has a listed Origin, a loopback peer, a loopback Host (an IP
//    literal or `localhost`, parsed: src/loopback.ts), and no sign of having been forwarded (a tunnel such as ngrok
//    or a local reverse proxy also connects from loopback). Every one of those is a header or an address a
//    non-browser client at the far end of a byte-forwarding tunnel (ssh -L, kubectl port-forward, ngrok tcp) can
//    present too: the path is for a machine nothing is forwarded to (README.md, "Confidentiality").
// X-Namespace, when given, must name the service's namespace: these keys decode that namespace only.
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON, type JSONPayload } from '@temporalio/common/lib/proto-utils.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isDirectLocalRequest } from '../loopback.js';
import { bearerChecker } from './auth.js';
import { describeIssues } from './schemas.js';

export interface CodecServerOptions {
  codec: PayloadCodec;
  namespace: string;
  /** Exact origins (scheme://host:port) of the Temporal UIs allowed to call from a browser. */
  allowedOrigins: readonly string[];
  /** Bearer tokens accepted from any peer. */
  tokens: readonly string[];
  /** Let a browser on this machine in without a token (the embedded UI). */
  localUi: boolean;
  log: Logger;
}

/** Largest request body: a workflow's whole history of payloads at once (Temporal caps one payload at 2 MB). */
export const CODEC_BODY_LIMIT = '8mb';

const base64 = z
  .string()
  .max(12_000_000)
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
const payloadsBody = z.object({
  payloads: z
    .array(z.object({ metadata: z.record(z.string().max(256), base64).optional(), data: base64.optional() }).strict())
    .max(10_000),
});

export interface CodecRequestFacts {
  authorization?: string;
  origin?: string;
  host?: string;
  peer?: string;
  headerNames: readonly string[];
}

/** The gate, as a pure function of the request: undefined lets it in. */
export function codecGate(
  facts: CodecRequestFacts,
  opts: { checkBearer: ReturnType<typeof bearerChecker>; localUi: boolean },
): { status: 401 | 403; error: string } | undefined {
  const bearer = opts.checkBearer(facts.authorization);
  if (bearer.result === 'ok') return undefined;
  if (bearer.result === 'wrong') return { status: 403, error: 'this token is not allowed' };
  // Host must be an IP literal of this machine or `localhost` exactly (src/loopback.ts): a DNS-rebinding page's
  // requests carry its own name (127.attacker.example, 127.0.0.1.nip.io, localhost.evil.com), and are refused.
  const local = opts.localUi && facts.origin !== undefined && isDirectLocalRequest(facts);
  if (local) return undefined;
  return { status: 401, error: 'missing bearer token (Authorization: Bearer <one of CODEC_TOKENS>)' };
}

export function codecRouter(opts: CodecServerOptions): Router {
  const origins = new Set(opts.allowedOrigins);
  const checkBearer = bearerChecker(opts.tokens);
  const log = opts.log.child({ component: 'codec' });
  const r = Router();
  const paths = ['/codec/encode', '/codec/decode'];

  // CORS: only for listed origins; every answer varies by Origin.
  r.use(paths, (req, res, next) => {
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin !== undefined && !origins.has(origin)) {
      log.warn({ path: req.path }, 'codec request from an origin that is not allowed');
      res.status(403).json({ error: 'this origin may not use the codec server (CODEC_ALLOWED_ORIGINS)' });
      return;
    }
    if (origin !== undefined) res.set('Access-Control-Allow-Origin', origin);
    next();
  });

  r.options(paths, (_req, res) => {
    res
      .set('Access-Control-Allow-Methods', 'POST')
      .set('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization')
      .set('Access-Control-Max-Age', '600')
      .status(204)
      .end();
  });

  // Authorise before the body is read: nobody without access gets an 8 MB JSON parse out of us.
  const authorize = (req: Request, res: Response, next: NextFunction) => {
    const denied = codecGate(
      {
        authorization: req.get('authorization'),
        origin: req.get('origin'),
        host: req.get('host'),
        peer: req.socket.remoteAddress,
        headerNames: Object.keys(req.headers),
      },
      { checkBearer, localUi: opts.localUi },
    );
    if (!denied) return next();
    log.warn({ path: req.path, status: denied.status }, 'codec request refused');
    res.status(denied.status).json({ error: denied.error });
  };

  r.post(paths, authorize, express.json({ limit: CODEC_BODY_LIMIT, type: () => true }), async (req, res) => {
    // The UI always names the namespace; the temporal CLI 1.5 sends the header empty unless --namespace is given.
    const namespace = req.get('x-namespace') || opts.namespace;
    if (namespace !== opts.namespace) {
      res.status(403).json({ error: 'this codec server serves another namespace' });
      return;
    }
    const parsed = payloadsBody.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid payloads', issues: describeIssues(parsed.error).slice(0, 5) });
      return;
    }
    const op = req.path.endsWith('/encode') ? 'encode' : 'decode';
    let payloads: Payload[];
    try {
      payloads = parsed.data.payloads.map((p) => JSONToPayload(p as JSONPayload));
    } catch {
      res.status(400).json({ error: 'invalid payloads' });
      return;
    }
    try {
      const out = op === 'encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
      log.debug({ op, namespace, count: payloads.length }, 'codec request');
      res.json({ payloads: out.map(payloadToJSON) });
    } catch (err) {
      // Codec errors name a key id or say "does not decrypt"; never payload bytes.
      log.warn({ op, err: { message: (err as Error).message } }, 'codec request failed');
      res.status(400).json({ error: (err as Error).message });
    }
  });
  return r;
}
