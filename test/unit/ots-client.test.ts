// The OTS client against the real server's recorded answers (test/fixtures/ots-fixtures.json, from the server's
// own code and contract spec; see docs/onetime-secret.md). Every fixture is replayed through nock: the interceptor
// matches method, path, Authorization and form body, and answers with the recorded status, headers and body.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtsClient, opOf } from '../../src/ots/client.js';
import { parseRetryAfter } from '../../src/retry-after.js';
import {
  OtsAuthError,
  OtsBadRequestError,
  OtsError,
  OtsNotFoundError,
  OtsProtocolError,
  OtsRateLimitedError,
  OtsUnavailableError,
} from '../../src/ots/errors.js';
import type { Receipt } from '../../src/ots/schemas.js';
import { parseTtl, ttlSchema } from '../../src/ots/ttl.js';
import { fixtureTests, strictNock } from '../helpers/nock-replay.js';
import { fixture, fixtures, type Fixture } from '../helpers/ots-fixtures.js';

const BASE = 'http://ots.test';
const TOO_LARGE = 'x'.repeat(10_001); // stands for the fixture's "<10001+ bytes>"

/** A client with the credentials the fixture's Authorization header carries (or none). */
function clientFor(f: Fixture, baseUrl = BASE): OtsClient {
  const auth = f.request.headers.Authorization;
  if (!auth) return new OtsClient({ apiVersion: 'v1', baseUrl });
  const [username, apiKey] = Buffer.from(auth.replace(/^Basic /, ''), 'base64')
    .toString('utf8')
    .split(':') as [string, string];
  return new OtsClient({ apiVersion: 'v1', baseUrl, username, apiKey });
}

/**
 * Expects exactly one request as the fixture recorded it and answers with its response. `extras` are form fields
 * our client sends that the recording left out (a ttl, burn's continue=true). `path` overrides the recorded one
 * where the recording used an alias (/receipt/… for the client's /private/…) or a different base path.
 */
