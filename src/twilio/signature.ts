// X-Twilio-Signature: base64 HMAC of the full URL Twilio requested (query string included) followed by each POST
// parameter's name and value, sorted by name (https://www.twilio.com/docs/usage/webhooks/webhooks-security;
// twilio-node lib/webhooks/webhooks.js). Twilio keys the HMAC one of two ways:
//
// - Auth token (the default): HMAC-SHA1 keyed with the account auth token, and no other header.
// - Shared key: when a Webhook Rule matches the URL, Twilio signs with the SharedKey and algorithm of the rule's
//   Webhook Setting instead, and says so in `X-Twilio-Webhooks-Signature-Settings: key=<key id>,algorithm=<alg>`,
//   `<alg>` HMAC_SHA1 or HMAC_SHA256 (https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys). The signed
//   string is the same; only the key and the hash change.
//
// twilio-node (6.3 and later) reads the algorithm from that header (getSignatureAlgorithm: a missing header, or one
// without `algorithm=`, means HMAC_SHA1) and validates with validateRequest(secret, …, algorithm); its own
// webhook() middleware takes one `sharedKeySecret` and uses it whatever key the header names. We hold several
// (TWILIO_WEBHOOK_KEYS, to rotate without downtime), so the secret is picked by the header's `key=`: a key id we do
// not hold is refused, never tried against the other keys or the auth token. A request without the header is
// checked against the auth token, exactly as before. Which mode applies is Twilio's choice per URL (a Rule matches
// some URLs and not others), so both are always accepted.
//
// The URL is PUBLIC_BASE_URL + the request's own path and query, exactly. Never Host or X-Forwarded-*: behind a
// TLS-terminating proxy those describe the proxy hop, not what Twilio called, and they are the sender's to choose
// (twilio/twilio-node#924). twilio-node's validateRequest itself also accepts the URL with the scheme's default port
// added or removed; we try no other variant.
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';
import twilio from 'twilio';
import type { TwilioWebhookKey } from './webhook-keys.js';

type SignedParams = Record<string, string | string[]>;

/** `X-Twilio-Webhooks-Signature-Settings`, the header of a webhook signed with a SharedKey. */
export const SIGNATURE_SETTINGS_HEADER = twilio.SIGNATURE_SETTINGS_HEADER;
/** The algorithms twilio-node validates (lib/webhooks/webhooks.js toHashName, case-insensitive). */
const ALGORITHMS = new Set<string>([twilio.HMAC_SHA1, twilio.HMAC_SHA256]);

/** What our webhooks may be signed with: the account auth token, and the SharedKeys in TWILIO_WEBHOOK_KEYS. */
export interface TwilioSigning {
  authToken: string;
  sharedKeys?: readonly TwilioWebhookKey[];
}

/**
 * The outcome of one check. `keyId` is the SharedKey the request named (not a secret; logged so an operator can see
 * which key to add), cut to 100 printable characters since the sender chooses it.
 */
export type SignatureCheck = { ok: true; keyId?: string } | { ok: false; reason: string; keyId?: string };

/**
 * The signature Twilio would send for a POST of `params` to `url`: keyed with the auth token (HMAC_SHA1, the
 * default) or a SharedKey secret with its algorithm. Signs the sandbox's callbacks.
 */
export function expectedTwilioSignature(
  secret: string,
  url: string,
  params: Record<string, unknown>,
  algorithm?: string,
): string {
  return twilio.getExpectedTwilioSignature(secret, url, params, algorithm);
}

/** The `key=` of an X-Twilio-Webhooks-Signature-Settings value, parsed as twilio-node parses its `algorithm=`. */
export function signatureSettingsKeyId(settings: string): string | undefined {
  for (const part of settings.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === 'key') {
      const id = part.slice(eq + 1).trim();
      if (id) return id;
    }
  }
  return undefined;
}

/**
 * Checks one request's signature against `url` and `params`: with the SharedKey its settings header names, or with
 * the auth token when it has none. Constant-time (validateRequest compares with crypto.timingSafeEqual).
 */
