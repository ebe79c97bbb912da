// API v2 (onetimesecret/onetimesecret apps/api/v2/routes.txt, apps/api/v2/logic/secrets/*.rb, apps/api/v2/logic/meta.rb),
// routed by Otto (delano/otto): logic classes answered as JSON by lib/otto/response_handlers/json.rb, errors as
// lib/onetime/application/otto_hooks.rb registers them (bodies from lib/onetime/errors.rb, plus the request_id of
// lib/onetime/application/error_correlation.rb), authentication failures as
// lib/otto/security/authentication/route_auth_wrapper/response_builder.rb builds them.
import type { Request, Response, Router } from 'express';
import {
  type Ctx,
  displayLines,
  GENERATED_VALUE_DISPLAY_S,
  naturalDuration,
  RECEIPT_CLASS_EXPIRATION,
  clientIp,
  sameSecret,
} from './context.js';
import { CreateError, createSecret, EntitlementError, type Caller } from './create.js';
import { rbToS, sanitizeIdentifier } from './params.js';
import {
  isDestroyed,
  obscureEmail,
  passphraseMatches,
  RECENT_WINDOW_S,
  redisTtl,
  storedSecretId,
  type StoredReceipt,
  type StoredSecret,
} from './store.js';

const JSON_TYPE = 'application/json'; // Otto sets it without a charset
/** OT::VERSION.to_a: the parts of package.json's version, as strings (lib/onetime/version.rb; "0.0.0-rc0" at HEAD). */
const SERVER_VERSION = ['0', '0', '0'];

type Auth = { kind: 'user'; who: Caller } | { kind: 'anon' } | { kind: 'fail'; reason: string; terminal: boolean };

