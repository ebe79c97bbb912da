// Defence in depth for the media-stream WebSocket (docs/twilio.md, "Media streams"): besides Twilio's signature on
// the upgrade, the TwiML's <Parameter> carries a token bound to the CallSid, checked on the stream's `start`. Twilio
// logs <Parameter> values with the call for 30 days (https://www.twilio.com/docs/voice/api/call-event-resource), so
// the token carries no secret: it is an HMAC of the CallSid and an expiry under a key only this service holds,
// short-lived, and the media server accepts each one once.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The <Parameter name> the TwiML must use for the token. */
export const CALL_TOKEN_PARAMETER = 'callToken';
/** Long enough for Twilio to fetch the TwiML and open the stream, short enough to be worthless in Twilio's logs. */
export const CALL_TOKEN_TTL_MS = 10 * 60 * 1000;

const FORMAT = /^v1\.([0-9a-z]{1,11})\.([A-Za-z0-9_-]{22})$/;

/** "v1.<expiry, base-36 seconds>.<22 chars of HMAC-SHA256>": about 34 characters. */
export function callToken(key: Buffer, callSid: string, opts: { now?: number; ttlMs?: number } = {}): string {
  const exp = Math.ceil(((opts.now ?? Date.now()) + (opts.ttlMs ?? CALL_TOKEN_TTL_MS)) / 1000).toString(36);
  return `v1.${exp}.${mac(key, callSid, exp).toString('base64url')}`;
}

/** True when `token` was made with `key` for this CallSid and has not expired. Never throws. */
export function verifyCallToken(key: Buffer, callSid: string, token: unknown, opts: { now?: number } = {}): boolean {
  if (typeof token !== 'string') return false;
  const m = FORMAT.exec(token);
  if (!m) return false;
  const [, exp, given] = m as unknown as [string, string, string];
  if (parseInt(exp, 36) * 1000 <= (opts.now ?? Date.now())) return false;
  const expected = mac(key, callSid, exp);
  const actual = Buffer.from(given, 'base64url');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Expiry of a well-formed token in ms since the epoch (for forgetting used tokens), else undefined. */
export function callTokenExpiry(token: string): number | undefined {
  const m = FORMAT.exec(token);
  return m ? parseInt(m[1]!, 36) * 1000 : undefined;
}

function mac(key: Buffer, callSid: string, exp: string): Buffer {
  // Domain-separated so the key could never sign anything else by accident; 128 bits is plenty for a 10-minute token.
  return createHmac('sha256', key).update(`ots-handoff media-stream\0${callSid}\0${exp}`).digest().subarray(0, 16);
}
