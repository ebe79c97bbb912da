// The OTS client on API v2, against answers taken from the server's own code (test/fixtures/ots-v2-fixtures.json;
// each fixture names the file that builds it), replayed through nock: the interceptor matches method, path,
// Authorization and the JSON body, and answers with the fixture's status, headers and body. Then how the client
// chooses between v2 and v1 at start-up.
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { OtsClient, type OtsApiChoice } from '../../src/ots/client.js';
import {
  OtsAuthError,
  OtsBadRequestError,
  OtsError,
  OtsNotFoundError,
  OtsProtocolError,
  OtsRateLimitedError,
  OtsUnavailableError,
} from '../../src/ots/errors.js';
import { fixtureTests, strictNock } from '../helpers/nock-replay.js';
import { fixtureV2, fixturesV2, fixture as fixtureV1, type Fixture } from '../helpers/ots-fixtures.js';

const BASE = 'http://ots.test';
const VALUE = 'Correct-Horse-7';
const PASSPHRASE = 'open sesame 42';
const WRONG = 'not the passphrase';
const TOO_LARGE = 'x'.repeat(10_001);
const PLACEHOLDERS: Record<string, string> = {
  '<value>': VALUE,
  '<passphrase>': PASSPHRASE,
  '<wrong>': WRONG,
  '<10001+ bytes>': TOO_LARGE,
};

const credentials = (auth: string) =>
  Buffer.from(auth.replace(/^Basic /, ''), 'base64')
    .toString('utf8')
    .split(':') as [string, string];

function clientFor(f: Fixture, apiVersion: OtsApiChoice = 'v2'): OtsClient {
  const auth = f.request.headers.Authorization;
  if (!auth) return new OtsClient({ baseUrl: BASE, apiVersion });
  const [username, apiKey] = credentials(auth);
  return new OtsClient({ baseUrl: BASE, username, apiKey, apiVersion });
}

/** The fixture's JSON body with the placeholders a test sends in place of real values. */
function filled(v: unknown): unknown {
  if (typeof v === 'string') return PLACEHOLDERS[v] ?? v;
  if (Array.isArray(v)) return v.map(filled);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, filled(x)]));
  return v;
}