export function checkTwilioSignature(
  signing: TwilioSigning,
  url: string,
  params: Record<string, unknown>,
  headers: { signature?: string; settings?: string },
): SignatureCheck {
  const { signature, settings } = headers;
  if (!signature) return { ok: false, reason: 'missing X-Twilio-Signature' };
  // As twilio-node's webhook(): an empty header is no header.
  if (!settings) {
    return validates(signing.authToken, signature, url, params)
      ? { ok: true }
      : { ok: false, reason: 'signature does not match' };
  }
  const rawId = signatureSettingsKeyId(settings);
  if (rawId === undefined) return { ok: false, reason: `no key id in ${SIGNATURE_SETTINGS_HEADER}` };
  const keyId = printable(rawId);
  const key = signing.sharedKeys?.find((k) => k.id === rawId);
  if (!key) return { ok: false, reason: 'shared key not in TWILIO_WEBHOOK_KEYS', keyId };
  const algorithm = twilio.getSignatureAlgorithm(settings);
  // Checked here, not left to validateRequest, which would console.warn the sender's text past our logger.
  if (!ALGORITHMS.has(algorithm.toUpperCase())) return { ok: false, reason: 'unsupported signature algorithm', keyId };
  return validates(key.secret, signature, url, params, algorithm)
    ? { ok: true, keyId }
    : { ok: false, reason: 'signature does not match', keyId };
}

function validates(
  secret: string,
  signature: string,
  url: string,
  params: Record<string, unknown>,
  algorithm?: string,
): boolean {
  try {
    return twilio.validateRequest(secret, signature, url, params, algorithm);
  } catch {
    return false; // validateRequest's fallback runs `new URL(url)`, which throws on a URL it cannot parse
  }
}

function printable(s: string): string {
  return s.slice(0, 100).replace(/[^\x20-\x7e]/g, '?');
}

/** The first value of a header Node may give as a list. */
function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The WebSocket upgrade of a Media Stream is a signed GET with no parameters, over the `wss://` URL exactly as
 * written in the TwiML (docs/twilio.md, "Webhook signatures"; twilio-labs/twilio-aspnet#162 for the https://
 * pitfall). `url` is that URL; `headers` are the upgrade request's. Either signing mode, as for the webhooks.
 */
export function checkTwilioUpgrade(signing: TwilioSigning, url: string, headers: IncomingHttpHeaders): SignatureCheck {
  return checkTwilioSignature(
    signing,
    url,
    {},
    {
      signature: one(headers['x-twilio-signature']),
      settings: one(headers[SIGNATURE_SETTINGS_HEADER.toLowerCase()]),
    },
  );
}

/**
 * For Twilio webhook routes registered after `express.urlencoded({ extended: false })`: a missing or wrong
 * signature gets 403 and a short JSON error, never an echo of what was posted.
 */
export function twilioSignatureMiddleware(
  opts: TwilioSigning & {
    publicBaseUrl: string;
    onReject?: (info: { path: string; reason: string; keyId?: string }) => void;
  },
): RequestHandler {
  const base = opts.publicBaseUrl.replace(/\/+$/, '');
  return (req, res, next) => {
    // Every parameter Twilio posted takes part, none stripped or allowlisted: Twilio adds fields without notice
    // (https://www.twilio.com/docs/api/errors/57012). Without a form body (no parser, or not a form) there is none.
    const params: SignedParams = isFormBody(req.body) ? req.body : {};
    const check = checkTwilioSignature(opts, base + req.originalUrl, params, {
      signature: req.get('x-twilio-signature'),
      settings: req.get(SIGNATURE_SETTINGS_HEADER),
    });
    if (check.ok) {
      next();
      return;
    }
    opts.onReject?.({ path: req.originalUrl.split('?')[0] ?? req.path, reason: check.reason, keyId: check.keyId });
    res.status(403).json({ error: 'invalid Twilio signature' });
  };
}

/** express.urlencoded({ extended: false }) yields string values, or string arrays for repeated names. */
function isFormBody(body: unknown): body is SignedParams {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}
