// Secret creation, shared by v1 (POST /share, /create, /generate) and v2 (POST /secret/conceal, /secret/generate).
// The two versions read their parameters differently and check them in a different order, and each renders the
// same failure its own way, so this returns the failure as the server's exception class would carry it.
//   v1: onetimesecret/onetimesecret apps/api/v1/logic/secrets/{base_secret_action,conceal_secret,generate_secret}.rb
//   v2: onetimesecret/onetimesecret apps/api/v2/logic/secrets/{base_secret_action,conceal_secret,generate_secret}.rb
import { randomInt } from 'node:crypto';
import type { Request } from 'express';
import { isOtsRecipient } from '../../ots/recipient.js';
import {
  type Ctx,
  DEFAULT_TTL,
  GENERATE_LENGTH,
  GENERATE_MAX,
  MAX_SECRET_BYTES,
  MAX_TTL,
  MAX_TTL_ANONYMOUS,
  MIN_TTL,
  PASSPHRASE_MAX,
  PASSPHRASE_MIN,
} from './context.js';
import {
  flattenList,
  isPublicDomain,
  type Param,
  type Params,
  rbToI,
  rbToS,
  sanitizeEmail,
  sanitizePlainText,
} from './params.js';
import { hashPassphrase, newKey, obscureEmail, type StoredReceipt, type StoredSecret } from './store.js';

/** The server exception a failed create raises, which each version renders its own way. */
export class CreateError extends Error {
  constructor(
    /** FormError (v1: 404 + intended 400; v2: 422), Unauthorized (v2: 401), Forbidden (v2: 403), or anything else. */
    readonly kind: 'form' | 'unauthorized' | 'forbidden' | 'unexpected',
    message: string,
    readonly extra: { field?: string; errorType?: string; errorKey?: string } = {},
  ) {
    super(message);
  }
}

export interface Caller {
  /** undefined: anonymous. */
  username?: string;
  objid?: string;
}

/** v2's safety bound on any TTL (WithEntitlements::MAX_TTL); an authenticated standalone account has no lower one. */
const MAX_TTL_V2 = 365 * 86_400;
// Onetime::Utils.strand's default sets without the ambiguous characters (lib/onetime/utils.rb). The server draws
// from a larger symbol set and guarantees one character of each set; the emulator does not.
const GENERATE_ALPHABET = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789*$%&!@#';

const chars = (s: string) => [...s].length;

export interface Created {
  receipt: StoredReceipt;
  secret: StoredSecret;
  kind: 'conceal' | 'generate';
  recipients: string[];
  shareDomain: string | null;
}