/** JSON with object keys sorted, to compare bodies whatever order their fields were written in. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );

/** Expects exactly the fixture's request (JSON body compared whole) and answers with its response. */
function replay(f: Fixture) {
  const auth = f.request.headers.Authorization;
  const scope = nock(BASE, {
    reqheaders: {
      accept: 'application/json',
      'user-agent': 'ots-handoff/0.1',
      ...(auth ? { authorization: auth } : {}),
      ...(f.request.method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    badheaders: auth ? [] : ['authorization'],
  });
  const want = filled(f.request.body_json);
  const interceptor =
    f.request.method === 'GET'
      ? scope.get(f.request.path)
      : scope.post(f.request.path, (body: unknown) => canonical(body) === canonical(want));
  interceptor.reply(f.response.status, f.response.body as nock.Body, f.response.headers);
  return scope;
}

async function failure<E extends OtsError>(call: Promise<unknown>, type: new (...a: any[]) => E): Promise<E> {
  const err = await call.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  const e = err as E;
  // Nothing a test sends as a secret reaches an error, nor a whole key.
  const all = JSON.stringify({ ...e, message: e.message, stack: e.stack });
  for (const s of [VALUE, PASSPHRASE, WRONG]) expect(all).not.toContain(s);
  expect(all).not.toMatch(/[0-9a-z]{62}/);
  return e;
}

const body = (name: string) => fixtureV2(name).response.body as any;
const { handled, replays } = fixtureTests(fixtureV2);
strictNock();

describe('OtsClient replays every OTS v2 answer taken from the server code', () => {
  replays('v2_status', 'status() reads {success, status, locale}', async (f) => {
    replay(f);
    expect(await clientFor(f).status()).toEqual({ status: 'nominal', locale: 'en' });
  });

  replays('v2_recent_ok', 'recent() maps records: floats floored, states stored, live secret keys kept', async (f) => {
    replay(f);
    const [live, revealed] = await clientFor(f).recent();
    const [w0, w1] = body(f.name).records;
    expect(live).toEqual({
      metadataKey: w0.identifier,
      secretKey: w0.secret_identifier,
      ttl: 3600,
      state: 'new',
      created: Math.floor(w0.created),
      updated: Math.floor(w0.updated),
      recipient: [],
      shareDomain: '',
      passphraseRequired: true,
    });
    expect(revealed).toMatchObject({ metadataKey: w1.identifier, state: 'received', received: w1.revealed });
    expect(revealed!.secretKey).toBeUndefined();
  });

  replays('v2_recent_no_api_access', '403 EntitlementRequired is OTS_AUTH naming the entitlement', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).recent(), OtsAuthError);
    expect(e.status).toBe(403);
    expect(e.message).toMatch(/lacks the api_access entitlement/);
  });

  replays('v2_recent_bad_credentials', "401 from delano/otto's auth wrapper is OTS_AUTH", async (f) => {
    replay(f);
    const e = await failure(clientFor(f).recent(), OtsAuthError);
    expect(e.message).toMatch(/check OTS_USERNAME/);
    expect(e.serverMessage).toMatch(/Authentication Required: \[CREDENTIALS_INVALID\]/);
  });

  replays('v2_no_such_route', 'an unmatched route is OTS_BAD_RESPONSE (wrong base URL, or no v2)', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).recent(), OtsProtocolError);
    expect(e.status).toBe(404);
    expect(e.message).toMatch(/no route GET \/api\/v2\/receipt\/recent/);
  });

  replays('v2_conceal_ok', 'share() sends {secret: {...}} and reads record.receipt + record.secret', async (f) => {
    replay(f);
    const r = await clientFor(f).share({ secret: VALUE, ttl: 3600, passphrase: PASSPHRASE });
    const w = body(f.name).record;
    expect(r).toMatchObject({
      metadataKey: w.receipt.identifier,
      secretKey: w.secret.identifier,
      ttl: 3600,
      state: 'new',
      passphraseRequired: true,
    });
    expect(new OtsClient({ baseUrl: 'https://us.onetimesecret.com' }).shareLink(r)).toBe(
      `https://us.onetimesecret.com/secret/${w.secret.identifier}`,
    );
  });

  replays('v2_conceal_recipient', 'a recipient goes as a list; the receipt shows it obscured', async (f) => {
    replay(f);
    const r = await clientFor(f).share({ secret: VALUE, ttl: 86_400, recipient: 'bob@example.org' });
    expect(r.recipient).toEqual(['bo***@e***.org']);
  });

  replays('v2_conceal_empty', '422 naming the field is OTS_BAD_REQUEST with the field', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).share({ secret: '', ttl: 3600 }), OtsBadRequestError);
    expect(e.status).toBe(422);
    expect(e.message).toMatch(/field secret.*You did not provide anything to share/);
  });

  replays('v2_conceal_too_large', 'too large is OTS_BAD_REQUEST', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).share({ secret: TOO_LARGE, ttl: 3600 }), OtsBadRequestError);
    expect(e.message).toMatch(/no more than 10000 bytes/);
  });

  replays(
    'v2_conceal_anonymous_recipient',
    'anonymous + recipient (401) is OTS_AUTH asking for an account',
    async (f) => {
      replay(f);
      const e = await failure(
        clientFor(f).share({ secret: VALUE, ttl: 3600, recipient: 'bob@example.org' }),
        OtsAuthError,
      );
      expect(e.message).toMatch(/An account is required to send emails[\s\S]*set OTS_USERNAME and OTS_API_KEY/);
    },
  );

  replays('v2_conceal_undeliverable', 'an undeliverable recipient is said plainly, without the address', async (f) => {
    replay(f);
    const e = await failure(
      clientFor(f).share({ secret: VALUE, ttl: 3600, recipient: 'bob@nomx.example.org' }),
      OtsBadRequestError,
    );
    expect(e.message).toMatch(
      /^Onetime Secret would not email the link: it found the recipient's address undeliverable/,
    );
    expect(JSON.stringify({ ...e, message: e.message })).not.toContain('nomx');
  });

  replays('v2_generate_ok', 'generate() reads the receipt; v2 does not return the value', async (f) => {
    replay(f);
    const g = await clientFor(f).generate({ ttl: 3600, length: 16 });
    expect(g.receipt.secretKey).toBe(body(f.name).record.secret.identifier);
    expect(g.value).toBeUndefined();
  });

  replays('v2_generate_too_long', 'length over 128 is OTS_BAD_REQUEST naming length', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).generate({ ttl: 3600, length: 129 }), OtsBadRequestError);
    expect(e.message).toMatch(/field length/);
  });

  replays('v2_receipt_new', 'receipt() reads record + details.secret_realttl (time left)', async (f) => {
    replay(f);
    const key = f.request.path.split('/').pop()!;
    const r = await clientFor(f).receipt(key);
    expect(r).toMatchObject({
      metadataKey: key,
      secretKey: body(f.name).record.secret_identifier,
      ttl: 3600,
      secretTtl: 3542,
      state: 'new',
      passphraseRequired: false,
      metadataUrl: `https://us.onetimesecret.com/receipt/${key}`,
    });
  });

  replays('v2_receipt_passphrase', 'a passphrase-protected receipt has no secret key', async (f) => {
    replay(f);
    const r = await clientFor(f).receipt(f.request.path.split('/').pop()!);
    expect(r.secretKey).toBeUndefined();
    expect(r).toMatchObject({ state: 'new', passphraseRequired: true });
  });

  replays('v2_receipt_revealed', 'revealed is received, with the time it was', async (f) => {
    replay(f);
    const r = await clientFor(f).receipt(f.request.path.split('/').pop()!);
    expect(r).toMatchObject({ state: 'received', received: body(f.name).record.revealed, secretTtl: null });
    expect(r.secretKey).toBeUndefined();
  });

  replays('v2_receipt_expired', 'expired stays expired', async (f) => {
    replay(f);
    expect((await clientFor(f).receipt(f.request.path.split('/').pop()!)).state).toBe('expired');
  });

  replays(
    'v2_receipt_unknown',
    'RecordNotFound is OTS_NOT_FOUND, and the key in its message is shortened',
    async (f) => {
      replay(f);
      const key = f.request.path.split('/').pop()!;
      const e = await failure(clientFor(f).receipt(key), OtsNotFoundError);
      expect(e.serverMessage).toBe(`identifier: ${key.slice(0, 6)}…`);
    },
  );

  replays('v2_burn_ok', 'burn() sends continue: true and the passphrase; success makes it burned', async (f) => {
    replay(f);
    // The record still says new (it was loaded before the burn); success: true is what says it burned.
    expect(body(f.name).record.state).toBe('new');
    const r = await clientFor(f).burn(f.request.path.split('/')[4]!, PASSPHRASE);
    expect(r.state).toBe('burned');
  });

  replays('v2_burn_gone', 'success without a record (nothing left to burn) is OTS_NOT_FOUND', async (f) => {
    replay(f);
    await failure(clientFor(f).burn(f.request.path.split('/')[4]!), OtsNotFoundError);
  });

  replays('v2_burn_wrong_passphrase', 'a wrong passphrase (422) is OTS_BAD_REQUEST', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).burn(f.request.path.split('/')[4]!, WRONG), OtsBadRequestError);
    expect(e.message).toMatch(/Incorrect passphrase/);
  });

  replays('v2_burn_locked', 'the passphrase lockout (429) is OTS_RATE_LIMITED with Retry-After', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).burn(f.request.path.split('/')[4]!, WRONG), OtsRateLimitedError);
    expect(e.retryAfterMs).toBe(1_740_000);
  });

  replays('v2_reveal_ok', 'retrieveSecret() reads record.secret_value', async (f) => {
    replay(f);
    const s = await clientFor(f).retrieveSecret(f.request.path.split('/')[4]!);
    expect(s.value).toBe('<value>');
  });

  it('replays every fixture in the file', () => {
    expect(fixturesV2.map((f) => f.name).sort()).toEqual([...handled].sort());
  });
});

