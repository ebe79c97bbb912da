// X-Twilio-Signature: base64 HMAC-SHA1, keyed with the account auth token, of the full URL Twilio requested
// (query string included) followed by each POST parameter's name and value, sorted by name
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security; twilio-node lib/webhooks/webhooks.js).
//
// The URL is PUBLIC_BASE_URL + the request's own path and query, exactly. Never Host or X-Forwarded-*: behind a
// TLS-terminating proxy those describe the proxy hop, not what Twilio called, and they are the sender's to choose
// (twilio/twilio-node#924). twilio-node's validateRequest itself also accepts the URL with the scheme's default port
// added or removed; we try no other variant.
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';
import twilio from 'twilio';

type SignedParams = Record<string, string | string[]>;

/** The signature Twilio would send for a POST of `params` to `url` (signs the fake's callbacks and test requests). */
export function expectedTwilioSignature(authToken: string, url: string, params: Record<string, unknown>): string {
  return twilio.getExpectedTwilioSignature(authToken, url, params);
}

/** Constant-time check of one signature against one URL (validateRequest compares with crypto.timingSafeEqual). */
export function isValidTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: Record<string, unknown>,
): boolean {
  if (!signature) return false;
  try {
    return twilio.validateRequest(authToken, signature, url, params);
  } catch {
    return false; // validateRequest's fallback runs `new URL(url)`, which throws on a URL it cannot parse
  }
}

/**
 * The WebSocket upgrade of a Media Stream is a signed GET with no parameters, over the `wss://` URL exactly as
 * written in the TwiML (docs/twilio.md, "Webhook signatures"; twilio-labs/twilio-aspnet#162 for the https://
 * pitfall). `url` is that URL; `headers` are the upgrade request's.
 */
export function validateTwilioUpgrade(authToken: string, url: string, headers: IncomingHttpHeaders): boolean {
  const signature = headers['x-twilio-signature'];
  return typeof signature === 'string' && isValidTwilioSignature(authToken, signature, url, {});
}

/**
 * For Twilio webhook routes registered after `express.urlencoded({ extended: false })`: a missing or wrong
 * X-Twilio-Signature gets 403 and a short JSON error, never an echo of what was posted.
 */
export function twilioSignatureMiddleware(opts: {
  authToken: string;
  publicBaseUrl: string;
  onReject?: (info: { path: string; reason: string }) => void;
}): RequestHandler {
  const base = opts.publicBaseUrl.replace(/\/+$/, '');
  return (req, res, next) => {
    const signature = req.get('x-twilio-signature');
    // Every parameter Twilio posted takes part, none stripped or allowlisted: Twilio adds fields without notice
    // (https://www.twilio.com/docs/api/errors/57012). Without a form body (no parser, or not a form) there is none.
    const params: SignedParams = isFormBody(req.body) ? req.body : {};
    const reason = !signature
      ? 'missing X-Twilio-Signature'
      : isValidTwilioSignature(opts.authToken, signature, base + req.originalUrl, params)
        ? undefined
        : 'signature does not match';
    if (!reason) {
      next();
      return;
    }
    opts.onReject?.({ path: req.originalUrl.split('?')[0] ?? req.path, reason });
    res.status(403).json({ error: 'invalid Twilio signature' });
  };
}

/** express.urlencoded({ extended: false }) yields string values, or string arrays for repeated names. */
function isFormBody(body: unknown): body is SignedParams {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}