function replay(f: Fixture, o: { extras?: Record<string, string>; path?: string; body?: unknown } = {}) {
  const auth = f.request.headers.Authorization;
  const scope = nock(BASE, {
    reqheaders: {
      accept: 'application/json',
      'user-agent': 'ots-handoff/0.1',
      ...(auth ? { authorization: auth } : {}),
      ...(f.request.method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    badheaders: auth ? [] : ['authorization'],
  });
  const path = o.path ?? f.request.path.replace('/api/v1/receipt/', '/api/v1/private/');
  const recordedBody =
    f.request.body_form ??
    (f.request.body_json && Object.fromEntries(Object.entries(f.request.body_json).map(([k, v]) => [k, String(v)])));
  const want = recordedBody && {
    ...Object.fromEntries(Object.entries(recordedBody).map(([k, v]) => [k, v === '<10001+ bytes>' ? TOO_LARGE : v])),
    ...o.extras,
  };
  const interceptor =
    f.request.method === 'GET'
      ? scope.get(path)
      : scope.post(
          path,
          (body: Record<string, string>) =>
            want === undefined || JSON.stringify(sorted(body)) === JSON.stringify(sorted(want)),
        );
  interceptor.reply(f.response.status, (o.body ?? f.response.body) as nock.Body, f.response.headers);
  return scope;
}
const sorted = (o: Record<string, string>) =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

/** The camelCase receipt the client must make of a recorded wire receipt. */
function expectedReceipt(w: Record<string, any>): Receipt {
  const r: Receipt = {
    metadataKey: w.metadata_key,
    ttl: w.ttl,
    state: w.state,
    created: w.created,
    updated: w.updated,
    recipient: w.recipient,
    shareDomain: w.share_domain,
    metadataTtl: w.metadata_ttl,
    metadataUrl: w.metadata_url,
  };
  if (w.secret_key) r.secretKey = w.secret_key;
  if ('secret_ttl' in w) r.secretTtl = w.secret_ttl;
  if ('received' in w) r.received = w.received;
  if ('passphrase_required' in w) r.passphraseRequired = w.passphrase_required;
  return r;
}

/** Runs `call`, expects a typed OTS error, and checks it carries none of the secret material sent. */
async function failure<E extends OtsError>(
  call: Promise<unknown>,
  type: new (...a: any[]) => E,
  sent: string[] = [],
): Promise<E> {
  const err = await call.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  const e = err as E;
  for (const s of sent) {
    expect(e.message).not.toContain(s);
    expect(JSON.stringify({ ...e, message: e.message, stack: e.stack })).not.toContain(s);
  }
  return e;
}

const { handled, replays } = fixtureTests(fixture);
strictNock();

describe('OtsClient replays every recorded OTS v1 exchange', () => {
  replays('status_ok', 'status() returns the server status', async (f) => {
    replay(f);
    expect(await clientFor(f).status()).toEqual({ status: 'nominal', locale: 'en' });
  });

  replays('authcheck_ok', 'authcheck() accepts a valid account', async (f) => {
    replay(f);
    await expect(clientFor(f).authcheck()).resolves.toBeUndefined();
  });

  replays('authcheck_no_credentials', 'authcheck() without an account is OTS_AUTH (intended 401)', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).authcheck(), OtsAuthError);
    expect(e).toMatchObject({ code: 'OTS_AUTH', status: 401, retryable: false });
    expect(e.message).toMatch(/GET \/api\/v1\/authcheck[\s\S]*set OTS_USERNAME and OTS_API_KEY/);
  });

  replays(
    'authcheck_bad_credentials',
    'authcheck() with a wrong token is OTS_AUTH and never shows the token',
    async (f) => {
      replay(f);
      const e = await failure(clientFor(f).authcheck(), OtsAuthError, [
        'wrong-token',
        f.request.headers.Authorization!,
      ]);
      expect(e).toMatchObject({ code: 'OTS_AUTH', status: 401 });
      expect(e.message).toMatch(/check OTS_USERNAME/);
    },
  );

  replays('share_authenticated', 'share() returns the camelCase receipt', async (f) => {
    replay(f);
    const r = await clientFor(f).share({ secret: 'db-password: hunter2', ttl: 3600 });
    expect(r).toEqual(expectedReceipt(f.response.body as object));
    expect(r).toMatchObject({ state: 'new', secretTtl: 3600, passphraseRequired: false, shareDomain: '' });
  });

  replays('share_anonymous_with_passphrase', 'anonymous share() with a passphrase', async (f) => {
    replay(f);
    const r = await clientFor(f).share({ secret: 's3cr3t value', passphrase: 'correct horse', ttl: 86_400 });
    expect(r).toEqual(expectedReceipt(f.response.body as object));
    expect(r.passphraseRequired).toBe(true);
  });

  replays('share_json_body_equivalent', 'the same share sent form-encoded gets the same receipt shape', async (f) => {
    // The client always sends form bodies (JSON fails on v0.23.x); the recorded JSON fields must arrive as form fields.
    replay(f, { body: fixture('share_authenticated').response.body });
    const r = await clientFor(f).share({ secret: 'db-password: hunter2', ttl: 3600 });
    expect(r.state).toBe('new');
  });

  replays('share_with_recipient', 'share() with a recipient gets the obscured address back', async (f) => {
    replay(f);
    const r = await clientFor(f).share({ secret: 'vpn creds', ttl: 3600, recipient: 'bob@example.org' });
    expect(r.recipient).toEqual(['bo***@e***.org']);
    expect(r).toEqual(expectedReceipt(f.response.body as object));
  });

  replays('share_ttl_clamped', 'a too-short ttl comes back clamped to 60', async (f) => {
    // Recorded as a description ("receipt with ttl=60"); the body is the anonymous receipt with the clamped ttl.
    const body = {
      ...(fixture('share_anonymous_with_passphrase').response.body as object),
      ttl: 60,
      metadata_ttl: 120,
      secret_ttl: 60,
      receipt_ttl: 120,
      passphrase_required: false,
      has_passphrase: false,
    };
    replay(f, { body });
    const r = await clientFor(f).share({ secret: 'x', ttl: 10 });
    expect(r).toMatchObject({ ttl: 60, secretTtl: 60, metadataTtl: 120 });
  });

  replays('share_missing_secret', 'an empty secret is OTS_BAD_REQUEST with the server message', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).share({ secret: '', ttl: 3600 }), OtsBadRequestError);
    expect(e).toMatchObject({
      code: 'OTS_BAD_REQUEST',
      status: 400,
      retryable: false,
      serverMessage: 'You did not provide anything to share',
    });
    expect(e.message).toContain('POST /api/v1/share');
  });

  replays(
    'share_too_large',
    'a secret over 10,000 bytes is OTS_BAD_REQUEST, without the secret in the error',
    async (f) => {
      replay(f, { extras: { ttl: '3600' } });
      const e = await failure(clientFor(f).share({ secret: TOO_LARGE, ttl: 3600 }), OtsBadRequestError, [
        TOO_LARGE.slice(0, 20),
      ]);
      expect(e.message).toContain('Secret value exceeds the maximum size of 10000 bytes');
    },
  );

  replays('share_recipient_anonymous', 'a recipient without an account is OTS_BAD_REQUEST', async (f) => {
    replay(f, { extras: { ttl: '3600' } });
    const e = await failure(
      clientFor(f).share({ secret: 'x', ttl: 3600, recipient: 'bob@example.org' }),
      OtsBadRequestError,
    );
    expect(e.serverMessage).toBe('An account is required to send emails.');
  });

  replays('share_passphrase_too_short', 'a short passphrase is OTS_BAD_REQUEST', async (f) => {
    replay(f, { extras: { ttl: '3600' } });
    const e = await failure(clientFor(f).share({ secret: 'x', ttl: 3600, passphrase: 'abc' }), OtsBadRequestError);
    expect(e).toMatchObject({ status: 400, serverMessage: 'Passphrase must be at least 4 characters long' });
  });

  replays('share_rate_limited_v1', "v1's own limiter (404, intended 400) is OTS_RATE_LIMITED", async (f) => {
    replay(f, { extras: { ttl: '3600' } });
    const e = await failure(clientFor(f).share({ secret: 'x', ttl: 3600 }), OtsRateLimitedError);
    expect(e).toMatchObject({ code: 'OTS_RATE_LIMITED', status: 400, retryable: true, retryAfterMs: undefined });
  });

  replays('share_bad_credentials', 'wrong credentials on share are OTS_AUTH, never an anonymous share', async (f) => {
    replay(f, { extras: { ttl: '3600' } });
    const e = await failure(clientFor(f).share({ secret: 'x', ttl: 3600 }), OtsAuthError, ['wrong-token']);
    expect(e.status).toBe(401);
  });

  replays('share_unexpected_error', '"An unexpected error occurred :[" is OTS_UNAVAILABLE (retryable)', async (f) => {
    replay(f, { extras: { ttl: '3600' } });
    const e = await failure(clientFor(f).share({ secret: 'x', ttl: 3600 }), OtsUnavailableError);
    expect(e).toMatchObject({ code: 'OTS_UNAVAILABLE', status: 400, retryable: true });
  });

  replays('generate_anonymous', 'generate() returns the receipt and the generated value separately', async (f) => {
    replay(f);
    const { receipt, value } = await clientFor(f).generate({ ttl: 3600 });
    expect(value).toBe('k*8mN2qR9xPw');
    expect(receipt).toEqual(expectedReceipt(f.response.body as object));
    expect(JSON.stringify(receipt)).not.toContain('k*8mN2qR9xPw');
  });

  replays('retrieve_secret_ok', 'retrieveSecret() reveals the value', async (f) => {
    replay(f);
    const key = 'dvmtedxsgqtmg34oqmz19w700pl3dh9iqyj67jlya7kkets2eatdhyxfjvauk0';
    expect(await clientFor(f).retrieveSecret(key)).toEqual({
      value: 'db-password: hunter2',
      secretKey: key,
      shareDomain: 'https://us.onetimesecret.com',
    });
  });

  replays('retrieve_secret_with_passphrase', 'retrieveSecret() sends the passphrase', async (f) => {
    replay(f);
    const r = await clientFor(f).retrieveSecret(
      'krahktsyhxkdgwrz72zmolaq106axgs576l9ant0u2yjas975jt57dxngdzslh',
      'correct horse',
    );
    expect(r.value).toBe('s3cr3t value');
  });

  replays(
    'retrieve_secret_wrong_passphrase',
    'a wrong passphrase is OTS_NOT_FOUND, key shortened, passphrase absent',
    async (f) => {
      replay(f);
      const key = 'krahktsyhxkdgwrz72zmolaq106axgs576l9ant0u2yjas975jt57dxngdzslh';
      const e = await failure(clientFor(f).retrieveSecret(key, 'nope'), OtsNotFoundError, ['nope', key]);
      expect(e).toMatchObject({
        code: 'OTS_NOT_FOUND',
        status: 404,
        retryable: false,
        serverMessage: 'Unknown secret',
      });
      expect(e.message).toContain('POST /api/v1/secret/krahkt…');
    },
  );

  replays('retrieve_secret_unknown_or_expired_or_consumed', 'an unknown key is OTS_NOT_FOUND', async (f) => {
    replay(f);
    const e = await failure(
      clientFor(f).retrieveSecret('3caazdqicixi0rz1phm7nxjthfj1lfncgye58wbq80797301s8ftjr6nwkudue'),
      OtsNotFoundError,
    );
    expect(e.status).toBe(404);
  });

  replays('retrieve_secret_short_key', 'a key too short to exist is OTS_NOT_FOUND', async (f) => {
    replay(f);
    await failure(clientFor(f).retrieveSecret('short'), OtsNotFoundError);
  });

  replays('receipt_new', 'receipt() of an unread secret', async (f) => {
    replay(f);
    const r = await clientFor(f).receipt('ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq');
    expect(r).toEqual(expectedReceipt(f.response.body as object));
    expect(r).toMatchObject({ state: 'new', secretTtl: 3575, metadataTtl: 7150 });
  });

  replays('receipt_received', 'receipt() once received: no secret key, a received time', async (f) => {
    replay(f); // recorded on the canonical /receipt/ alias; the client uses /private/, which every version has
    const r = await clientFor(f).receipt('ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq');
    expect(r).toEqual(expectedReceipt(f.response.body as object));
    expect(r).toMatchObject({ state: 'received', received: 1795493340 });
    expect(r.secretKey).toBeUndefined();
    expect(r.passphraseRequired).toBeUndefined();
  });

  replays('receipt_burned', 'receipt() once burned: secret_ttl null', async (f) => {
    replay(f);
    const r = await clientFor(f).receipt('8u8g9wocu80wteltx7bfecgsdahuq953c6lta7omec9cyybhaskcra4ns7zgdi');
    expect(r).toMatchObject({ state: 'burned', secretTtl: null });
  });

  replays('receipt_unknown', 'receipt() of an unknown key is OTS_NOT_FOUND', async (f) => {
    replay(f);
    const e = await failure(
      clientFor(f).receipt('3caazdqicixi0rz1phm7nxjthfj1lfncgye58wbq80797301s8ftjr6nwkudue'),
      OtsNotFoundError,
    );
    expect(e.message).toContain('GET /api/v1/private/3caazd…');
    expect(e.message).not.toContain('3caazdq');
  });

  replays('recent', 'recent() lists receipts without share keys', async (f) => {
    replay(f);
    const list = await clientFor(f).recent();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      metadataKey: 'ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq',
      state: 'new',
      secretTtl: null,
    });
    // secret_identifier is still on the wire; the client does not turn it into a share key.
    expect(list[0]!.secretKey).toBeUndefined();
  });

  replays('recent_anonymous', 'recent() without an account is OTS_AUTH', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).recent(), OtsAuthError);
    expect(e.status).toBe(401);
  });

  replays(
    'burn_ok',
    'burn() returns the receipt from the `state` object, burned (it says new: loaded before)',
    async (f) => {
      replay(f);
      const r = await clientFor(f).burn('ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq');
      const wire = (f.response.body as { state: { state: string } }).state;
      expect(wire.state).toBe('new');
      expect(r).toEqual({ ...expectedReceipt(wire), state: 'burned' });
    },
  );

  replays(
    'burn_wrong_passphrase',
    'burn() with a wrong passphrase is OTS_BAD_REQUEST "Double check that passphrase"',
    async (f) => {
      replay(f, { extras: { continue: 'true' } });
      const e = await failure(
        clientFor(f).burn('k3vba24l1t3c8q10vdedlaswpouij5ppva733eqpzdpe3niou0o685s8ckrkcg', 'nope'),
        OtsBadRequestError,
        ['nope'],
      );
      expect(e).toMatchObject({ status: 400, serverMessage: 'Double check that passphrase' });
    },
  );

  replays('burn_already_consumed_or_unknown', 'burning a gone secret is OTS_NOT_FOUND', async (f) => {
    replay(f, { extras: { continue: 'true' } });
    await failure(
      clientFor(f).burn('3caazdqicixi0rz1phm7nxjthfj1lfncgye58wbq80797301s8ftjr6nwkudue'),
      OtsNotFoundError,
    );
  });

  replays('unknown_route', 'an unmatched route (wrong base URL) is OTS_BAD_RESPONSE naming the base URL', async (f) => {
    // What the client meets when the base URL points at the wrong place: the router's own 404 for its request.
    replay(f, { path: '/wrong/api/v1/status' });
    const e = await failure(clientFor(f, `${BASE}/wrong`).status(), OtsProtocolError);
    expect(e).toMatchObject({ code: 'OTS_BAD_RESPONSE', status: 404 });
    expect(e.message).toMatch(/base URL http:\/\/ots\.test\/wrong looks wrong/);
  });

  replays('router_server_error', 'a 500 from the router is OTS_UNAVAILABLE', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).share({ secret: 'some-secret-value', ttl: 3600 }), OtsUnavailableError, [
      'some-secret-value',
    ]);
    expect(e).toMatchObject({ status: 500, retryable: true });
  });

  replays('auth_mode_disabled', 'a server with accounts disabled is OTS_AUTH', async (f) => {
    replay(f);
    const e = await failure(clientFor(f).share({ secret: 'some-secret-value', ttl: 3600 }), OtsAuthError, [
      'some-secret-value',
    ]);
    expect(e.message).toMatch(/accounts disabled/);
  });

  it('replays every fixture in the recording', () => {
    expect([...handled].sort()).toEqual(fixtures.map((f) => f.name).sort());
  });
});