describe('OtsClient: v2 answers the fixtures do not cover', () => {
  const client = () =>
    new OtsClient({ baseUrl: BASE, username: 'a@example.com', apiKey: 'token-xyz', apiVersion: 'v2' });

  it("a 429 without Retry-After takes the body's retry_after", async () => {
    nock(BASE)
      .get('/api/v2/receipt/recent')
      .reply(429, { error: 'Rate limit exceeded', error_type: 'LimitExceeded', retry_after: 12 });
    const e = await failure(client().recent(), OtsRateLimitedError);
    expect(e.retryAfterMs).toBe(12_000);
  });

  it('a 503 SecretUndecryptable is OTS_UNAVAILABLE', async () => {
    nock(BASE)
      .post(/\/reveal$/)
      .reply(503, { error: 'This secret cannot be decrypted right now.', error_type: 'SecretUndecryptable' });
    await failure(client().retrieveSecret('k'.repeat(62).replace(/k/g, 'a')), OtsUnavailableError);
  });

  it('string-typed numbers (older v2 servers) are read', async () => {
    const w = body('v2_recent_ok').records[0];
    const stringly = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v]));
    nock(BASE)
      .get('/api/v2/receipt/recent')
      .reply(200, { records: [{ ...stringly, has_passphrase: 'true' }] });
    const [r] = await client().recent();
    expect(r).toMatchObject({ ttl: 3600, created: Math.floor(w.created), passphraseRequired: true });
  });

  it('a key echoed in a route error or glued to other text never reaches a message whole', async () => {
    const key = 'k1'.repeat(31);
    nock(BASE)
      .get(`/api/v2/receipt/${key}`)
      .reply(404, { error: `No route /api/v2/receipt/${key}`, error_type: 'NotFound' });
    const e = await failure(client().receipt(key), OtsProtocolError);
    expect(e.message).toContain(`${key.slice(0, 6)}…`);
    nock(BASE)
      .get(`/api/v2/receipt/${key}`)
      .reply(404, { error: `key_${key}`, error_type: 'RecordNotFound' });
    expect((await failure(client().receipt(key), OtsNotFoundError)).serverMessage).toBe(`key_${key.slice(0, 6)}…`);
  });

  it('a 403 Forbidden (a share domain the account may not use) is OTS_BAD_REQUEST, not a credentials problem', async () => {
    nock(BASE)
      .post('/api/v2/secret/conceal')
      .reply(403, { error: 'You do not have permission to use domain: x.example.com', error_type: 'Forbidden' });
    const e = await failure(
      client().share({ secret: VALUE, ttl: 3600, shareDomain: 'x.example.com' }),
      OtsBadRequestError,
    );
    expect(e.message).not.toMatch(/OTS_USERNAME/);
  });

  it('burn with success: false (a concurrent reveal won) is OTS_NOT_FOUND', async () => {
    const b = body('v2_burn_ok');
    nock(BASE)
      .post(/\/burn$/)
      .reply(200, { ...b, success: false });
    await failure(client().burn('m'.repeat(62)), OtsNotFoundError);
  });
});

