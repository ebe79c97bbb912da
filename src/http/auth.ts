// Bearer auth for the agent API: 401 without a token, 403 with a wrong one (README.md, "The agent API").
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * A stable id for an agent token, recorded with each hand-off it starts (never the token itself): `agt_` and the
 * first 12 hex digits of the token's SHA-256, so an operator can find it with `printf %s "$TOKEN" | sha256sum`.
 */
export function tokenId(token: string): string {
  return `agt_${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

export type BearerCheck = { result: 'missing' } | { result: 'wrong' } | { result: 'ok'; token: string };

/** Checks an Authorization header against `tokens`, comparing digests so it is constant-time whatever the length. */
export function bearerChecker(tokens: readonly string[]): (authorization: string | undefined) => BearerCheck {
  const known = tokens.map(digest);
  return (authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return { result: 'missing' };
    const given = digest(m[1]!);
    return known.some((k) => timingSafeEqual(k, given)) ? { result: 'ok', token: m[1]! } : { result: 'wrong' };
  };
}

export function bearerAuth(tokens: readonly string[]): RequestHandler {
  const check = bearerChecker(tokens);
  return (req, res, next) => {
    const c = check(req.get('authorization'));
    if (c.result === 'missing') {
      res
        .status(401)
        .set('WWW-Authenticate', 'Bearer')
        .json({ error: 'missing bearer token (Authorization: Bearer <token>)' });
      return;
    }
    if (c.result === 'wrong') {
      res.status(403).json({ error: 'this token is not allowed' });
      return;
    }
    res.locals.token = c.token;
    res.locals.tokenId = tokenId(c.token);
    next();
  };
}