describe('OtsClient: answers the recording does not cover', () => {
  const anon = () => new OtsClient({ apiVersion: 'v1', baseUrl: BASE, timeoutMs: 500 });
  const SECRET = 'Tr0ub4dor&3-not-in-errors';
  const PASSPHRASE = 'passphrase-not-in-errors';

  it('an edge 429 with Retry-After: 30 is OTS_RATE_LIMITED with retryAfterMs 30000', async () => {
    nock(BASE)
      .post('/api/v1/share')
      .reply(429, '<html>Too Many Requests</html>', { 'Retry-After': '30', 'content-type': 'text/html' });
    const e = await failure(anon().share({ secret: SECRET, ttl: 3600, passphrase: PASSPHRASE }), OtsRateLimitedError, [
      SECRET,
      PASSPHRASE,
    ]);
    expect(e).toMatchObject({ code: 'OTS_RATE_LIMITED', status: 429, retryAfterMs: 30_000, retryable: true });
    expect(e.message).toContain('retry in 30 s');
  });

  it('Retry-After as an HTTP-date becomes the milliseconds until then', async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    nock(BASE).get('/api/v1/status').reply(429, '', { 'Retry-After': at });
    const e = await failure(anon().status(), OtsRateLimitedError);
    expect(e.retryAfterMs).toBeGreaterThan(115_000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(120_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT'))).toBe(60_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('a real 401 is OTS_AUTH', async () => {
    nock(BASE).get('/api/v1/authcheck').reply(401, 'Unauthorized');
    const e = await failure(
      new OtsClient({
        apiVersion: 'v1',
        baseUrl: BASE,
        username: 'a@example.com',
        apiKey: 'token-not-in-errors',
      }).authcheck(),
      OtsAuthError,
      ['token-not-in-errors'],
    );
    expect(e.status).toBe(401);
  });

  it.each([502, 503, 504])('a proxy %i is OTS_UNAVAILABLE', async (status) => {
    nock(BASE)
      .post(/\/api\/v1\/secret\/.*/)
      .reply(status, '<html>Bad Gateway</html>', { 'content-type': 'text/html' });
    const e = await failure(
      anon().retrieveSecret('krahktsyhxkdgwrz72zmolaq106axgs576l9ant0u2yjas975jt57dxngdzslh', PASSPHRASE),
      OtsUnavailableError,
      [PASSPHRASE],
    );
    expect(e).toMatchObject({ status, retryable: true });
  });

  it('"Service temporarily unavailable" (404, intended 400) is OTS_UNAVAILABLE', async () => {
    nock(BASE)
      .post('/api/v1/share')
      .reply(
        404,
        { message: 'Service temporarily unavailable. Please try again shortly.' },
        { 'X-OTS-Intended-Status': '400' },
      );
    await failure(anon().share({ secret: SECRET, ttl: 3600 }), OtsUnavailableError, [SECRET]);
  });

  it('a 200 that is not JSON is OTS_BAD_RESPONSE', async () => {
    nock(BASE).post('/api/v1/share').reply(200, '<html>login page</html>', { 'content-type': 'text/html' });
    const e = await failure(anon().share({ secret: SECRET, ttl: 3600, passphrase: PASSPHRASE }), OtsProtocolError, [
      SECRET,
      PASSPHRASE,
    ]);
    expect(e).toMatchObject({ code: 'OTS_BAD_RESPONSE', status: 200, retryable: false });
  });

  it('a 200 body that fails the schema is OTS_BAD_RESPONSE, and the body never reaches the message', async () => {
    nock(BASE)
      .post(/\/api\/v1\/secret\/.*/)
      .reply(200, { value: 12345678, secret_key: 'revealed-value-not-in-errors' });
    const e = await failure(
      anon().retrieveSecret('krahktsyhxkdgwrz72zmolaq106axgs576l9ant0u2yjas975jt57dxngdzslh'),
      OtsProtocolError,
      ['12345678', 'revealed-value-not-in-errors'],
    );
    expect(e.message).toMatch(/value: invalid_type/);
  });

  it('a receipt with an unknown state is OTS_BAD_RESPONSE', async () => {
    const body = { ...(fixture('receipt_new').response.body as object), state: 'exploded' };
    nock(BASE)
      .get(/\/api\/v1\/private\/.*/)
      .reply(200, body);
    await failure(anon().receipt('ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq'), OtsProtocolError);
  });

  it('a lenient receipt: v2 state names, string integers, aliases only', async () => {
    nock(BASE)
      .get(/\/api\/v1\/private\/.*/)
      .reply(200, {
        identifier: 'ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq',
        ttl: '3600',
        receipt_ttl: 7000,
        secret_ttl: null,
        state: 'revealed',
        created: '1795493100',
        updated: 1795493200,
        received: 1795493200,
        recipients: 'bo***@e***.org',
        share_domain: null,
        has_passphrase: true,
        receipt_url: 'https://us.onetimesecret.com/receipt/ad8t1g',
        something_new: { nested: true },
      });
    expect(await anon().receipt('ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq')).toEqual({
      metadataKey: 'ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq',
      ttl: 3600,
      metadataTtl: 7000,
      secretTtl: null,
      state: 'received',
      created: 1795493100,
      updated: 1795493200,
      received: 1795493200,
      recipient: ['bo***@e***.org'],
      shareDomain: '',
      passphraseRequired: true,
      metadataUrl: 'https://us.onetimesecret.com/receipt/ad8t1g',
    });
  });

  it('ECONNRESET is OTS_UNAVAILABLE', async () => {
    nock(BASE).post('/api/v1/share').replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
    const e = await failure(anon().share({ secret: SECRET, ttl: 3600, passphrase: PASSPHRASE }), OtsUnavailableError, [
      SECRET,
      PASSPHRASE,
    ]);
    expect(e).toMatchObject({ code: 'OTS_UNAVAILABLE', status: undefined, retryable: true });
    expect(e.message).toContain('ECONNRESET');
  });

  describe('against loopback servers', () => {
    let hanging: Server;
    let hangingUrl: string;
    beforeAll(async () => {
      // Accepts and never answers: the client's own deadline must end the request.
      hanging = createServer(() => undefined);
      await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
      hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      hanging.closeAllConnections();
      await new Promise((r) => hanging.close(r));
    });

    it('a server that never answers is OTS_UNAVAILABLE after timeoutMs', async () => {
      const client = new OtsClient({ apiVersion: 'v1', baseUrl: hangingUrl, timeoutMs: 200 });
      const started = Date.now();
      const e = await failure(
        client.share({ secret: SECRET, ttl: 3600, passphrase: PASSPHRASE }),
        OtsUnavailableError,
        [SECRET, PASSPHRASE],
      );
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(e.message).toMatch(/did not answer POST \/api\/v1\/share within 200 ms/);
    });

    it('tells `observe` of every request: its operation (never its key), outcome and time', async () => {
      const calls: { op: string; outcome: string; seconds: number }[] = [];
      const observe = (c: (typeof calls)[number]) => calls.push(c);
      const client = (baseUrl: string, timeoutMs = 500) =>
        new OtsClient({ apiVersion: 'v1', baseUrl, timeoutMs, username: 'a@example.com', apiKey: 'k', observe });
      nock(BASE).post('/api/v1/share').reply(429, 'Too Many Requests', { 'Retry-After': '5' });
      await client(BASE)
        .share({ secret: SECRET, ttl: 3600 })
        .catch(() => undefined);
      nock(BASE).get('/api/v1/private/recent').reply(503, '');
      await client(BASE)
        .recent()
        .catch(() => undefined);
      nock(BASE).post('/api/v1/private/abcdef1234/burn').reply(404, { message: 'Unknown secret' });
      await client(BASE)
        .burn('abcdef1234')
        .catch(() => undefined);
      nock(BASE).get('/api/v1/private/abcdef1234').reply(200, 'not json');
      await client(BASE)
        .receipt('abcdef1234')
        .catch(() => undefined);
      await client(hangingUrl, 100)
        .status()
        .catch(() => undefined);
      expect(calls.map(({ op, outcome }) => `${op} ${outcome}`)).toEqual([
        'create rate_limited',
        'recent server_error',
        'burn client_error',
        'receipt protocol_error',
        'status timeout',
      ]);
      expect(calls[4]!.seconds).toBeGreaterThanOrEqual(0.09);
      expect(opOf('/api/v2/secret/abc/reveal')).toBe('reveal');
      expect(opOf('/api/v2/receipt/abc/burn')).toBe('burn');
      expect(opOf('/api/v2/receipt/abc')).toBe('receipt');
      expect(opOf('/api/v2/secret/conceal')).toBe('create');
      expect(opOf('/api/v2/account')).toBe('account');
    });

    it('a refused connection is OTS_UNAVAILABLE', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const e = await failure(
        new OtsClient({ apiVersion: 'v1', baseUrl: `http://127.0.0.1:${port}` }).status(),
        OtsUnavailableError,
      );
      expect(e.message).toContain('ECONNREFUSED');
    });
  });
});

