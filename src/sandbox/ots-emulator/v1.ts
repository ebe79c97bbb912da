// API v1 (onetimesecret/onetimesecret apps/api/v1/routes.txt, controllers/{index,base,helpers,class_methods}.rb,
// logic/secrets/*.rb). v1's error quirk is kept exactly: an application error is HTTP 404 with
// `X-OTS-Intended-Status` (helpers.rb#carefully, base.rb#error_response / #not_authorized_error), and "Unknown secret"
// covers unknown, consumed, expired and wrong-passphrase alike.
import type { Request, Response, Router } from 'express';
import { type Ctx, GENERATED_VALUE_DISPLAY_S, sameSecret } from './context.js';
import { CreateError, createSecret, type Caller } from './create.js';
import { rbToS, sanitizeIdentifier } from './params.js';
import { passphraseMatches, RECENT_WINDOW_S, redisTtl, storedSecretId, type StoredReceipt } from './store.js';

const JSON_UTF8 = 'application/json; charset=utf-8'; // base.rb#json
const INTENDED = 'X-OTS-Intended-Status';
const RECEIPT_PREFIXES = ['/api/v1/private', '/api/v1/receipt', '/api/v1/metadata'];

export function mountV1(router: Router, ctx: Ctx): void {
  const json = (res: Response, body: unknown, status = 200, headers: Record<string, string> = {}) =>
    ctx.reply(res, status, body, { type: JSON_UTF8, headers });
  const notAuthorized = (res: Response) => json(res, { message: 'Not authorized' }, 404, { [INTENDED]: '401' });
  const errorResponse = (res: Response, message: string) => json(res, { message }, 404, { [INTENDED]: '400' });
  const unknownSecret = (res: Response, key: string) => json(res, { secret_key: key, message: 'Unknown secret' }, 404);
  // valid_identifier? fails (< 20 chars): otto_not_found → not_found_response 'Not Found' (base.rb).
  const shortKey = (res: Response) => json(res, { message: 'Not Found' }, 404);
  /** A StandardError inside carefully(): LimitExceeded, a strand error, a type error … */
  const unexpected = (res: Response) => errorResponse(res, 'An unexpected error occurred :[');

  /** authorized(): no header → anonymous; a header that is not valid Basic credentials → Not authorized. */
  function identify(req: Request): Caller | undefined {
    const header = req.get('authorization');
    if (header === undefined) return {};
    const m = /^Basic\s+(.*)$/i.exec(header);
    if (!m || !ctx.account) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    if (sep <= 0 || sep === decoded.length - 1) return undefined;
    const { username, apiKey, objid } = ctx.account;
    return sameSecret(decoded.slice(0, sep), username) && sameSecret(decoded.slice(sep + 1), apiKey)
      ? { username, objid }
      : undefined;
  }

  /** receipt_hsh (class_methods.rb): v0.23 field names, then the v0.24 aliases. */
  function receiptHsh(
    req: Request,
    r: StoredReceipt,
    who: Caller,
    opts: { secretTtl?: number | null; value?: string; passphraseRequired?: boolean } = {},
  ) {
    const state = r.state === 'revealed' ? 'received' : r.state;
    const live = redisTtl(r.expiresAtMs, ctx.now());
    const url = `${ctx.base(req)}/receipt/${r.key}`;
    const h: Record<string, unknown> = {
      custid: who.username ?? 'anon', // opts[:custid] is the caller's email; else "anon"
      metadata_key: r.key,
      secret_key: storedSecretId(r) || '',
      ttl: r.ttl,
      metadata_ttl: live,
      secret_ttl: opts.secretTtl ?? null,
      metadata_url: url,
      state,
      updated: Math.floor(r.updatedMs / 1000),
      created: Math.floor(r.createdMs / 1000),
      received: r.receivedMs === undefined ? 0 : Math.floor(r.receivedMs / 1000),
      recipient: r.recipient,
      share_domain: r.shareDomain ?? '',
    };
    if (state === 'received') {
      delete h.secret_ttl;
      delete h.secret_key;
    } else delete h.received;
    if (opts.value) h.value = opts.value;
    if (opts.passphraseRequired !== undefined) h.passphrase_required = opts.passphraseRequired;
    const aliases: [string, string][] = [
      ['identifier', 'metadata_key'],
      ['secret_identifier', 'secret_key'],
      ['has_passphrase', 'passphrase_required'],
      ['recipients', 'recipient'],
      ['receipt_ttl', 'metadata_ttl'],
      ['receipt_url', 'metadata_url'],
      ['secret_value', 'value'],
    ];
    for (const [v24, v23] of aliases) if (v23 in h) h[v24] = h[v23];
    return h;
  }

  async function create(req: Request, res: Response, kind: 'conceal' | 'generate') {
    const who = identify(req);
    if (!who) return notAuthorized(res);
    try {
      const made = await createSecret(ctx, req, 'v1', kind, who, ctx.params(req));
      const s = made.secret;
      json(
        res,
        receiptHsh(req, made.receipt, who, {
          secretTtl: redisTtl(s.expiresAtMs, ctx.now()),
          value: kind === 'generate' ? s.value : undefined,
          passphraseRequired: s.passphrase !== undefined,
        }),
      );
    } catch (err) {
      if (err instanceof CreateError && err.kind === 'form') return errorResponse(res, err.message);
      if (err instanceof CreateError) return unexpected(res);
      throw err;
    }
  }

  router.get('/api/v1/status', (req, res) => {
    if (!identify(req)) return notAuthorized(res);
    json(res, { status: 'nominal', locale: 'en' });
  });
  router.get('/api/v1/authcheck', (req, res) => {
    if (!identify(req)?.username) return notAuthorized(res);
    json(res, { status: 'nominal', locale: 'en' });
  });
  router.post(['/api/v1/share', '/api/v1/create'], (req, res) => create(req, res, 'conceal'));
  router.post('/api/v1/generate', (req, res) => create(req, res, 'generate'));

  // show_secret: continue is forced; only a non-empty wrong passphrase counts toward the lockout, and the global
  // tier only (v1 has no client IP for the limiter: logic/secrets/show_secret.rb#passphrase_client_ip).
  router.post('/api/v1/secret/:key', async (req, res) => {
    if (!identify(req)) return notAuthorized(res);
    const key = String(req.params.key);
    if (key.length < 20) return shortKey(res);
    const s = ctx.store.secret(sanitizeIdentifier(key));
    if (!s) return unknownSecret(res, key);
    if (s.passphrase && ctx.limiter.check(s.key)) return unexpected(res); // LimitExceeded → StandardError
    const given = rbToS(ctx.params(req).passphrase);
    const correct = !s.passphrase || (await passphraseMatches(s.passphrase, given));
    if (s.passphrase && given !== '') {
      if (correct) ctx.limiter.clear(s.key);
      else ctx.limiter.record(s.key);
    }
    if (!correct) return unknownSecret(res, key);
    ctx.store.consume(s);
    // share_domain is the site's scheme+host (here: the emulator's base URL), not the receipt's bare domain.
    json(res, { value: s.value, secret_key: key, share_domain: ctx.base(req) });
  });

  // Before /:key, so "recent" is not taken for a key. The list shows each receipt as stored: no expiry is applied
  // (that happens only when the receipt itself is loaded), oldest first (show_receipt_list.rb: rangebyscore over
  // the account's receipts, scored by when they were added).
  router.get(
    RECEIPT_PREFIXES.map((p) => `${p}/recent`),
    (req, res) => {
      const who = identify(req);
      if (!who?.username) return notAuthorized(res);
      const since = Math.floor(ctx.now() / 1000) - RECENT_WINDOW_S;
      const list = [...ctx.store.receipts.keys()]
        .map((k) => ctx.store.receipt(k))
        .filter((r): r is StoredReceipt => r !== undefined && r.custid === who.username && r.createdMs / 1000 >= since)
        .sort((a, b) => a.createdMs - b.createdMs)
        .map((r) => {
          const h = receiptHsh(req, r, who);
          delete h.secret_key; // after the alias copy: secret_identifier stays
          return h;
        });
      json(res, list);
    },
  );

  /** The caller and the receipt of `:key`, or undefined once the refusal is answered (v1's order of checks). */
  const receiptFor = (req: Request, res: Response) => {
    const who = identify(req);
    if (!who) return void notAuthorized(res);
    const key = String(req.params.key);
    if (key.length < 20) return void shortKey(res);
    const r = ctx.store.receipt(sanitizeIdentifier(key));
    if (!r) return void unknownSecret(res, key);
    return { who, r };
  };

  router.all(
    RECEIPT_PREFIXES.map((p) => `${p}/:key`),
    (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'POST') return next();
      const found = receiptFor(req, res);
      if (!found) return;
      const { who, r } = found;
      const s = ctx.store.settle(r);
      const viewable = s !== undefined && r.state === 'new';
      const hasPassphrase = viewable ? s.passphrase !== undefined : undefined;
      // A generated value shows once: the first view of a new receipt within 60 s, and (v1 only) never when the
      // secret has a passphrase: show_receipt.rb gates the display on can_decrypt? (no passphrase).
      let value: string | undefined;
      const ageS = Math.floor(ctx.now() / 1000) - Math.floor(r.createdMs / 1000);
      if (
        viewable &&
        !hasPassphrase &&
        r.kind === 'generate' &&
        ageS < GENERATED_VALUE_DISPLAY_S &&
        r.valueShownMs === undefined
      ) {
        r.valueShownMs = ctx.now();
        value = s.value;
      }
      const showSecret = s !== undefined && !hasPassphrase && r.state === 'new';
      json(
        res,
        receiptHsh(req, r, who, {
          secretTtl: s ? redisTtl(s.expiresAtMs, ctx.now()) : null,
          value: showSecret ? value : undefined,
          passphraseRequired: hasPassphrase,
        }),
      );
    },
  );

  // burn_secret: continue is forced; a wrong passphrase (empty included) counts and is refused. The answer carries
  // the receipt as the logic loaded it, before Secret#burned! updated its own copy (burn_secret.rb loads the
  // receipt in process_params; secret_state_management.rb#burned! loads and saves another instance).
  router.post(
    RECEIPT_PREFIXES.map((p) => `${p}/:key/burn`),
    async (req, res) => {
      const found = receiptFor(req, res);
      if (!found) return;
      const { who, r } = found;
      const before = structuredClone(r);
      const s = ctx.store.secret(r.secretKey);
      if (!s || r.state !== 'new') return unknownSecret(res, String(req.params.key));
      if (s.passphrase && ctx.limiter.check(s.key)) return unexpected(res);
      const given = rbToS(ctx.params(req).passphrase);
      if (s.passphrase && !(await passphraseMatches(s.passphrase, given))) {
        ctx.limiter.record(s.key);
        return errorResponse(res, 'Double check that passphrase'); // web.COMMON.error_passphrase (locales/content/en)
      }
      if (s.passphrase) ctx.limiter.clear(s.key);
      ctx.store.burn(s);
      json(res, { state: receiptHsh(req, before, who), secret_shortkey: r.secretKey.slice(0, 8) });
    },
  );
}
