// Bearer auth for the agent API: 401 without a token, 403 with a wrong one (DESIGN.md "HTTP contract").
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function bearerAuth(tokens: readonly string[]): RequestHandler {
  const known = tokens.map(digest);
  return (req, res, next) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (!m) {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'missing bearer token (Authorization: Bearer <token>)' });
      return;
    }
    // Compare digests so the comparison is constant-time whatever the token's length.
    const given = digest(m[1]!);
    if (!known.some((k) => timingSafeEqual(k, given))) {
      res.status(403).json({ error: 'this token is not allowed' });
      return;
    }
    res.locals.token = m[1];
    next();
  };
}