describe('OtsClient configuration', () => {
  it('sends Basic auth, Accept, User-Agent and a form body; keeps a base path prefix', async () => {
    nock(BASE, {
      reqheaders: {
        authorization: `Basic ${Buffer.from('a@example.com:k3y').toString('base64')}`,
        accept: 'application/json',
        'user-agent': 'ots-handoff/0.1',
        'content-type': 'application/x-www-form-urlencoded',
      },
    })
      .post('/prefix/api/v1/generate', 'ttl=600&length=20&passphrase=pass+word&recipient=c%40example.com')
      .reply(200, fixture('generate_anonymous').response.body as nock.Body);
    const client = new OtsClient({
      apiVersion: 'v1',
      baseUrl: `${BASE}/prefix/`,
      username: 'a@example.com',
      apiKey: 'k3y',
    });
    await client.generate({ ttl: 600, length: 20, passphrase: 'pass word', recipient: 'c@example.com' });
  });

  it('drops a pasted /api or /api/v1 from the base URL', async () => {
    nock(BASE).get('/api/v1/status').twice().reply(200, { status: 'nominal' });
    await new OtsClient({ apiVersion: 'v1', baseUrl: `${BASE}/api` }).status();
    await new OtsClient({ apiVersion: 'v1', baseUrl: `${BASE}/api/v1/` }).status();
  });

  it('refuses half a credential pair', () => {
    expect(() => new OtsClient({ apiVersion: 'v1', baseUrl: BASE, username: 'a@example.com' })).toThrow(/go together/);
  });
});