export function mountV2(router: Router, ctx: Ctx): void {
  const send = (res: Response, status: number, body: unknown, headers: Record<string, string> = {}) =>
    ctx.reply(res, status, body, { type: JSON_TYPE, headers });
  /** with_error_correlation: the request id is echoed into every error body the Otto hooks render. */
  const fail = (res: Response, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    send(res, status, { ...body, request_id: String(res.getHeader('x-request-id') ?? '') }, headers);
  const formError = (res: Response, error: string, extra: { field?: string; errorType?: string } = {}) =>
    fail(res, 422, {
      error,
      ...(extra.errorType && { error_type: extra.errorType }),
      ...(extra.field && { field: extra.field }),
    });
  /** MissingSecret: raised bare its message is nil, which FormError#to_h's `.compact` drops. */
  const notFound = (res: Response, error?: string) =>
    fail(res, 404, { ...(error !== undefined && { error }), error_type: 'RecordNotFound' });
  const entitlementRequired = (res: Response) =>
    fail(res, 403, {
      error: 'Feature requires api access entitlement',
      error_type: 'EntitlementRequired',
      entitlement: 'api_access',
      ...(ctx.plan !== undefined && { current_plan: ctx.plan }),
      error_key: 'api.entitlements.errors.api_access_required',
    });
  /** An exception no hook handles: Otto's json_error_response (lib/otto/core/error_handler.rb), production text. */
  const serverError = (res: Response) =>
    send(res, 500, { error: 'Internal Server Error', message: 'An error occurred. Please try again later.' });
  const lockedOut = (res: Response, l: { retryAfter: number; maxAttempts: number }) =>
    fail(
      res,
      429,
      {
        error: 'Too many incorrect passphrase attempts. Please try again later.',
        error_type: 'LimitExceeded',
        retry_after: l.retryAfter,
        max_attempts: l.maxAttempts,
      },
      { 'Retry-After': String(l.retryAfter) }, // lib/onetime/middleware/retry_after_header.rb
    );

  /** BasicAuthStrategy (lib/onetime/application/auth_strategies/basic_auth_strategy.rb). */
  function basic(req: Request): Auth {
    const header = req.get('authorization');
    if (header === undefined)
      return { kind: 'fail', reason: '[AUTH_HEADER_MISSING] No authorization header', terminal: false };
    if (!header.startsWith('Basic '))
      return { kind: 'fail', reason: '[AUTH_TYPE_INVALID] Invalid authorization type', terminal: true };
    const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    if (sep < 0)
      return { kind: 'fail', reason: '[CREDENTIALS_FORMAT_INVALID] Invalid credentials format', terminal: true };
    const a = ctx.account;
    if (a && sameSecret(decoded.slice(0, sep), a.username) && sameSecret(decoded.slice(sep + 1), a.apiKey))
      return { kind: 'user', who: { username: a.username, objid: a.objid } };
    return { kind: 'fail', reason: '[CREDENTIALS_INVALID] Invalid credentials', terminal: true };
  }

  /** RouteAuthWrapper: `auth=basicauth,noauth` (a terminal failure is final) or `auth=basicauth` alone. */
  function authenticate(req: Request, res: Response, anonymousAllowed: boolean): Caller | undefined {
    const a = basic(req);
    if (a.kind === 'user') return a.who;
    if (a.kind === 'fail' && (a.terminal || !anonymousAllowed)) {
      send(res, 401, { error: 'Authentication Required', message: a.reason, timestamp: Math.floor(ctx.now() / 1000) });
      return undefined;
    }
    return {};
  }

  /** require_entitlement!('api_access'): skipped for anonymous callers. Answers and returns false when refused. */
  function entitled(res: Response, who: Caller): boolean {
    if (who.username === undefined || ctx.apiAccess) return true;
    entitlementRequired(res);
    return false;
  }

  const secs = (ms: number) => ms / 1000; // created/updated are Float seconds (safe_dump: .to_f)
  const whole = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));

  /** Receipt safe_dump (lib/onetime/models/receipt/features/safe_dump_fields.rb), in its field order. */
  function receiptDump(r: StoredReceipt) {
    const accesses = r.accessMs ?? [];
    const previewed = accesses.length ? Math.floor(accesses[0]! / 1000) : null; // effective_previewed_at
    const recipients = r.recipient.join(', ');
    const s = r.state;
    return {
      identifier: r.key,
      key: r.key,
      custid: null, // Receipt.spawn_pair sets owner_id, never the legacy custid field
      owner_id: r.ownerId ?? null,
      state: s,
      secret_shortid: r.secretKey.slice(0, 8),
      secret_identifier: storedSecretId(r),
      secret_ttl: r.ttl,
      metadata_ttl: r.ttl, // the lifespan, not what is left of it
      receipt_ttl: r.ttl,
      lifespan: r.ttl,
      share_domain: r.shareDomain ?? null,
      created: secs(r.createdMs),
      updated: secs(r.updatedMs),
      shared: null,
      recipients,
      recipient_name: null,
      memo: null,
      shortid: r.key.slice(0, 8),
      show_recipients: recipients !== '',
      previewed,
      revealed: whole(r.receivedMs),
      is_previewed: accesses.length > 0,
      viewed: previewed,
      received: whole(r.receivedMs),
      burned: whole(r.burnedMs),
      is_viewed: accesses.length > 0,
      is_received: s === 'revealed',
      is_revealed: s === 'revealed',
      is_burned: s === 'burned',
      is_expired: s === 'expired',
      is_orphaned: s === 'orphaned',
      is_destroyed: isDestroyed(r),
      has_passphrase: r.hasPassphrase,
      kind: r.kind ?? 'conceal',
      source: 'standard',
    };
  }

  /** Secret safe_dump (lib/onetime/models/secret/features/safe_dump_fields.rb). */
  function secretDump(s: StoredSecret, state: 'new' | 'revealed' = 'new') {
    const created = secs(s.createdMs ?? s.expiresAtMs - (s.ttl ?? 0) * 1000);
    const ttl = s.ttl ?? Math.round((s.expiresAtMs - (s.createdMs ?? s.expiresAtMs)) / 1000);
    return {
      identifier: s.key,
      key: s.key,
      shortid: s.key.slice(0, 8),
      state,
      lifespan: ttl,
      secret_ttl: ttl,
      has_passphrase: s.passphrase !== undefined,
      verification: false,
      created,
      updated: created,
      is_previewed: false,
      is_revealed: state === 'revealed',
      is_viewed: false,
      is_received: state === 'revealed',
    };
  }

  const path = (...parts: (string | null)[]) => parts.map((p) => p ?? '').join('/'); // build_path
  const urls = (req: Request, r: StoredReceipt, secretId: string | null) => {
    const site = ctx.base(req); // base_scheme + site_host: the emulator's own base URL
    return {
      share_path: path('secret', secretId),
      burn_path: path('receipt', r.key, 'burn'),
      receipt_path: path('receipt', r.key),
      metadata_path: path('receipt', r.key),
      share_url: `${site}/${path('secret', secretId)}`,
      receipt_url: `${site}/${path('receipt', r.key)}`,
      metadata_url: `${site}/${path('receipt', r.key)}`,
      burn_url: `${site}/${path('receipt', r.key, 'burn')}`,
    };
  };

  // ---- meta (apps/api/v2/logic/meta.rb) ----
  router.get('/api/v2/status', (_req, res) => send(res, 200, { success: true, status: 'nominal', locale: 'en' }));
  router.get('/api/v2/version', (req, res) => {
    if (!authenticate(req, res, false)) return;
    send(res, 200, { success: true, version: SERVER_VERSION, locale: 'en' });
  });

  // ---- create: ConcealSecret / GenerateSecret ----
  const create = (kind: 'conceal' | 'generate') => async (req: Request, res: Response) => {
    const who = authenticate(req, res, true);
    if (!who) return;
    try {
      const made = await createSecret(ctx, req, 'v2', kind, who, ctx.params(req));
      const dump = receiptDump(made.receipt);
      send(res, 200, {
        success: true,
        record: { receipt: dump, metadata: dump, secret: secretDump(made.secret), share_domain: made.shareDomain },
        details: { kind, recipient: made.recipients, recipient_safe: made.recipients.map(obscureEmail) },
      });
    } catch (err) {
      if (err instanceof EntitlementError) return entitlementRequired(res);
      if (!(err instanceof CreateError)) throw err;
      if (err.kind === 'form') return formError(res, err.message, err.extra);
      if (err.kind === 'unauthorized') return fail(res, 401, { error: err.message, error_type: 'Unauthorized' });
      if (err.kind === 'forbidden')
        return fail(res, 403, { error: err.message, error_type: 'Forbidden', error_key: err.extra.errorKey });
      return serverError(res);
    }
  };
  router.post('/api/v2/secret/conceal', create('conceal'));
  router.post('/api/v2/secret/generate', create('generate'));

  // ---- ListReceipts: the account's receipts of the last 30 days as stored (no expiry applied), newest `updated` first.
  router.get(['/api/v2/receipt/recent', '/api/v2/private/recent'], (req, res) => {
    const who = authenticate(req, res, false);
    if (!who || !entitled(res, who)) return;
    const nowS = ctx.now() / 1000;
    const since = Math.floor(nowS) - RECENT_WINDOW_S;
    const records = [...ctx.store.receipts.keys()]
      .map((k) => ctx.store.receipt(k))
      .filter((r): r is StoredReceipt => r !== undefined && r.custid === who.username && r.createdMs / 1000 >= since)
      .map(receiptDump)
      .sort((a, b) => b.updated - a.updated);
    send(res, 200, {
      success: true,
      custid: who.objid,
      count: records.length,
      records,
      details: {
        type: 'list',
        scope: null,
        scope_label: null,
        since,
        now: nowS,
        has_items: records.length > 0,
        revealed_receipts: records.filter((x) => x.is_destroyed),
        pending_receipts: records.filter((x) => !x.is_destroyed),
      },
    });
  });

  // ---- ShowReceipt ----
  router.get(['/api/v2/receipt/:identifier', '/api/v2/private/:identifier'], (req, res) => {
    const who = authenticate(req, res, true);
    if (!who || !entitled(res, who)) return;
    const id = sanitizeIdentifier(ctx.params(req, { identifier: String(req.params.identifier) }).identifier);
    const r = id === '' ? undefined : ctx.store.receipt(id);
    if (!r) return notFound(res, `identifier: ${id}`);
    const s = ctx.store.settle(r);
    const secretId = storedSecretId(r) || null;
    const viewable = s !== undefined && r.state === 'new';
    const hasPassphrase = viewable ? s.passphrase !== undefined : undefined;
    // The generated value: first view of a new receipt within 60 s, claimed once. Unlike v1, no passphrase check.
    let value: string | undefined;
    const ageS = Math.floor(ctx.now() / 1000) - Math.floor(r.createdMs / 1000);
    if (viewable && r.kind === 'generate' && ageS < GENERATED_VALUE_DISPLAY_S && r.valueShownMs === undefined) {
      r.valueShownMs = ctx.now();
      value = s.value;
    }
    const showSecret = s !== undefined && !hasPassphrase && r.state === 'new';
    // secret_identifier only when the secret may be shown (no passphrase, not consumed); in its safe_dump position.
    const { secret_identifier: _withheld, ...withheld } = receiptDump(r);
    const record = showSecret ? { ...receiptDump(r), secret_identifier: secretId } : withheld;
    const accesses = r.accessMs ?? [];
    send(res, 200, {
      record: {
        ...record,
        secret_state: s ? 'new' : null,
        natural_expiration: naturalDuration(r.ttl),
        expiration: r.ttl + Math.floor(r.createdMs / 1000),
        expiration_in_seconds: r.ttl,
        ...urls(req, r, r.state === 'new' ? r.secretKey : null),
      },
      details: {
        type: 'record',
        display_lines: displayLines(value),
        no_cache: true,
        secret_realttl: s ? redisTtl(s.expiresAtMs, ctx.now()) : null,
        view_count: accesses.length,
        first_access: accesses.length ? accesses[0]! / 1000 : null,
        last_access: accesses.length ? accesses.at(-1)! / 1000 : null,
        has_passphrase: hasPassphrase ?? false,
        can_decrypt: viewable ? !hasPassphrase : false,
        secret_value: value ?? null,
        show_secret: showSecret,
        show_secret_link: showSecret && r.recipient.length === 0,
        show_receipt_link: r.state === 'new',
        show_receipt: true,
        show_recipients: r.recipient.length > 0,
      },
    });
  });

  // ---- BurnSecret: `continue` must be true or "true"; the answer carries the receipt as loaded before the burn.
  router.post(['/api/v2/receipt/:identifier/burn', '/api/v2/private/:identifier/burn'], async (req, res) => {
    const who = authenticate(req, res, true);
    if (!who || !entitled(res, who)) return;
    const p = ctx.params(req, { identifier: String(req.params.identifier) });
    const r = ctx.store.receipt(sanitizeIdentifier(p.identifier));
    if (!r) return notFound(res);
    const before = structuredClone(r);
    const s = ctx.store.secret(r.secretKey);
    if (!s || r.state !== 'new') return send(res, 200, { success: true }); // process returned nil: Otto's default body
    const ip = clientIp(req);
    if (s.passphrase) {
      const locked = ctx.limiter.check(s.key, ip);
      if (locked) return lockedOut(res, locked);
    }
    const correct = !s.passphrase || (await passphraseMatches(s.passphrase, rbToS(p.passphrase)));
    const go = correct && (p.continue === true || p.continue === 'true');
    if (go) {
      if (s.passphrase) ctx.limiter.clear(s.key, ip);
      ctx.store.burn(s);
    } else if (!correct) {
      ctx.limiter.record(s.key, ip);
      return formError(res, 'Double check that passphrase'); // web.COMMON.error_passphrase (locales/content/en)
    }
    send(res, 200, {
      success: go,
      record: {
        ...receiptDump(before),
        natural_expiration: naturalDuration(RECEIPT_CLASS_EXPIRATION),
        expiration: RECEIPT_CLASS_EXPIRATION + Math.floor(before.createdMs / 1000),
        expiration_in_seconds: RECEIPT_CLASS_EXPIRATION,
        ...urls(req, before, storedSecretId(before)),
      },
      details: {
        type: 'record',
        title: 'Secret burned',
        display_lines: 0,
        display_feedback: false,
        no_cache: true,
        view_count: 0,
        has_passphrase: false,
        can_decrypt: false,
        show_secret: false,
        show_secret_link: false,
        show_receipt_link: false,
        show_receipt: true,
        show_recipients: before.recipient.length > 0,
        is_orphaned: false,
      },
    });
  });

  // ---- RevealSecret: `continue` must be "true"; any wrong passphrase, empty included, counts toward the lockout.
  router.post('/api/v2/secret/:identifier/reveal', async (req, res) => {
    const who = authenticate(req, res, true);
    if (!who || !entitled(res, who)) return;
    const p = ctx.params(req, { identifier: String(req.params.identifier) });
    const s = ctx.store.secret(sanitizeIdentifier(p.identifier));
    if (!s) return notFound(res);
    const ip = clientIp(req);
    if (s.passphrase) {
      const locked = ctx.limiter.check(s.key, ip);
      if (locked) return lockedOut(res, locked);
    }
    const correct = await passphraseMatches(s.passphrase, rbToS(p.passphrase));
    const go = (correct || !s.passphrase) && rbToS(p.continue) === 'true';
    if (go) {
      if (s.passphrase) ctx.limiter.clear(s.key, ip);
      ctx.store.consume(s);
    } else if (s.passphrase && !correct) {
      ctx.limiter.record(s.key, ip);
      return formError(res, 'Incorrect passphrase'); // web.COMMON.incorrect_passphrase
    }
    const record: Record<string, unknown> = secretDump(s, go ? 'revealed' : 'new');
    if (go) record.secret_value = s.value;
    send(res, 200, {
      record,
      details: {
        continue: rbToS(p.continue) === 'true',
        is_owner: who.objid !== undefined && who.objid === s.ownerId,
        show_secret: go,
        correct_passphrase: correct,
        display_lines: displayLines(go ? s.value : undefined),
        one_liner: go && s.value !== '' ? !s.value.includes('\n') : null,
      },
    });
  });

  // ---- ShowSecretStatus: never consumes; the check is recorded on the receipt's access timeline.
  router.get('/api/v2/secret/:identifier/status', (req, res) => {
    const who = authenticate(req, res, true);
    if (!who || !entitled(res, who)) return;
    const s = ctx.store.secret(sanitizeIdentifier(String(req.params.identifier)));
    if (!s) return send(res, 200, { record: { state: 'unknown' } });
    const r = ctx.store.receipt(s.metadataKey);
    if (r) ctx.store.recordAccess(r);
    send(res, 200, { record: secretDump(s), details: { current_expiration: redisTtl(s.expiresAtMs, ctx.now()) } });
  });

  // Anything else under /api/v2: the router's not_found (apps/api/v2/application.rb).
  router.use('/api/v2', (_req, res) => send(res, 404, { error: 'Not Found', error_type: 'NotFound' }));
}
