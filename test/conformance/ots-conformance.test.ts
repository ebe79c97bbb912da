// Conformance of the sandbox OTS emulator (src/sandbox/ots-emulator.ts) with the real server's code. One table: each
// case names the behaviour, the server file(s) it is read from (`source`, shown in the test title), the request,
// and what the code answers (status, headers, key body fields). Sources are files of onetimesecret/onetimesecret at
// de53ff8f (2026-08-21), unless another repository is named. The emulator runs on loopback with an injected clock.
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOtsEmulatorServer } from '../../src/sandbox/index.js';

const ALICE = { username: 'alice@example.com', apiKey: 'q3x9kv2pm7ta8lw4fzcy5nh0rd1gj6se0vi2w7ubqxok' };
const T0 = Date.parse('2026-08-21T12:00:00.250Z');
const KEY = /^[0-9a-z]{62}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MIN = 60_000;

const SRC = {
  v1Base: 'apps/api/v1/logic/secrets/base_secret_action.rb',
  v1Conceal: 'apps/api/v1/logic/secrets/conceal_secret.rb',
  v1Generate: 'apps/api/v1/logic/secrets/generate_secret.rb',
  v1Index: 'apps/api/v1/controllers/index.rb',
  v1Helpers: 'apps/api/v1/controllers/helpers.rb (carefully), apps/api/v1/controllers/base.rb (error_response)',
  v1Hsh: 'apps/api/v1/controllers/class_methods.rb (receipt_hsh)',
  v1List: 'apps/api/v1/logic/secrets/show_receipt_list.rb',
  v1Receipt: 'apps/api/v1/logic/secrets/show_receipt.rb',
  v1Show: 'apps/api/v1/logic/secrets/show_secret.rb',
  v1Burn: 'apps/api/v1/logic/secrets/burn_secret.rb',
  v2Base: 'apps/api/v2/logic/secrets/base_secret_action.rb',
  v2Conceal: 'apps/api/v2/logic/secrets/conceal_secret.rb',
  v2Generate: 'apps/api/v2/logic/secrets/generate_secret.rb',
  v2Receipt: 'apps/api/v2/logic/secrets/show_receipt.rb',
  v2List: 'apps/api/v2/logic/secrets/list_receipts.rb',
  v2Burn: 'apps/api/v2/logic/secrets/burn_secret.rb',
  v2Reveal: 'apps/api/v2/logic/secrets/reveal_secret.rb',
  v2Status: 'apps/api/v2/logic/secrets/show_secret_status.rb',
  v2Meta: 'apps/api/v2/logic/meta.rb',
  v2Routes: 'apps/api/v2/routes.txt',
  v2App: 'apps/api/v2/application.rb',
  hooks: 'lib/onetime/application/otto_hooks.rb',
  errors: 'lib/onetime/errors.rb',
  correlation: 'lib/onetime/application/error_correlation.rb',
  logicBase: 'lib/onetime/logic/base.rb',
  receiptDump: 'lib/onetime/models/receipt/features/safe_dump_fields.rb',
  secretDump: 'lib/onetime/models/secret/features/safe_dump_fields.rb',
  receiptModel: 'lib/onetime/models/receipt.rb (spawn_pair), lib/onetime/models/receipt/features/deprecated_fields.rb',
  secretState: 'lib/onetime/models/secret/features/secret_state_management.rb',
  limiter: 'lib/onetime/security/passphrase_rate_limiter.rb',
  basicAuth: 'lib/onetime/application/auth_strategies/basic_auth_strategy.rb, auth_strategies/helpers.rb',
  ottoAuth: 'delano/otto lib/otto/security/authentication/route_auth_wrapper/response_builder.rb',
  ottoJson: 'delano/otto lib/otto/response_handlers/json.rb',
  rack: 'rack/rack lib/rack/query_parser.rb (parse_nested_query), lib/onetime/application/middleware_stack.rb',
  requestId: 'lib/middleware/request_id.rb',
  retryAfter: 'lib/onetime/middleware/retry_after_header.rb',
  domain: 'lib/onetime/models/custom_domain.rb (valid?: weppos/publicsuffix-ruby lib/public_suffix.rb)',
  localesEn: 'locales/content/en/00-common.json',
  config: 'etc/defaults/config.defaults.yaml, lib/onetime/config.rb',
  webCore: 'apps/web/core/application.rb (router.not_found)',
  accessTimeline:
    'lib/onetime/models/receipt/features/access_timeline.rb, apps/api/v2/logic/secrets/access_telemetry.rb',
};

type ServerKind = 'default' | 'noApiAccess' | 'v1only' | 'rateLimited';
type Vars = Record<string, string>;
interface Req {
  method?: 'GET' | 'POST';
  path: string;
  auth?: 'alice' | 'wrong' | 'bearer';
  /** A form body, written as it goes on the wire. */
  form?: string;
  json?: unknown;
  headers?: Record<string, string>;
}
interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: any;
}
interface H {
  send(req: Req): Promise<Res>;
  /** Advance the injected clock. */
  advance(ms: number): void;
  nowS(): number;
  /** Shortcuts that must succeed. */
  v1(path: string, form: string, auth?: Req['auth']): Promise<any>;
  v2(path: string, json: unknown, auth?: Req['auth']): Promise<any>;
  mail(): { to: string; link: string }[];
}
interface Case {
  name: string;
  source: string;
  server?: ServerKind;
  given?: (h: H) => Promise<Vars | void>;
  request: Req | ((v: Vars) => Req);
  status: number;
  headers?: Record<string, string | RegExp | null>;
  body?: unknown;
  /** Dotted paths that must be absent from the body. */
  absent?: string[];
  then?: (res: Res, h: H, v: Vars) => Promise<void> | void;
}

const errorBody = (b: Res) => b.body as Record<string, unknown>;
const v1Err = (message: string) => ({
  status: 404,
  headers: { 'x-ots-intended-status': '400', 'content-type': 'application/json; charset=utf-8' },
  body: { message },
});
/** A v2 FormError: 422 with exactly these keys besides request_id. */
const v2Form = (body: Record<string, unknown>) => ({
  status: 422,
  headers: { 'content-type': 'application/json' },
  body,
  then: (res: Res) => {
    expect(Object.keys(errorBody(res)).sort()).toEqual([...Object.keys(body), 'request_id'].sort());
    expect(errorBody(res).request_id).toBe(res.headers['x-request-id']);
  },
});
const wrongTimes = async (h: H, n: number, req: Req, status: number) => {
  for (let i = 0; i < n; i++) expect((await h.send(req)).status, `attempt ${i + 1}`).toBe(status);
};