describe('shareLink', () => {
  const receipt = (over: Partial<Receipt> = {}): Receipt => ({
    metadataKey: 'ad8t1gmj1sid06s2n44krz5uul3x0ndeuwrbabwe6z6i8olci36wtggefwvhmq',
    secretKey: 'dvmtedxsgqtmg34oqmz19w700pl3dh9iqyj67jlya7kkets2eatdhyxfjvauk0',
    ttl: 3600,
    state: 'new',
    created: 1,
    updated: 1,
    recipient: [],
    shareDomain: '',
    ...over,
  });
  const key = 'dvmtedxsgqtmg34oqmz19w700pl3dh9iqyj67jlya7kkets2eatdhyxfjvauk0';

  it('uses the server called when share_domain is empty', () => {
    expect(new OtsClient({ apiVersion: 'v1', baseUrl: 'https://us.onetimesecret.com' }).shareLink(receipt())).toBe(
      `https://us.onetimesecret.com/secret/${key}`,
    );
    expect(new OtsClient({ apiVersion: 'v1', baseUrl: 'https://eu.onetimesecret.com/' }).shareLink(receipt())).toBe(
      `https://eu.onetimesecret.com/secret/${key}`,
    );
  });

  it('uses a custom share_domain over https', () => {
    expect(
      new OtsClient({ apiVersion: 'v1', baseUrl: 'https://us.onetimesecret.com' }).shareLink(
        receipt({ shareDomain: 'secrets.example.com' }),
      ),
    ).toBe(`https://secrets.example.com/secret/${key}`);
  });

  it('keeps a path prefix, as the sandbox mount needs', () => {
    expect(new OtsClient({ apiVersion: 'v1', baseUrl: 'http://127.0.0.1:3000/sandbox/ots' }).shareLink(receipt())).toBe(
      `http://127.0.0.1:3000/sandbox/ots/secret/${key}`,
    );
    expect(new OtsClient({ apiVersion: 'v1', baseUrl: 'https://onetimesecret.com/api' }).shareLink(receipt())).toBe(
      `https://onetimesecret.com/secret/${key}`,
    );
  });

  it('refuses a receipt without a secret key', () => {
    expect(() =>
      new OtsClient({ apiVersion: 'v1', baseUrl: BASE }).shareLink(
        receipt({ secretKey: undefined, state: 'received' }),
      ),
    ).toThrow(/no secret key/);
  });
});