export async function createSecret(
  ctx: Ctx,
  req: Request,
  version: 'v1' | 'v2',
  kind: 'conceal' | 'generate',
  who: Caller,
  params: Params,
): Promise<Created> {
  const anonymous = who.username === undefined;

  // ---- process_params (in the logic's constructor: before any check in raise_concerns) ----
  let payload: Params;
  if (version === 'v1')
    payload = params; // flat params
  else {
    const nested = params.secret ?? {};
    if (typeof nested === 'string') throw new CreateError('form', 'Incorrect payload format');
    if (typeof nested !== 'object' || nested === null || Array.isArray(nested))
      throw new CreateError('unexpected', 'payload is not a Hash');
    payload = nested;
  }

  // process_ttl: missing (or null) → the default; otherwise `.to_i`, so "" and "abc" are 0, raised to the minimum.
  const asked = payload.ttl === undefined || payload.ttl === null ? DEFAULT_TTL : toI(payload.ttl);
  let ttl: number;
  if (version === 'v1')
    ttl = Math.min(Math.max(asked, MIN_TTL), Math.min(MAX_TTL, anonymous ? MAX_TTL_ANONYMOUS : MAX_TTL));
  else ttl = Math.min(Math.max(Math.min(asked, MAX_TTL_V2), MIN_TTL), anonymous ? MAX_TTL_ANONYMOUS : Infinity);

  // process_secret
  let value: Param | undefined;
  if (kind === 'conceal') value = payload.secret;
  else {
    const length = payload.length === undefined || payload.length === null ? GENERATE_LENGTH : toI(payload.length);
    if (length > GENERATE_MAX)
      throw new CreateError('form', `Generated password length must be no more than ${GENERATE_MAX} characters`, {
        field: 'length',
      });
    if (length <= 0) throw new CreateError('unexpected', 'Length must be positive'); // Onetime::Utils.strand
    value = Array.from({ length }, () => GENERATE_ALPHABET[randomInt(GENERATE_ALPHABET.length)]).join('');
  }

  // process_passphrase: v1 always `to_s`; v2 only when the key is present (an empty one means none either way).
  const passphrase = version === 'v1' || 'passphrase' in payload ? rbToS(payload.passphrase) : '';

  // process_recipient: `[recipient].flatten.compact.uniq`, empties dropped, sanitized (not validated).
  const recipients = [
    ...new Set(
      flattenList(payload.recipient)
        .filter((x) => rbToS(x) !== '')
        .map(sanitizeEmail),
    ),
  ];

  // process_share_domain: not a public domain name, or the site's own host → silently ignored.
  const candidate = sanitizePlainText(payload.share_domain);
  const siteHost = new URL(ctx.base(req)).hostname.toLowerCase();
  const shareDomain =
    candidate !== '' && isPublicDomain(candidate) && candidate.toLowerCase().replace(/\.$/, '') !== siteHost
      ? candidate
      : null;

  // ---- raise_concerns ----
  if (version === 'v2' && !anonymous && !ctx.apiAccess) throw new EntitlementError();
  if (version === 'v1' && value !== undefined && value !== null && Buffer.byteLength(rbToS(value)) > MAX_SECRET_BYTES)
    throw new CreateError('form', `Secret value exceeds the maximum size of ${MAX_SECRET_BYTES} bytes`);
  // validate_recipient
  if (recipients.length > 0 && anonymous) {
    if (version === 'v1') throw new CreateError('form', 'An account is required to send emails.');
    throw new CreateError('unauthorized', 'An account is required to send emails.');
  }
  for (const address of recipients) {
    // Truemail's regex, as the server applies it (src/ots/recipient.ts).
    if (!isOtsRecipient(address))
      throw new CreateError('form', `Undeliverable email address: ${address}`, {
        field: 'recipient',
        errorType: 'invalid_email',
      });
  }
  // validate_share_domain: the emulator has no custom domains and no link pool.
  if (shareDomain !== null) {
    if (anonymous) {
      const msg = `You do not have permission to use domain: ${shareDomain}`;
      if (version === 'v1') throw new CreateError('form', msg);
      throw new CreateError('forbidden', msg, {
        errorKey: 'api.secrets.errors.domain_permission_anonymous_cross_domain',
      });
    }
    throw new CreateError('form', `Unknown domain: ${shareDomain}`);
  }
  // validate_passphrase
  if (passphrase !== '' && chars(passphrase) < PASSPHRASE_MIN)
    throw new CreateError('form', `Passphrase must be at least ${PASSPHRASE_MIN} characters long`);
  if (passphrase !== '' && chars(passphrase) > PASSPHRASE_MAX)
    throw new CreateError('form', `Passphrase must be no more than ${PASSPHRASE_MAX} characters long`);
  if (kind === 'conceal') {
    if (rbToS(value) === '') {
      if (version === 'v1') throw new CreateError('form', 'You did not provide anything to share');
      throw new CreateError('form', 'You did not provide anything to share', { field: 'secret', errorType: 'missing' });
    }
    if (version === 'v2' && Buffer.byteLength(rbToS(value)) > MAX_SECRET_BYTES)
      throw new CreateError('form', `Secret content must be no more than ${MAX_SECRET_BYTES} bytes long`, {
        field: 'secret',
      });
  }

  // ---- process: Receipt.spawn_pair, then the first recipient is mailed the link ----
  const t = ctx.now();
  const secret: StoredSecret = {
    key: newKey(),
    metadataKey: newKey(),
    value: rbToS(value),
    expiresAtMs: t + ttl * 1000,
    failedAttempts: 0,
    createdMs: t,
    ttl,
    ownerId: who.objid ?? null,
  };
  if (passphrase !== '') secret.passphrase = await hashPassphrase(passphrase);
  const first = recipients[0];
  const receipt: StoredReceipt = {
    key: secret.metadataKey,
    secretKey: secret.key,
    custid: who.username ?? 'anon',
    ownerId: who.objid ?? null,
    ttl,
    createdMs: t,
    updatedMs: t,
    state: 'new',
    recipient: first ? [obscureEmail(first)] : [],
    hasPassphrase: passphrase !== '',
    secretExpiresAtMs: t + ttl * 1000,
    expiresAtMs: t + 2 * ttl * 1000,
    kind,
    shareDomain: null,
  };
  ctx.store.secrets.set(secret.key, secret);
  ctx.store.receipts.set(receipt.key, receipt);
  ctx.countCreate();
  // deliver_by_email: the link, never the value, to the first recipient only.
  if (first)
    ctx.mail.push({ to: first, link: `${ctx.base(req)}/secret/${secret.key}`, metadataKey: receipt.key, at: t });
  return { receipt, secret, kind, recipients, shareDomain };
}

/** require_entitlement!('api_access') failed (lib/onetime/logic/base.rb). */
export class EntitlementError extends Error {
  constructor() {
    super('Feature requires api access entitlement');
  }
}

function toI(v: Param): number {
  try {
    return rbToI(v);
  } catch (err) {
    throw new CreateError('unexpected', (err as Error).message);
  }
}