const cases: Case[] = [
  // ---------------------------------------------------------------- TTL (item 3)
  {
    name: 'v1: ttl empty is .to_i = 0, raised to the 60 s minimum',
    source: SRC.v1Base,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=x&ttl=' },
    status: 200,
    body: { ttl: 60, secret_ttl: 60, metadata_ttl: 120 },
  },
  {
    name: 'v1: ttl not a number is 0, raised to 60 s',
    source: SRC.v1Base,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=x&ttl=abc' },
    status: 200,
    body: { ttl: 60 },
  },
  {
    name: 'v1: ttl under 60 is raised to 60; "90abc" is 90 (String#to_i)',
    source: SRC.v1Base,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=x&ttl=59' },
    status: 200,
    body: { ttl: 60 },
    then: async (_r, h) => expect((await h.v1('/api/v1/share', 'secret=x&ttl=90abc')).ttl).toBe(90),
  },
  {
    name: 'v1: ttl missing is the 7-day default',
    source: `${SRC.v1Base}, ${SRC.config}`,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=x' },
    status: 200,
    body: { ttl: 604_800 },
  },
  {
    name: 'v1: anonymous ceiling 7 d, account ceiling 30 d (clamped, not refused)',
    source: SRC.v1Base,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=x&ttl=2592000' },
    status: 200,
    body: { ttl: 604_800 },
    then: async (_r, h) => expect((await h.v1('/api/v1/share', 'secret=x&ttl=7776000', 'alice')).ttl).toBe(2_592_000),
  },
  {
    name: 'v2: ttl "" is 0, raised to the 60 s minimum (ttl_options.min)',
    source: `${SRC.v2Base} (process_ttl), ${SRC.config}`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', json: { secret: { secret: 'x', ttl: '' } } },
    status: 200,
    body: {
      record: {
        receipt: { secret_ttl: 60, lifespan: 60, metadata_ttl: 60, receipt_ttl: 60 },
        secret: { lifespan: 60 },
      },
    },
  },
  {
    name: 'v2: form secret[ttl]=abc is a nested param, .to_i 0 → 60',
    source: `${SRC.v2Base}, ${SRC.rack}`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', form: 'secret[secret]=x&secret[ttl]=abc' },
    status: 200,
    body: { record: { receipt: { secret_ttl: 60 } } },
  },
  {
    name: 'v2: ttl missing is the 7-day default; anonymous ceiling 7 d',
    source: `${SRC.v2Base} (process_ttl, anonymous_max_ttl)`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', json: { secret: { secret: 'x' } } },
    status: 200,
    body: { record: { receipt: { secret_ttl: 604_800 } } },
    then: async (_r, h) =>
      expect(
        (await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x', ttl: 2_592_000 } })).record.receipt.secret_ttl,
      ).toBe(604_800),
  },
  {
    name: 'v2: an account on a billing-disabled server has no plan ceiling, only the 365-day safety bound',
    source: `${SRC.v2Base} (process_ttl), lib/onetime/models/organization/features/with_materialized_limits.rb (limit_for)`,
    request: {
      method: 'POST',
      path: '/api/v2/secret/conceal',
      auth: 'alice',
      json: { secret: { secret: 'x', ttl: 7_776_000 } },
    },
    status: 200,
    body: { record: { receipt: { secret_ttl: 7_776_000 } } },
    then: async (_r, h) =>
      expect(
        (await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x', ttl: 40_000_000 } }, 'alice')).record.receipt
          .secret_ttl,
      ).toBe(31_536_000),
  },

  // ---------------------------------------------------------------- recent and expiry (item 1)
  {
    name: 'v1 recent: oldest first (rangebyscore over the scores receipts were added with)',
    source: `${SRC.v1List}, ${SRC.v1Index} (show_receipt_recent)`,
    given: async (h) => {
      const a = await h.v1('/api/v1/share', 'secret=a&ttl=3600', 'alice');
      h.advance(1000);
      const b = await h.v1('/api/v1/share', 'secret=b&ttl=3600', 'alice');
      return { a: a.metadata_key, b: b.metadata_key };
    },
    request: { path: '/api/v1/private/recent', auth: 'alice' },
    status: 200,
    then: (res, _h, v) => expect(res.body.map((r: any) => r.metadata_key)).toEqual([v.a, v.b]),
  },
  {
    name: 'v1 recent: the stored state; past its secret’s lifetime a receipt stays "new" until it is loaded',
    source: `${SRC.v1List}, ${SRC.v1Receipt} (expired!)`,
    given: async (h) => {
      const a = await h.v1('/api/v1/share', 'secret=a&ttl=60', 'alice');
      h.advance(61_000);
      return { a: a.metadata_key };
    },
    request: { path: '/api/v1/private/recent', auth: 'alice' },
    status: 200,
    body: [{ state: 'new', secret_ttl: null, metadata_ttl: 59 }],
    then: async (_r, h, v) => {
      expect((await h.send({ path: `/api/v1/private/${v.a}`, auth: 'alice' })).body).toMatchObject({
        state: 'expired',
        secret_key: '',
      });
      expect((await h.send({ path: '/api/v1/private/recent', auth: 'alice' })).body).toMatchObject([
        { state: 'expired' },
      ]);
    },
  },
  {
    name: 'v2 recent: newest `updated` first (a revealed receipt moves up), stored states',
    source: `${SRC.v2List} (records.sort!), ${SRC.receiptModel}`,
    given: async (h) => {
      const a = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'a', ttl: 3600 } }, 'alice');
      h.advance(1000);
      const b = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'b', ttl: 3600 } }, 'alice');
      h.advance(1000);
      await h.v2(`/api/v2/secret/${a.record.secret.identifier}/reveal`, { continue: true });
      return { a: a.record.receipt.identifier, b: b.record.receipt.identifier };
    },
    request: { path: '/api/v2/receipt/recent', auth: 'alice' },
    status: 200,
    then: (res, h, v) => {
      expect(res.body.records.map((r: any) => [r.identifier, r.state])).toEqual([
        [v.a, 'revealed'],
        [v.b, 'new'],
      ]);
      expect(res.body.records[0].updated).toBe(h.nowS());
      expect(res.body.details.revealed_receipts.map((r: any) => r.identifier)).toEqual([v.a]);
      expect(res.body.details.pending_receipts.map((r: any) => r.identifier)).toEqual([v.b]);
    },
  },
  {
    name: 'v2 recent: no expiry in the list; loading the receipt marks it expired',
    source: `${SRC.v2List}, ${SRC.v2Receipt} (expired!)`,
    given: async (h) => {
      const a = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'a', ttl: 60 } }, 'alice');
      h.advance(60_000);
      return { a: a.record.receipt.identifier };
    },
    request: { path: '/api/v2/private/recent', auth: 'alice' },
    status: 200,
    body: { records: [{ state: 'new', is_expired: false }] },
    then: async (_r, h, v) => {
      const shown = await h.send({ path: `/api/v2/receipt/${v.a}`, auth: 'alice' });
      expect(shown.body.record).toMatchObject({
        state: 'expired',
        is_expired: true,
        is_destroyed: true,
        updated: h.nowS(),
      });
      const list = await h.send({ path: '/api/v2/receipt/recent', auth: 'alice' });
      expect(list.body.records).toMatchObject([{ state: 'expired', secret_identifier: null }]);
    },
  },
  {
    name: 'v2 recent: envelope (custid is the account objid; since, now, has_items)',
    source: SRC.v2List,
    given: async (h) => void (await h.v2('/api/v2/secret/conceal', { secret: { secret: 'a' } }, 'alice')),
    request: { path: '/api/v2/receipt/recent', auth: 'alice' },
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: { success: true, count: 1, details: { type: 'list', scope: null, scope_label: null, has_items: true } },
    then: (res, h) => {
      expect(res.body.custid).toMatch(UUID);
      expect(res.body.details.since).toBe(Math.floor(h.nowS()) - 30 * 86_400);
      expect(res.body.details.now).toBe(h.nowS());
    },
  },
  {
    name: 'v2 recent: basic auth required; no header → Otto 401',
    source: `${SRC.v2Routes} (auth=basicauth), ${SRC.ottoAuth}, ${SRC.basicAuth}`,
    request: { path: '/api/v2/receipt/recent' },
    status: 401,
    headers: { 'content-type': 'application/json' },
    body: { error: 'Authentication Required', message: '[AUTH_HEADER_MISSING] No authorization header' },
    then: (res, h) => {
      expect(res.body.timestamp).toBe(Math.floor(h.nowS()));
      expect(res.body).not.toHaveProperty('request_id');
    },
  },
  {
    name: 'v2 recent: wrong credentials → 401 [CREDENTIALS_INVALID]',
    source: `${SRC.basicAuth}, ${SRC.ottoAuth}`,
    request: { path: '/api/v2/receipt/recent', auth: 'wrong' },
    status: 401,
    body: { error: 'Authentication Required', message: '[CREDENTIALS_INVALID] Invalid credentials' },
  },

  // ---------------------------------------------------------------- recipients (item 2)
  {
    name: 'v1: form recipient[]= is an array (Rack nested params); the first is mailed the link',
    source: `${SRC.rack}, ${SRC.v1Base} (process_recipient, send_email_to_recipient)`,
    request: { method: 'POST', path: '/api/v1/share', auth: 'alice', form: 'secret=x&recipient[]=Bob@Example.org' },
    status: 200,
    body: { recipient: ['bo***@e***.org'], recipients: ['bo***@e***.org'] },
    then: (_r, h) => expect(h.mail().map((m) => m.to)).toEqual(['bob@example.org']),
  },
  {
    name: 'v1: anonymous with a recipient → FormError, rendered 404 + intended 400',
    source: `${SRC.v1Base} (validate_recipient), ${SRC.v1Helpers}`,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=x&recipient[]=bob@example.org' },
    ...v1Err('An account is required to send emails.'),
  },
  {
    name: 'v1: an address Truemail’s regex refuses',
    source: `${SRC.v1Base} (validate_recipient)`,
    request: { method: 'POST', path: '/api/v1/share', auth: 'alice', form: 'secret=x&recipient=_ops@example.org' },
    ...v1Err('Undeliverable email address: _ops@example.org'),
  },
  {
    name: 'v2: anonymous with a recipient → 401 Unauthorized',
    source: `${SRC.v2Base} (validate_recipient), ${SRC.hooks}, ${SRC.correlation}`,
    request: {
      method: 'POST',
      path: '/api/v2/secret/conceal',
      json: { secret: { secret: 'x', recipient: ['bob@example.org'] } },
    },
    status: 401,
    body: { error: 'An account is required to send emails.', error_type: 'Unauthorized' },
    then: (res) => expect(res.body.request_id).toBe(res.headers['x-request-id']),
  },
  {
    name: 'v2: form secret[recipient][]= with an account: details list the addresses, the receipt the obscured first',
    source: `${SRC.rack}, ${SRC.v2Base} (process_recipient, success_data), ${SRC.receiptDump}`,
    request: {
      method: 'POST',
      path: '/api/v2/secret/conceal',
      auth: 'alice',
      form: 'secret[secret]=x&secret[recipient][]=bob@example.org&secret[recipient][]=&secret[recipient][]=carol@example.org',
    },
    status: 200,
    body: {
      record: { receipt: { recipients: 'bo***@e***.org', show_recipients: true } },
      details: {
        recipient: ['bob@example.org', 'carol@example.org'],
        recipient_safe: ['bo***@e***.org', 'ca***@e***.org'],
      },
    },
    then: (_r, h) => expect(h.mail().map((m) => m.to)).toEqual(['bob@example.org']),
  },
  {
    name: 'v2: an undeliverable address → 422 field recipient, error_type invalid_email',
    source: `${SRC.v2Base} (validate_recipient), ${SRC.errors} (FormError#to_h)`,
    request: {
      method: 'POST',
      path: '/api/v2/secret/conceal',
      auth: 'alice',
      json: { secret: { secret: 'x', recipient: '+tag@example.org' } },
    },
    ...v2Form({
      error: 'Undeliverable email address: +tag@example.org',
      error_type: 'invalid_email',
      field: 'recipient',
    }),
  },

  // ---------------------------------------------------------------- empty / spaces / size (item 4)
  {
    name: 'v1: a secret of spaces is accepted (only `to_s.empty?` is refused) and revealed as sent',
    source: `${SRC.v1Conceal}, ${SRC.v1Show}`,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=%20%20%20' },
    status: 200,
    then: async (res, h) => expect((await h.v1(`/api/v1/secret/${res.body.secret_key}`, '')).value).toBe('   '),
  },
  {
    name: 'v1: an empty secret',
    source: `${SRC.v1Conceal}, ${SRC.v1Helpers}`,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=' },
    ...v1Err('You did not provide anything to share'),
  },
  {
    name: 'v1: more than 10000 bytes (multibyte counts in bytes)',
    source: `${SRC.v1Base} (validate_secret_size)`,
    request: { method: 'POST', path: '/api/v1/share', form: `secret=${'%C3%A9'.repeat(5001)}` },
    ...v1Err('Secret value exceeds the maximum size of 10000 bytes'),
  },
  {
    name: 'v2: a secret of spaces is accepted',
    source: SRC.v2Conceal,
    request: { method: 'POST', path: '/api/v2/secret/conceal', json: { secret: { secret: '   ' } } },
    status: 200,
    body: { success: true },
  },
  {
    name: 'v2: an empty secret → 422 field secret, error_type missing',
    source: `${SRC.v2Conceal}, ${SRC.hooks}`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', json: { secret: { secret: '' } } },
    ...v2Form({ error: 'You did not provide anything to share', error_type: 'missing', field: 'secret' }),
  },
  {
    name: 'v2: more than 10000 bytes → 422 field secret',
    source: `${SRC.v2Conceal}, ${SRC.logicBase} (validate_secret_size)`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', json: { secret: { secret: 'é'.repeat(5001) } } },
    ...v2Form({ error: 'Secret content must be no more than 10000 bytes long', field: 'secret' }),
  },
  {
    name: 'v2: a string `secret` param → 422 Incorrect payload format',
    source: `${SRC.v2Base} (process_params)`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', json: { secret: 'plain string' } },
    ...v2Form({ error: 'Incorrect payload format' }),
  },
  {
    name: 'v2: a passphrase shorter than the configured 4',
    source: `${SRC.v2Base} (validate_passphrase), ${SRC.config}`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', json: { secret: { secret: 'x', passphrase: 'abc' } } },
    ...v2Form({ error: 'Passphrase must be at least 4 characters long' }),
  },

  // ---------------------------------------------------------------- generate length (item 5)
  {
    name: 'v1: generate length > 128 is refused, not clamped',
    source: SRC.v1Generate,
    request: { method: 'POST', path: '/api/v1/generate', form: 'length=129' },
    ...v1Err('Generated password length must be no more than 128 characters'),
  },
  {
    name: 'v1: generate length 128 is made; the answer carries value and secret_value',
    source: `${SRC.v1Generate}, ${SRC.v1Index} (generate)`,
    request: { method: 'POST', path: '/api/v1/generate', form: 'length=128' },
    status: 200,
    then: (res) => {
      expect(res.body.value).toHaveLength(128);
      expect(res.body.secret_value).toBe(res.body.value);
    },
  },
  {
    name: 'v2: generate length > 128 → 422 field length',
    source: SRC.v2Generate,
    request: { method: 'POST', path: '/api/v2/secret/generate', json: { secret: { length: 129 } } },
    ...v2Form({ error: 'Generated password length must be no more than 128 characters', field: 'length' }),
  },
  {
    name: 'v2: generate answers no value; the receipt shows it once, on its first load within 60 s',
    source: `${SRC.v2Generate}, ${SRC.secretDump}, ${SRC.v2Receipt} (claim_secret_value_display!)`,
    request: { method: 'POST', path: '/api/v2/secret/generate', json: { secret: { length: 20 } } },
    status: 200,
    body: { record: { receipt: { kind: 'generate' } }, details: { kind: 'generate' } },
    absent: ['record.secret.secret_value', 'record.secret.value'],
    then: async (res, h) => {
      const id = res.body.record.receipt.identifier;
      h.advance(59_000);
      const first = await h.send({ path: `/api/v2/receipt/${id}` });
      expect(first.body.details.secret_value).toMatch(/^\S{20}$/);
      expect((await h.send({ path: `/api/v2/receipt/${id}` })).body.details.secret_value).toBeNull();
    },
  },

  // ---------------------------------------------------------------- share_domain (item 6)
  {
    name: 'v1: a share_domain that is not a domain is ignored',
    source: `${SRC.v1Base} (process_share_domain), ${SRC.domain}`,
    request: { method: 'POST', path: '/api/v1/share', auth: 'alice', form: 'secret=x&share_domain=not%20a%20domain' },
    status: 200,
    body: { share_domain: '' },
  },
  {
    name: 'v1: anonymous naming a real domain → "You do not have permission to use domain"',
    source: `${SRC.v1Base} (validate_anonymous_share_domain)`,
    request: { method: 'POST', path: '/api/v1/share', form: 'secret=x&share_domain=secrets.example.com' },
    ...v1Err('You do not have permission to use domain: secrets.example.com'),
  },
  {
    name: 'v1: an account naming a domain the server does not have → "Unknown domain"',
    source: `${SRC.v1Base} (validate_domain_access)`,
    request: {
      method: 'POST',
      path: '/api/v1/share',
      auth: 'alice',
      form: 'secret=x&share_domain=secrets.example.com',
    },
    ...v1Err('Unknown domain: secrets.example.com'),
  },
  {
    name: 'v2: a share_domain that is not a domain (localhost) is ignored',
    source: `${SRC.v2Base} (process_share_domain), ${SRC.domain}`,
    request: {
      method: 'POST',
      path: '/api/v2/secret/conceal',
      json: { secret: { secret: 'x', share_domain: 'localhost' } },
    },
    status: 200,
    body: { record: { share_domain: null, receipt: { share_domain: null } } },
  },
  {
    name: 'v2: anonymous naming a real domain → 403 Forbidden',
    source: `${SRC.v2Base} (validate_anonymous_share_domain), ${SRC.hooks}, locales/content/en/api-secrets-errors.json`,
    request: {
      method: 'POST',
      path: '/api/v2/secret/conceal',
      json: { secret: { secret: 'x', share_domain: 'secrets.example.com' } },
    },
    status: 403,
    body: {
      error: 'You do not have permission to use domain: secrets.example.com',
      error_type: 'Forbidden',
      error_key: 'api.secrets.errors.domain_permission_anonymous_cross_domain',
    },
  },
  {
    name: 'v2: an account naming an unknown domain → 422',
    source: `${SRC.v2Base} (validate_domain_access)`,
    request: {
      method: 'POST',
      path: '/api/v2/secret/conceal',
      auth: 'alice',
      json: { secret: { secret: 'x', share_domain: 'secrets.example.com' } },
    },
    ...v2Form({ error: 'Unknown domain: secrets.example.com' }),
  },

  // ---------------------------------------------------------------- generated value behind a passphrase (item 7)
  {
    name: 'v1: the receipt of a passphrase-protected generated secret never shows the value (can_decrypt? gate)',
    source: `${SRC.v1Receipt}, ${SRC.v1Index} (show_receipt), lib/onetime/models/secret.rb (can_decrypt?)`,
    given: async (h) => {
      const made = await h.v1('/api/v1/generate', 'passphrase=fox%20trot%207');
      expect(made.value).toMatch(/^\S{12}$/); // the create answer itself carries it
      return { m: made.metadata_key, s: made.secret_key };
    },
    request: (v) => ({ path: `/api/v1/receipt/${v.m}` }),
    status: 200,
    body: { state: 'new', passphrase_required: true },
    absent: ['value', 'secret_value'],
    then: (res, _h, v) => expect(res.body.secret_key).toBe(v.s), // receipt_hsh keeps secret_key regardless
  },
  {
    name: 'v2: the receipt of a passphrase-protected generated secret DOES show the value once (no passphrase gate)',
    source: `${SRC.v2Receipt} (process: the claim is gated on kind, window and state only)`,
    given: async (h) => {
      const made = await h.v2('/api/v2/secret/generate', { secret: { passphrase: 'fox trot 7' } });
      return { m: made.record.receipt.identifier, s: made.record.secret.identifier };
    },
    request: (v) => ({ path: `/api/v2/receipt/${v.m}` }),
    status: 200,
    body: { details: { show_secret: false, has_passphrase: true, can_decrypt: false } },
    absent: ['record.secret_identifier'],
    then: (res, _h, v) => {
      expect(res.body.details.secret_value).toMatch(/^\S{12}$/);
      expect(res.body.record.share_url).toMatch(new RegExp(`/secret/${v.s}$`)); // the share path still names it
    },
  },
  {
    name: 'v1: a generated value shows on the first receipt view within 60 s only',
    source: SRC.v1Receipt,
    given: async (h) => {
      const m = (await h.v1('/api/v1/generate', '')).metadata_key;
      h.advance(60_000);
      return { m };
    },
    request: (v) => ({ path: `/api/v1/receipt/${v.m}` }),
    status: 200,
    absent: ['value', 'secret_value'],
  },

  // ---------------------------------------------------------------- passphrase lockout (item 8)
  {
    name: 'v1 reveal: only wrong non-empty passphrases count; 20 lock the secret (global tier), answered as an unexpected error',
    source: `${SRC.v1Show}, ${SRC.limiter}, ${SRC.v1Helpers}`,
    given: async (h) => {
      const s = (await h.v1('/api/v1/share', 'secret=x&passphrase=right%20one')).secret_key;
      await wrongTimes(h, 25, { method: 'POST', path: `/api/v1/secret/${s}` }, 404); // empty: not counted
      await wrongTimes(h, 20, { method: 'POST', path: `/api/v1/secret/${s}`, form: 'passphrase=wrong' }, 404);
      return { s };
    },
    request: (v) => ({ method: 'POST', path: `/api/v1/secret/${v.s}`, form: 'passphrase=right%20one' }),
    ...v1Err('An unexpected error occurred :['),
    then: async (_r, h, v) => {
      h.advance(30 * MIN);
      expect((await h.v1(`/api/v1/secret/${v.s}`, 'passphrase=right%20one')).value).toBe('x');
    },
  },
  {
    name: 'v1 reveal: failures count in a 10-minute window from the first',
    source: SRC.limiter,
    given: async (h) => {
      const s = (await h.v1('/api/v1/share', 'secret=x&passphrase=right%20one')).secret_key;
      await wrongTimes(h, 19, { method: 'POST', path: `/api/v1/secret/${s}`, form: 'passphrase=wrong' }, 404);
      h.advance(10 * MIN);
      await wrongTimes(h, 19, { method: 'POST', path: `/api/v1/secret/${s}`, form: 'passphrase=wrong' }, 404);
      return { s };
    },
    request: (v) => ({ method: 'POST', path: `/api/v1/secret/${v.s}`, form: 'passphrase=right%20one' }),
    status: 200,
    body: { value: 'x' },
  },
  {
    name: 'v1 burn: a wrong passphrase (empty too) → "Double check that passphrase" and counts',
    source: `${SRC.v1Burn}, ${SRC.localesEn} (web.COMMON.error_passphrase), ${SRC.limiter}`,
    given: async (h) => {
      const r = await h.v1('/api/v1/share', 'secret=x&passphrase=right%20one');
      await wrongTimes(h, 19, { method: 'POST', path: `/api/v1/private/${r.metadata_key}/burn` }, 404);
      return { m: r.metadata_key, s: r.secret_key };
    },
    request: (v) => ({ method: 'POST', path: `/api/v1/private/${v.m}/burn`, form: 'passphrase=nope' }),
    ...v1Err('Double check that passphrase'),
    then: async (_r, h, v) => {
      const locked = await h.send({ method: 'POST', path: `/api/v1/secret/${v.s}`, form: 'passphrase=right%20one' });
      expect(locked.body).toEqual({ message: 'An unexpected error occurred :[' });
    },
  },
  {
    name: 'v2 reveal: any wrong passphrase, empty too, counts; 5 from one IP lock it → 429 LimitExceeded + Retry-After',
    source: `${SRC.v2Reveal}, ${SRC.limiter} (MAX_ATTEMPTS per secret+IP), ${SRC.hooks}, ${SRC.retryAfter}`,
    given: async (h) => {
      const s = (await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x', passphrase: 'right one' } })).record
        .secret.identifier;
      await wrongTimes(h, 2, { method: 'POST', path: `/api/v2/secret/${s}/reveal`, json: { continue: true } }, 422);
      await wrongTimes(
        h,
        3,
        { method: 'POST', path: `/api/v2/secret/${s}/reveal`, json: { passphrase: 'no', continue: true } },
        422,
      );
      return { s };
    },
    request: (v) => ({
      method: 'POST',
      path: `/api/v2/secret/${v.s}/reveal`,
      json: { passphrase: 'right one', continue: true },
    }),
    status: 429,
    headers: { 'retry-after': '1800', 'content-type': 'application/json' },
    body: {
      error: 'Too many incorrect passphrase attempts. Please try again later.',
      error_type: 'LimitExceeded',
      retry_after: 1800,
      max_attempts: 5,
    },
  },
  {
    name: 'v2 reveal: a wrong passphrase → 422 Incorrect passphrase',
    source: `${SRC.v2Reveal}, ${SRC.localesEn} (web.COMMON.incorrect_passphrase)`,
    given: async (h) => ({
      s: (await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x', passphrase: 'right one' } })).record.secret
        .identifier,
    }),
    request: (v) => ({
      method: 'POST',
      path: `/api/v2/secret/${v.s}/reveal`,
      json: { passphrase: 'no', continue: true },
    }),
    ...v2Form({ error: 'Incorrect passphrase' }),
  },
  {
    name: 'v1 and v2 share the global tier: 20 v1 failures lock v2 too (max_attempts 20)',
    source: `${SRC.limiter} (passphrase:locked:<secret>), ${SRC.v1Show}, ${SRC.v2Reveal}`,
    given: async (h) => {
      const made = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x', passphrase: 'right one' } });
      const s = made.record.secret.identifier;
      await wrongTimes(h, 20, { method: 'POST', path: `/api/v1/secret/${s}`, form: 'passphrase=wrong' }, 404);
      h.advance(MIN);
      return { s };
    },
    request: (v) => ({
      method: 'POST',
      path: `/api/v2/secret/${v.s}/reveal`,
      json: { passphrase: 'right one', continue: true },
    }),
    status: 429,
    headers: { 'retry-after': '1740' },
    body: { error_type: 'LimitExceeded', retry_after: 1740, max_attempts: 20 },
  },
  {
    name: 'v2 burn: a wrong passphrase → 422 "Double check that passphrase"',
    source: `${SRC.v2Burn}, ${SRC.localesEn} (web.COMMON.error_passphrase)`,
    given: async (h) => ({
      m: (await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x', passphrase: 'right one' } })).record.receipt
        .identifier,
    }),
    request: (v) => ({ method: 'POST', path: `/api/v2/receipt/${v.m}/burn`, json: { continue: true } }),
    ...v2Form({ error: 'Double check that passphrase' }),
  },

  // ---------------------------------------------------------------- v2 envelopes and routes (Task A)
  {
    name: 'v2 conceal: the create envelope, receipt and secret safe_dumps',
    source: `${SRC.v2Base} (success_data), ${SRC.receiptDump}, ${SRC.secretDump}, ${SRC.receiptModel}`,
    request: {
      method: 'POST',
      path: '/api/v2/secret/conceal',
      auth: 'alice',
      json: { secret: { secret: 'x', ttl: 3600, passphrase: 'fox trot 7' } },
    },
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: {
      success: true,
      record: {
        receipt: {
          custid: null,
          state: 'new',
          secret_ttl: 3600,
          metadata_ttl: 3600,
          receipt_ttl: 3600,
          lifespan: 3600,
          share_domain: null,
          shared: null,
          recipients: '',
          show_recipients: false,
          previewed: null,
          revealed: null,
          received: null,
          burned: null,
          is_previewed: false,
          is_revealed: false,
          is_destroyed: false,
          has_passphrase: true,
          kind: 'conceal',
          source: 'standard',
        },
        secret: {
          state: 'new',
          lifespan: 3600,
          secret_ttl: 3600,
          has_passphrase: true,
          verification: false,
          is_revealed: false,
        },
        share_domain: null,
      },
      details: { kind: 'conceal', recipient: [], recipient_safe: [] },
    },
    then: (res, h) => {
      const { receipt, metadata, secret } = res.body.record;
      expect(metadata).toEqual(receipt);
      expect(receipt.identifier).toMatch(KEY);
      expect(receipt.key).toBe(receipt.identifier);
      expect(receipt.owner_id).toMatch(UUID);
      expect(receipt.secret_identifier).toBe(secret.identifier);
      expect(receipt.secret_shortid).toBe(secret.identifier.slice(0, 8));
      expect(receipt.shortid).toBe(receipt.identifier.slice(0, 8));
      expect(receipt.created).toBe(h.nowS()); // Float seconds (.to_f), not whole
      expect(receipt.created % 1).not.toBe(0);
      expect(secret.created).toBe(h.nowS());
    },
  },
  {
    name: 'v2 conceal anonymous: owner_id null',
    source: `${SRC.receiptModel} (spawn_pair(cust&.objid …))`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', json: { secret: { secret: 'x' } } },
    status: 200,
    body: { record: { receipt: { owner_id: null, custid: null } } },
  },
  {
    name: 'v2 conceal: wrong credentials are terminal, not anonymous → 401',
    source: `${SRC.basicAuth} (credentialed_failure), delano/otto lib/otto/security/authentication/route_auth_wrapper.rb`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', auth: 'wrong', json: { secret: { secret: 'x' } } },
    status: 401,
    body: { error: 'Authentication Required', message: '[CREDENTIALS_INVALID] Invalid credentials' },
  },
  {
    name: 'v2 conceal: a non-Basic Authorization header is terminal too',
    source: SRC.basicAuth,
    request: { method: 'POST', path: '/api/v2/secret/conceal', auth: 'bearer', json: { secret: { secret: 'x' } } },
    status: 401,
    body: { message: '[AUTH_TYPE_INVALID] Invalid authorization type' },
  },
  {
    name: 'v2 receipt: record + details; secret_identifier only while the secret may be shown (no passphrase)',
    source: `${SRC.v2Receipt} (_receipt_attributes, ancillary_attributes)`,
    given: async (h) => {
      const made = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x', ttl: 3600 } }, 'alice');
      h.advance(10_000);
      return { m: made.record.receipt.identifier, s: made.record.secret.identifier };
    },
    request: (v) => ({ path: `/api/v2/private/${v.m}`, auth: 'alice' }),
    status: 200,
    body: {
      record: {
        state: 'new',
        secret_state: 'new',
        natural_expiration: '60 minutes',
        expiration_in_seconds: 3600,
      },
      details: {
        type: 'record',
        display_lines: 4,
        no_cache: true,
        secret_realttl: 3590,
        view_count: 0,
        first_access: null,
        last_access: null,
        has_passphrase: false,
        can_decrypt: true,
        secret_value: null,
        show_secret: true,
        show_secret_link: true,
        show_receipt_link: true,
        show_receipt: true,
        show_recipients: false,
      },
    },
    then: (res, _h, v) => {
      const r = res.body.record;
      expect(r.secret_identifier).toBe(v.s);
      expect(r.expiration).toBe(Math.floor(T0 / 1000) + 3600);
      expect(r.share_path).toBe(`secret/${v.s}`);
      expect(r.receipt_path).toBe(`receipt/${v.m}`);
      expect(r.burn_url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/sandbox/ots/receipt/${v.m}/burn$`));
      expect(r.metadata_url).toBe(r.receipt_url);
    },
  },
  {
    name: 'v2 receipt: unknown → 404 RecordNotFound naming the identifier, with the request id',
    source: `${SRC.v2Receipt} (raise OT::MissingSecret, "identifier: …"), ${SRC.hooks}, ${SRC.correlation}, ${SRC.requestId}`,
    request: { path: '/api/v2/receipt/nosuchreceipt0000000000', headers: { 'x-request-id': 'trace-me-42' } },
    status: 404,
    headers: { 'x-request-id': 'trace-me-42' },
    body: { error: 'identifier: nosuchreceipt0000000000', error_type: 'RecordNotFound', request_id: 'trace-me-42' },
  },
  {
    name: 'v2 burn: continue must be true; without it nothing burns (success false)',
    source: `${SRC.v2Burn} (@continue = [true, 'true'].include?)`,
    given: async (h) => {
      const made = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x' } });
      return { m: made.record.receipt.identifier, s: made.record.secret.identifier };
    },
    request: (v) => ({ method: 'POST', path: `/api/v2/receipt/${v.m}/burn`, json: { continue: 'yes' } }),
    status: 200,
    body: { success: false, record: { state: 'new' } },
    then: async (_r, h, v) =>
      expect((await h.send({ path: `/api/v2/secret/${v.s}/status` })).body.record.state).toBe('new'),
  },
  {
    name: 'v2 burn: answers the receipt as loaded before the burn (state still "new"); the stored one is burned',
    source: `${SRC.v2Burn} (process_params loads @receipt; success_data dumps it), ${SRC.secretState} (burned!: load_receipt.burned!)`,
    given: async (h) => {
      const made = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x' } });
      h.advance(5000);
      return { m: made.record.receipt.identifier, s: made.record.secret.identifier };
    },
    request: (v) => ({ method: 'POST', path: `/api/v2/private/${v.m}/burn`, json: { continue: true } }),
    status: 200,
    body: {
      success: true,
      record: { state: 'new', is_burned: false, expiration_in_seconds: 1_209_600, natural_expiration: '14 days' },
      details: { type: 'record', title: 'Secret burned', show_receipt: true },
    },
    then: async (res, h, v) => {
      expect(res.body.record.share_path).toBe(`secret/${v.s}`);
      const after = await h.send({ path: `/api/v2/receipt/${v.m}` });
      expect(after.body.record).toMatchObject({ state: 'burned', is_burned: true, burned: Math.floor(h.nowS()) });
    },
  },
  {
    name: 'v2 burn: the secret already gone → process returns nil → Otto answers {"success":true}',
    source: `${SRC.v2Burn} (return unless potential_secret), ${SRC.ottoJson}`,
    given: async (h) => {
      const made = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x' } });
      await h.v2(`/api/v2/secret/${made.record.secret.identifier}/reveal`, { continue: 'true' });
      return { m: made.record.receipt.identifier };
    },
    request: (v) => ({ method: 'POST', path: `/api/v2/receipt/${v.m}/burn`, json: { continue: true } }),
    status: 200,
    then: (res) => expect(res.body).toEqual({ success: true }),
  },
  {
    name: 'v2 burn: unknown receipt → 404 with no error message (MissingSecret raised bare)',
    source: `${SRC.v2Burn} (raise OT::MissingSecret), ${SRC.errors} (RecordNotFound#to_h compacts nil)`,
    request: { method: 'POST', path: '/api/v2/receipt/nosuchreceipt0000000000/burn', json: { continue: true } },
    status: 404,
    then: (res) => expect(Object.keys(res.body).sort()).toEqual(['error_type', 'request_id']),
  },
  {
    name: 'v2 reveal: continue "true" reveals; the receipt is then "revealed" (v1 says "received")',
    source: `${SRC.v2Reveal}, ${SRC.secretDump}, ${SRC.v1Hsh} (V1_STATE_MAP)`,
    given: async (h) => {
      const made = await h.v2(
        '/api/v2/secret/conceal',
        { secret: { secret: 'two\nlines', passphrase: 'right one' } },
        'alice',
      );
      return { m: made.record.receipt.identifier, s: made.record.secret.identifier };
    },
    request: (v) => ({
      method: 'POST',
      path: `/api/v2/secret/${v.s}/reveal`,
      auth: 'alice',
      form: 'passphrase=right%20one&continue=true',
    }),
    status: 200,
    body: {
      record: { state: 'revealed', is_revealed: true, is_received: true, secret_value: 'two\nlines' },
      details: { continue: true, is_owner: true, show_secret: true, correct_passphrase: true, one_liner: false },
    },
    then: async (_r, h, v) => {
      expect((await h.send({ path: `/api/v2/receipt/${v.m}` })).body.record).toMatchObject({
        state: 'revealed',
        revealed: Math.floor(h.nowS()),
      });
      expect((await h.send({ path: `/api/v1/receipt/${v.m}` })).body).toMatchObject({
        state: 'received',
        received: Math.floor(h.nowS()),
      });
    },
  },
  {
    name: 'v2 reveal: without continue nothing is revealed or consumed',
    source: `${SRC.v2Reveal} (@continue = params['continue'].to_s == 'true')`,
    given: async (h) => ({
      s: (await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x' } })).record.secret.identifier,
    }),
    request: (v) => ({ method: 'POST', path: `/api/v2/secret/${v.s}/reveal`, json: {} }),
    status: 200,
    body: {
      record: { state: 'new' },
      details: { show_secret: false, continue: false, correct_passphrase: false, one_liner: null },
    },
    absent: ['record.secret_value'],
  },
  {
    name: 'v2 reveal: unknown secret → 404 RecordNotFound',
    source: `${SRC.v2Reveal} (raise OT::MissingSecret)`,
    request: { method: 'POST', path: '/api/v2/secret/nosuchsecret00000000000/reveal', json: { continue: true } },
    status: 404,
    body: { error_type: 'RecordNotFound' },
  },
  {
    name: 'v2 secret status: never consumes; the check is access telemetry the receipt then shows',
    source: `${SRC.v2Status}, ${SRC.accessTimeline}, ${SRC.receiptDump} (is_previewed)`,
    given: async (h) => {
      const made = await h.v2('/api/v2/secret/conceal', { secret: { secret: 'x', ttl: 3600 } });
      h.advance(2000);
      return { m: made.record.receipt.identifier, s: made.record.secret.identifier };
    },
    request: (v) => ({ path: `/api/v2/secret/${v.s}/status` }),
    status: 200,
    body: { record: { state: 'new' }, details: { current_expiration: 3598 } },
    then: async (_r, h, v) => {
      const r = await h.send({ path: `/api/v2/receipt/${v.m}` });
      expect(r.body.record).toMatchObject({ is_previewed: true, is_viewed: true, previewed: Math.floor(h.nowS()) });
      expect(r.body.details).toMatchObject({ view_count: 1, first_access: h.nowS() });
      expect((await h.send({ path: '/api/v2/secret/nosuchsecret00000000000/status' })).body).toEqual({
        record: { state: 'unknown' },
      });
    },
  },
  {
    name: 'v2 /status: anonymous, and never refuses (no auth= on the route)',
    source: `${SRC.v2Routes}, ${SRC.v2Meta} (system_status), delano/otto lib/otto/security/authentication/route_auth_wrapper.rb`,
    request: { path: '/api/v2/status', auth: 'wrong' },
    status: 200,
    headers: { 'content-type': 'application/json' },
    then: (res) => expect(res.body).toEqual({ success: true, status: 'nominal', locale: 'en' }),
  },
  {
    name: 'v2 /version: needs authentication',
    source: `${SRC.v2Routes} (auth=sessionauth,basicauth), ${SRC.v2Meta} (system_version), lib/onetime/version.rb`,
    request: { path: '/api/v2/version' },
    status: 401,
    body: { error: 'Authentication Required' },
    then: async (_r, h) =>
      expect((await h.send({ path: '/api/v2/version', auth: 'alice' })).body).toEqual({
        success: true,
        version: ['0', '0', '0'],
        locale: 'en',
      }),
  },
  {
    name: 'v2: an unmatched route (or method) → the router’s not_found',
    source: SRC.v2App,
    request: { path: '/api/v2/secret/conceal' },
    status: 404,
    headers: { 'content-type': 'application/json' },
    then: async (res, h) => {
      expect(res.body).toEqual({ error: 'Not Found', error_type: 'NotFound' });
      expect((await h.send({ path: '/api/v2/nope' })).body).toEqual({ error: 'Not Found', error_type: 'NotFound' });
    },
  },

  // ---------------------------------------------------------------- entitlement, old server, limits, faults
  {
    name: 'api_access missing: v2 recent → 403 EntitlementRequired',
    server: 'noApiAccess',
    source: `${SRC.v2List} (require_entitlement!), ${SRC.logicBase}, ${SRC.errors} (EntitlementRequired#to_h), ${SRC.hooks}`,
    request: { path: '/api/v2/receipt/recent', auth: 'alice' },
    status: 403,
    headers: { 'content-type': 'application/json' },
    body: {
      error: 'Feature requires api access entitlement',
      error_type: 'EntitlementRequired',
      entitlement: 'api_access',
      current_plan: 'free_v1',
      error_key: 'api.entitlements.errors.api_access_required',
    },
  },
  {
    name: 'api_access missing: v2 conceal with the account → 403; anonymous skips the check; v1 is unaffected',
    server: 'noApiAccess',
    source: `${SRC.v2Base} (raise_concerns), ${SRC.logicBase} (require_entitlement!: anonymous → true), apps/api/v1/logic/base.rb`,
    request: { method: 'POST', path: '/api/v2/secret/conceal', auth: 'alice', json: { secret: { secret: 'x' } } },
    status: 403,
    body: { error_type: 'EntitlementRequired' },
    then: async (_r, h) => {
      expect(
        (await h.send({ method: 'POST', path: '/api/v2/secret/conceal', json: { secret: { secret: 'x' } } })).status,
      ).toBe(200);
      expect((await h.send({ method: 'POST', path: '/api/v1/share', auth: 'alice', form: 'secret=x' })).status).toBe(
        200,
      );
      expect((await h.send({ path: '/api/v1/private/recent', auth: 'alice' })).status).toBe(200);
    },
  },
  {
    name: 'a server without the v2 app: /api/v2/* reaches the web app’s 404 (text/html); v1 answers',
    server: 'v1only',
    source: `${SRC.webCore}, ${SRC.v2App} (@uri_prefix = '/api/v2')`,
    request: { path: '/api/v2/receipt/recent', auth: 'alice' },
    status: 404,
    headers: { 'content-type': 'text/html' },
    then: async (res, h) => {
      expect(res.text).toBe('Not Found');
      expect((await h.send({ path: '/api/v1/private/recent', auth: 'alice' })).status).toBe(200);
    },
  },
  {
    name: 'rateLimit on v2: 429 with Onetime::LimitExceeded’s body and Retry-After (v1 keeps the edge’s plain text)',
    server: 'rateLimited',
    source: `${SRC.errors} (LimitExceeded#to_h, default message), ${SRC.hooks}, ${SRC.retryAfter}`,
    given: async (h) => {
      await h.send({ path: '/api/v2/status' });
      await h.send({ path: '/api/v2/status' });
      h.advance(15_000);
    },
    request: { path: '/api/v2/status' },
    status: 429,
    headers: { 'retry-after': '45', 'content-type': 'application/json' },
    body: { error: 'Rate limit exceeded', error_type: 'LimitExceeded', retry_after: 45 },
    then: async (_r, h) => {
      const v1 = await h.send({ path: '/api/v1/status' });
      expect([v1.status, v1.headers['content-type'], v1.text]).toEqual([
        429,
        'text/plain; charset=utf-8',
        'Too Many Requests',
      ]);
    },
  },

  // ---------------------------------------------------------------- v1 details the code settles
  {
    name: 'v1 receipt: custid is the caller’s (the email given to receipt_hsh), "anon" for an anonymous caller',
    source: `${SRC.v1Index} (show_receipt: custid => cust&.email), ${SRC.v1Hsh}`,
    given: async (h) => ({ m: (await h.v1('/api/v1/share', 'secret=x', 'alice')).metadata_key }),
    request: (v) => ({ path: `/api/v1/receipt/${v.m}` }),
    status: 200,
    body: { custid: 'anon', state: 'new' },
  },
  {
    name: 'v1 burn: answers the receipt as loaded before the burn; afterwards it is burned with secret_key ""',
    source: `${SRC.v1Burn}, ${SRC.v1Index} (burn_secret), ${SRC.secretState} (burned!), ${SRC.v1Hsh}`,
    given: async (h) => ({ m: (await h.v1('/api/v1/share', 'secret=x', 'alice')).metadata_key }),
    request: (v) => ({ method: 'POST', path: `/api/v1/private/${v.m}/burn`, auth: 'alice' }),
    status: 200,
    body: { state: { state: 'new', secret_ttl: null } },
    then: async (res, h, v) => {
      expect(res.body.secret_shortkey).toBe(res.body.state.secret_key.slice(0, 8));
      expect((await h.send({ path: `/api/v1/receipt/${v.m}`, auth: 'alice' })).body).toMatchObject({
        state: 'burned',
        secret_key: '',
        secret_ttl: null,
      });
    },
  },
  {
    name: 'every answer carries x-request-id (v1 too)',
    source: SRC.requestId,
    request: { path: '/api/v1/status' },
    status: 200,
    headers: { 'x-request-id': /^[0-9a-z]{13}$/ },
  },
];

// ---------------------------------------------------------------- harness

const servers: Partial<Record<ServerKind, Awaited<ReturnType<typeof startOtsEmulatorServer>>>> = {};
let clock = T0;

beforeAll(async () => {
  const now = () => clock;
  const common = { credentials: ALICE, now };
  servers.default = await startOtsEmulatorServer(common);
  servers.noApiAccess = await startOtsEmulatorServer({ ...common, apiAccess: false, plan: 'free_v1' });
  servers.v1only = await startOtsEmulatorServer({ ...common, apiVersions: ['v1'] });
  servers.rateLimited = await startOtsEmulatorServer({ ...common, rateLimit: { max: 2, windowMs: 60_000 } });
});
afterAll(() => Promise.all(Object.values(servers).map((s) => s.close())));
beforeEach(() => {
  clock = T0;
  for (const s of Object.values(servers)) s.emulator.reset();
});

function harness(kind: ServerKind): H {
  const server = servers[kind]!;
  const send: H['send'] = async (req) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.auth === 'alice')
      headers.authorization = `Basic ${Buffer.from(`${ALICE.username}:${ALICE.apiKey}`).toString('base64')}`;
    if (req.auth === 'wrong')
      headers.authorization = `Basic ${Buffer.from(`${ALICE.username}:not-the-key`).toString('base64')}`;
    if (req.auth === 'bearer') headers.authorization = `Bearer ${ALICE.apiKey}`;
    let body: string | undefined;
    if (req.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = req.form;
    } else if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    }
    const res = await request(`${server.baseUrl}${req.path}`, { method: req.method ?? 'GET', headers, body });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode, headers: res.headers, text, body: parsed };
  };
  const ok = async (req: Req) => {
    const res = await send(req);
    if (res.status !== 200) throw new Error(`${req.method} ${req.path} answered ${res.status}: ${res.text}`);
    return res.body;
  };
  return {
    send,
    advance: (ms) => void (clock += ms),
    nowS: () => clock / 1000,
    v1: (path, form, auth) => ok({ method: 'POST', path, form, auth }),
    v2: (path, json, auth) => ok({ method: 'POST', path, json, auth }),
    mail: () => server.emulator.mail(),
  };
}

function hasPath(obj: unknown, dotted: string): boolean {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (typeof cur !== 'object' || cur === null || !(part in cur)) return false;
    cur = (cur as Record<string, unknown>)[part];
  }
  return true;
}

describe('OTS emulator conformance with the server code', () => {
  it('every case names its source and no two cases share a name', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    for (const c of cases) expect(c.source, c.name).toMatch(/\.(rb|txt|json|yaml)\b/);
  });

  for (const c of cases) {
    it(`${c.name} [${c.source}]`, async () => {
      const h = harness(c.server ?? 'default');
      const vars = (await c.given?.(h)) ?? {};
      const req = typeof c.request === 'function' ? c.request(vars) : c.request;
      const res = await h.send(req);
      expect(res.status, res.text).toBe(c.status);
      for (const [name, want] of Object.entries(c.headers ?? {})) {
        const got = res.headers[name];
        if (want === null) expect(got, name).toBeUndefined();
        else if (want instanceof RegExp) expect(String(got), name).toMatch(want);
        else expect(got, name).toBe(want);
      }
      if (c.body !== undefined) expect(res.body).toMatchObject(c.body as object);
      for (const p of c.absent ?? []) expect(hasPath(res.body, p), `${p} should be absent`).toBe(false);
      await c.then?.(res, h, vars);
    });
  }
});