describe('parseTtl', () => {
  it('maps presets to seconds', () => {
    expect(parseTtl('1h')).toBe(3600);
    expect(parseTtl('24h')).toBe(86_400);
    expect(parseTtl('7d')).toBe(604_800);
  });

  it('passes whole seconds from 60 to 30 days', () => {
    expect(parseTtl(60)).toBe(60);
    expect(parseTtl(2_592_000)).toBe(2_592_000);
  });

  it('falls back to the default, 24 h unless given', () => {
    expect(parseTtl(undefined)).toBe(86_400);
    expect(parseTtl(undefined, 3600)).toBe(3600);
  });

  it.each([59, 0, -5, 2_592_001, 90.5, Number.NaN])('rejects %s with a RangeError that says the bounds', (n) => {
    expect(() => parseTtl(n)).toThrow(RangeError);
    expect(() => parseTtl(n)).toThrow(/from 60 .* to 2592000/);
  });

  it('rejects an unknown preset', () => {
    expect(() => parseTtl('2h' as never)).toThrow(RangeError);
  });

  it('ttlSchema accepts the presets and 60..2592000 whole seconds only', () => {
    for (const ok of ['1h', '24h', '7d', 60, 3600, 2_592_000]) expect(ttlSchema.safeParse(ok).success).toBe(true);
    for (const bad of ['2h', '3600', 59, 2_592_001, 61.5, null]) expect(ttlSchema.safeParse(bad).success).toBe(false);
  });
});