describe('choosing the API version', () => {
  const [username, apiKey] = credentials(fixtureV2('v2_recent_ok').request.headers.Authorization!);
  const account = (apiVersion: OtsApiChoice = 'auto') => new OtsClient({ baseUrl: BASE, username, apiKey, apiVersion });
  const v1Authcheck = () => replayV1('authcheck_ok');
  const replayV1Route404 = () => {
    const f = fixtureV1('unknown_route');
    return nock(BASE)
      .get('/api/v1/authcheck')
      .reply(f.response.status, f.response.body as nock.Body, f.response.headers);
  };
  /** The v1 authcheck fixture's answer, for this test's account. */
  function replayV1(name: string) {
    const f = fixtureV1(name);
    return nock(BASE)
      .get('/api/v1/authcheck')
      .reply(f.response.status, f.response.body as nock.Body, f.response.headers);
  }

  it('auto: v2 when the authenticated v2 call answers', async () => {
    replay(fixtureV2('v2_recent_ok'));
    const c = account();
    expect(c.apiVersion).toBeUndefined();
    expect(await c.detectApiVersion()).toEqual({ version: 'v2', reason: 'the server offers API v2' });
    expect(c.apiVersion).toBe('v2');
  });

  it('auto: v1 when v2 refuses the account for the api_access entitlement', async () => {
    replay(fixtureV2('v2_recent_no_api_access'));
    v1Authcheck();
    const s = await account().detectApiVersion();
    expect(s.version).toBe('v1');
    expect(s.reason).toMatch(/api_access entitlement/);
  });

  it('auto: v1 when the server has no v2 routes', async () => {
    replay(fixtureV2('v2_no_such_route'));
    v1Authcheck();
    expect(await account().detectApiVersion()).toMatchObject({
      version: 'v1',
      reason: expect.stringMatching(/no API v2/),
    });
  });

  it('auto: wrong credentials fail on v1 too: OTS_AUTH, and nothing is chosen', async () => {
    replay(fixtureV2('v2_recent_bad_credentials'));
    const f = fixtureV1('authcheck_bad_credentials');
    nock(BASE)
      .get('/api/v1/authcheck')
      .reply(f.response.status, f.response.body as nock.Body, f.response.headers);
    const c = account();
    await failure(c.detectApiVersion(), OtsAuthError);
    expect(c.apiVersion).toBeUndefined();
  });

  it('auto: v1 when v2 refuses the credentials and v1 accepts them', async () => {
    replay(fixtureV2('v2_recent_bad_credentials'));
    v1Authcheck();
    expect(await account().detectApiVersion()).toMatchObject({
      version: 'v1',
      reason: expect.stringMatching(/API v2 refused the credentials and API v1 accepted them/),
    });
  });

  it("auto: v2 refusing the credentials on a server without v1 is v2's refusal, not a wrong base URL", async () => {
    replay(fixtureV2('v2_recent_bad_credentials'));
    replayV1Route404();
    const e = await failure(account().detectApiVersion(), OtsAuthError);
    expect(e.status).toBe(401);
    expect(e.message).toMatch(/GET \/api\/v2\/receipt\/recent[\s\S]*check OTS_USERNAME/);
  });

  it('auto: a 403 that is not the api_access entitlement (a proxy page, entitlements unavailable) is thrown, not taken for v1', async () => {
    nock(BASE)
      .get('/api/v2/receipt/recent')
      .reply(403, '<html>Forbidden by WAF</html>', { 'content-type': 'text/html' });
    await failure(account().detectApiVersion(), OtsAuthError);
    nock(BASE).get('/api/v2/receipt/recent').reply(403, {
      error: 'Unable to verify entitlements (organization context unavailable)',
      error_type: 'EntitlementRequired',
      entitlement: 'api_access',
      error_key: 'api.entitlements.errors.context_unavailable',
    });
    const c = account();
    const e = await failure(c.detectApiVersion(), OtsAuthError);
    expect(e.entitlement).toBeUndefined();
    expect(c.apiVersion).toBeUndefined();
  });

  it('auto: an outage is thrown, not taken for "no v2", and the next call tries again', async () => {
    nock(BASE).get('/api/v2/receipt/recent').reply(503, 'busy');
    const c = account();
    await failure(c.detectApiVersion(), OtsUnavailableError);
    replay(fixtureV2('v2_recent_ok'));
    expect((await c.detectApiVersion()).version).toBe('v2');
  });

  it('auto: the first call chooses when nothing did, once for concurrent calls', async () => {
    replay(fixtureV2('v2_recent_ok'));
    const f = fixtureV2('v2_status');
    nock(BASE)
      .get('/api/v2/status')
      .times(2)
      .reply(200, f.response.body as nock.Body);
    const c = account();
    await Promise.all([c.status(), c.status()]);
    expect(c.apiVersion).toBe('v2');
  });

  it('auto without an account: v2 when GET /api/v2/status answers, v1 when it is not there', async () => {
    replay(fixtureV2('v2_status'));
    expect((await new OtsClient({ baseUrl: BASE }).detectApiVersion()).version).toBe('v2');
    nock(BASE).get('/api/v2/status').reply(404, { error: 'Not Found', error_type: 'NotFound' });
    expect((await new OtsClient({ baseUrl: BASE }).detectApiVersion()).version).toBe('v1');
  });

  it('v2 forced on an account without api_access is an error that says what to set', async () => {
    replay(fixtureV2('v2_recent_no_api_access'));
    const e = await failure(account('v2').detectApiVersion(), OtsAuthError);
    expect(e.message).toMatch(
      /cannot be used with API v2: the account's plan lacks the api_access entitlement[\s\S]*OTS_API_VERSION=auto or v1/,
    );
  });

  it('v1 forced: checked with authcheck at start-up, and calls speak v1 without asking v2', async () => {
    v1Authcheck();
    const c = account('v1');
    expect(c.apiVersion).toBe('v1');
    expect(await c.detectApiVersion()).toEqual({ version: 'v1', reason: 'OTS_API_VERSION=v1' });
    const f = fixtureV1('status_ok');
    nock(BASE)
      .get('/api/v1/status')
      .reply(200, f.response.body as nock.Body);
    await c.status();
  });
});
