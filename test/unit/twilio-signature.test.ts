// X-Twilio-Signature checking on a real express app on 127.0.0.1, in both of Twilio's signing modes (the auth token,
// and a SharedKey named in X-Twilio-Webhooks-Signature-Settings), and the Twilio fake's signed status callbacks
// arriving at it through twilio-node's own request path. Loopback only.
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import nock from 'nock';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTwilioFake } from '../../src/sandbox/index.js';
import { createSmsSender } from '../../src/twilio/sms.js';
import { checkTwilioUpgrade, expectedTwilioSignature, twilioSignatureMiddleware } from '../../src/twilio/signature.js';
import type { TwilioWebhookKey } from '../../src/twilio/webhook-keys.js';

const ACCOUNT_SID = `AC${'c3'.repeat(16)}`;
const AUTH_TOKEN = '1234567890abcdef1234567890abcdef';
const FROM = '+15005550006';

// Two SharedKeys, as during a rotation (TWILIO_WEBHOOK_KEYS=new:…,old:…). Ids in Twilio's shape, any would do.
const NEW_KEY: TwilioWebhookKey = {
  id: 'webhooks_sharedkey_01K0NEWNEWNEWNEWNEWNEWNEW1',
  secret: 'new-shared-secret-5f3a9c1e7b',
};
const OLD_KEY: TwilioWebhookKey = {
  id: 'webhooks_sharedkey_01K0OLDOLDOLDOLDOLDOLDOLD1',
  secret: 'old-shared-secret-2d8e4b6a0c',
};
/** What the app under test holds: TWILIO_WEBHOOK_KEYS (changed by the rotation tests), read per request. */
let sharedKeys: TwilioWebhookKey[] = [];

/**
 * The signature as Twilio documents it, computed here without the code under test: the full URL, then each POST
 * parameter's name and value sorted by name, HMAC with the key, base64
 * (https://www.twilio.com/docs/usage/webhooks/webhooks-security, "Validating signatures from Twilio"). With a
 * SharedKey only the key and the hash change, HMAC-SHA1 or HMAC-SHA256 as the Webhook Setting says, and the header
 * `X-Twilio-Webhooks-Signature-Settings: key=<key id>,algorithm=<HMAC_SHA1|HMAC_SHA256>` says which
 * (https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys; twilio-node lib/webhooks/webhooks.js,
 * getExpectedTwilioSignature and SIGNATURE_SETTINGS_HEADER).
 */
function twilioHmac(hash: 'sha1' | 'sha256', key: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac(hash, key).update(data, 'utf8').digest('base64');
}

const received: { query: Record<string, unknown>; form: Record<string, string> }[] = [];
const rejected: { path: string; reason: string; keyId?: string }[] = [];
const fake = createTwilioFake({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, callbackDelayMs: 5 });
let server: Server;
let base: string;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(fake.router);
  // publicBaseUrl is resolved per request: the port is only known once listening. A trailing slash is allowed.
  const signed: express.RequestHandler = (req, res, next) =>
    twilioSignatureMiddleware({
      authToken: AUTH_TOKEN,
      sharedKeys,
      publicBaseUrl: `${base}/`,
      onReject: (i) => rejected.push(i),
    })(req, res, next);
  app.post('/twilio/sms-status', signed, (req, res) => {
    received.push({ query: { ...req.query }, form: { ...(req.body as Record<string, string>) } });
    res.status(204).end();
  });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await fake.settled();
  await new Promise((r) => server.close(r));
  nock.enableNetConnect();
});
beforeEach(() => {
  fake.reset();
  received.length = 0;
  rejected.length = 0;
  sharedKeys = [NEW_KEY, OLD_KEY];
});

const FORM = { MessageSid: `SM${'d4'.repeat(16)}`, MessageStatus: 'delivered', To: '+15550100001' };

/** POSTs `form` to `path`, signed as Twilio would sign `sign.url` + `sign.form` (default: this very request); null: unsigned. */
async function post(
  path: string,
  form: Record<string, string>,
  sign?: { url?: string; form?: Record<string, string>; token?: string } | null,
) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (sign !== null) {
    headers['x-twilio-signature'] = expectedTwilioSignature(
      sign?.token ?? AUTH_TOKEN,
      sign?.url ?? `${base}${path}`,
      sign?.form ?? form,
    );
  }
  const res = await request(`${base}${path}`, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
  return { status: res.statusCode, text: await res.body.text() };
}

describe('twilioSignatureMiddleware', () => {
  it('lets a correctly signed POST through, query string and all', async () => {
    const res = await post("/twilio/sms-status?share=shr_1&note=it's", FORM);
    expect(res.status).toBe(204);
    expect(received).toEqual([{ query: { share: 'shr_1', note: "it's" }, form: FORM }]);
    expect(rejected).toEqual([]);
  });

  type Case = {
    form: Record<string, string>;
    sign: { url?: string; form?: Record<string, string>; token?: string } | null;
  };
  const PATH = '/twilio/sms-status?share=shr_1';
  it.each<[string, () => Case]>([
    ['no X-Twilio-Signature header', () => ({ form: FORM, sign: null })],
    [
      'a signature made with another auth token',
      () => ({ form: FORM, sign: { token: 'ffffffffffffffffffffffffffffffff' } }),
    ],
    ['a tampered parameter', () => ({ form: { ...FORM, MessageStatus: 'failed' }, sign: { form: FORM } })],
    ['an added parameter', () => ({ form: { ...FORM, ErrorCode: '30003' }, sign: { form: FORM } })],
    [
      'a signature over another query string',
      () => ({ form: FORM, sign: { url: `${base}/twilio/sms-status?share=shr_2` } }),
    ],
    [
      'a signature over another host',
      () => ({ form: FORM, sign: { url: `${base.replace('127.0.0.1', 'localhost')}${PATH}` } }),
    ],
    [
      'a signature over another scheme',
      () => ({ form: FORM, sign: { url: `${base.replace('http:', 'https:')}${PATH}` } }),
    ],
  ])('rejects %s with 403 and a short JSON error', async (_name, make) => {
    const { form, sign } = make();
    const res = await post(PATH, form, sign);

    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({ error: 'invalid Twilio signature' });
    expect(res.text).not.toContain(FORM.MessageSid); // never an echo of the payload
    expect(received).toEqual([]);
    expect(rejected).toEqual([
      { path: '/twilio/sms-status', reason: sign === null ? 'missing X-Twilio-Signature' : 'signature does not match' },
    ]);
  });
});

/** POSTs `form` to `path` with exactly these Twilio headers. */
async function postWith(path: string, form: Record<string, string>, headers: Record<string, string>) {
  const res = await request(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.statusCode, text: await res.body.text() };
}

const SETTINGS = 'X-Twilio-Webhooks-Signature-Settings';
const settings = (key: TwilioWebhookKey | string, algorithm = 'HMAC_SHA256') =>
  `key=${typeof key === 'string' ? key : key.id},algorithm=${algorithm}`;

describe('shared-key signing (Twilio Webhook Rules)', () => {
  const PATH = '/twilio/sms-status?share=shr_1';
  const url = () => `${base}${PATH}`;

  it('the test signs as twilio-node does: the documented HMAC, SHA-1 with the auth token, SHA-256 or SHA-1 with a key', () => {
    expect(twilioHmac('sha1', AUTH_TOKEN, url(), FORM)).toBe(expectedTwilioSignature(AUTH_TOKEN, url(), FORM));
    expect(twilioHmac('sha256', NEW_KEY.secret, url(), FORM)).toBe(
      expectedTwilioSignature(NEW_KEY.secret, url(), FORM, 'HMAC_SHA256'),
    );
    expect(twilioHmac('sha1', NEW_KEY.secret, url(), FORM)).toBe(
      expectedTwilioSignature(NEW_KEY.secret, url(), FORM, 'HMAC_SHA1'),
    );
  });

  it.each<[string, () => Record<string, string>]>([
    [
      'HMAC_SHA256 with the newer key',
      () => ({ sig: twilioHmac('sha256', NEW_KEY.secret, url(), FORM), set: settings(NEW_KEY) }),
    ],
    [
      'HMAC_SHA256 with the older key (a rotation in progress)',
      () => ({ sig: twilioHmac('sha256', OLD_KEY.secret, url(), FORM), set: settings(OLD_KEY) }),
    ],
    [
      'HMAC_SHA1 with a key (twilio-node allows both)',
      () => ({ sig: twilioHmac('sha1', NEW_KEY.secret, url(), FORM), set: settings(NEW_KEY, 'HMAC_SHA1') }),
    ],
    [
      'no algorithm= (twilio-node: HMAC_SHA1)',
      () => ({ sig: twilioHmac('sha1', NEW_KEY.secret, url(), FORM), set: `key=${NEW_KEY.id}` }),
    ],
    [
      'spaces and a lower-case algorithm, as twilio-node parses them',
      () => ({
        sig: twilioHmac('sha256', NEW_KEY.secret, url(), FORM),
        set: ` algorithm = hmac_sha256 , key = ${NEW_KEY.id} `,
      }),
    ],
  ])('accepts a webhook signed with %s', async (_name, make) => {
    const { sig, set } = make() as { sig: string; set: string };
    const res = await postWith(PATH, FORM, { 'X-Twilio-Signature': sig, [SETTINGS]: set });
    expect(res.status).toBe(204);
    expect(received).toEqual([{ query: { share: 'shr_1' }, form: FORM }]);
    expect(rejected).toEqual([]);
  });

  it('still accepts the auth token signature (no settings header) with keys configured, and without any', async () => {
    expect(
      (await postWith(PATH, FORM, { 'X-Twilio-Signature': twilioHmac('sha1', AUTH_TOKEN, url(), FORM) })).status,
    ).toBe(204);
    sharedKeys = [];
    expect(
      (await postWith(PATH, FORM, { 'X-Twilio-Signature': twilioHmac('sha1', AUTH_TOKEN, url(), FORM) })).status,
    ).toBe(204);
    expect(rejected).toEqual([]);
  });

  type Forgery = {
    form?: Record<string, string>;
    headers: () => Record<string, string>;
    reason: string;
    keyId?: string;
  };
  const sha256 = (key: TwilioWebhookKey | string, form: Record<string, string> = FORM, u = url()) =>
    twilioHmac('sha256', typeof key === 'string' ? key : key.secret, u, form);
  const UNKNOWN = 'webhooks_sharedkey_01K0NOTOURSNOTOURSNOTOURS1';
  it.each<[string, Forgery]>([
    [
      'signed with another secret under our key id (a wrong key)',
      {
        headers: () => ({ 'X-Twilio-Signature': sha256('attacker-secret-0123456789'), [SETTINGS]: settings(NEW_KEY) }),
        reason: 'signature does not match',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'signed with the old key, naming the new one',
      {
        headers: () => ({ 'X-Twilio-Signature': sha256(OLD_KEY), [SETTINGS]: settings(NEW_KEY) }),
        reason: 'signature does not match',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'signed with the auth token, naming a key',
      {
        headers: () => ({
          'X-Twilio-Signature': twilioHmac('sha1', AUTH_TOKEN, url(), FORM),
          [SETTINGS]: settings(NEW_KEY, 'HMAC_SHA1'),
        }),
        reason: 'signature does not match',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'signed with a key, the settings header dropped (checked against the auth token)',
      { headers: () => ({ 'X-Twilio-Signature': sha256(NEW_KEY) }), reason: 'signature does not match' },
    ],
    [
      'a key id we do not hold',
      {
        headers: () => ({ 'X-Twilio-Signature': sha256('secret-of-a-key-we-lack-01'), [SETTINGS]: settings(UNKNOWN) }),
        reason: 'shared key not in TWILIO_WEBHOOK_KEYS',
        keyId: UNKNOWN,
      },
    ],
    [
      'a tampered parameter',
      {
        form: { ...FORM, MessageStatus: 'failed' },
        headers: () => ({ 'X-Twilio-Signature': sha256(NEW_KEY), [SETTINGS]: settings(NEW_KEY) }),
        reason: 'signature does not match',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'an added parameter',
      {
        form: { ...FORM, ErrorCode: '30003' },
        headers: () => ({ 'X-Twilio-Signature': sha256(NEW_KEY), [SETTINGS]: settings(NEW_KEY) }),
        reason: 'signature does not match',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'a signature over another query string',
      {
        headers: () => ({
          'X-Twilio-Signature': sha256(NEW_KEY, FORM, `${base}/twilio/sms-status?share=shr_2`),
          [SETTINGS]: settings(NEW_KEY),
        }),
        reason: 'signature does not match',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'an HMAC-SHA1 signature under algorithm=HMAC_SHA256',
      {
        headers: () => ({
          'X-Twilio-Signature': twilioHmac('sha1', NEW_KEY.secret, url(), FORM),
          [SETTINGS]: settings(NEW_KEY, 'HMAC_SHA256'),
        }),
        reason: 'signature does not match',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'an HMAC-SHA256 signature under algorithm=HMAC_SHA1',
      {
        headers: () => ({ 'X-Twilio-Signature': sha256(NEW_KEY), [SETTINGS]: settings(NEW_KEY, 'HMAC_SHA1') }),
        reason: 'signature does not match',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'an algorithm twilio-node does not know',
      {
        headers: () => ({
          'X-Twilio-Signature': createHmac('md5', NEW_KEY.secret).update(url()).digest('base64'),
          [SETTINGS]: settings(NEW_KEY, 'HMAC_MD5'),
        }),
        reason: 'unsupported signature algorithm',
        keyId: NEW_KEY.id,
      },
    ],
    [
      'no signature, only the settings header',
      { headers: () => ({ [SETTINGS]: settings(NEW_KEY) }), reason: 'missing X-Twilio-Signature' },
    ],
    [
      'a settings header without key=',
      {
        headers: () => ({ 'X-Twilio-Signature': sha256(NEW_KEY), [SETTINGS]: 'algorithm=HMAC_SHA256' }),
        reason: 'no key id in X-Twilio-Webhooks-Signature-Settings',
      },
    ],
  ])('rejects %s with 403, logging the key id, never a secret', async (_name, f) => {
    const warn = vi.spyOn(console, 'warn');
    const res = await postWith(PATH, f.form ?? FORM, f.headers());

    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({ error: 'invalid Twilio signature' });
    expect(received).toEqual([]);
    expect(rejected).toEqual([
      { path: '/twilio/sms-status', reason: f.reason, ...(f.keyId ? { keyId: f.keyId } : {}) },
    ]);
    expect(JSON.stringify(rejected)).not.toMatch(/shared-secret|attacker-secret|secret-of-a-key/);
    expect(warn).not.toHaveBeenCalled(); // twilio-node's console.warn for an unknown algorithm is never reached
    warn.mockRestore();
  });

  it('a rotation: both keys while both are listed, then the removed key is refused by its id', async () => {
    const signedWith = (key: TwilioWebhookKey) =>
      postWith(PATH, FORM, { 'X-Twilio-Signature': sha256(key), [SETTINGS]: settings(key) });
    sharedKeys = [OLD_KEY];
    expect((await signedWith(OLD_KEY)).status).toBe(204);
    expect((await signedWith(NEW_KEY)).status).toBe(403); // not added yet
    sharedKeys = [NEW_KEY, OLD_KEY]; // the new key added, before the Webhook Setting is switched to it
    expect((await signedWith(OLD_KEY)).status).toBe(204);
    expect((await signedWith(NEW_KEY)).status).toBe(204);
    sharedKeys = [NEW_KEY]; // the old key removed once nothing signs with it
    expect((await signedWith(NEW_KEY)).status).toBe(204);
    expect((await signedWith(OLD_KEY)).status).toBe(403);
    expect(rejected).toEqual([
      { path: '/twilio/sms-status', reason: 'shared key not in TWILIO_WEBHOOK_KEYS', keyId: NEW_KEY.id },
      { path: '/twilio/sms-status', reason: 'shared key not in TWILIO_WEBHOOK_KEYS', keyId: OLD_KEY.id },
    ]);
  });

  it('a key id is logged cut to 100 printable characters: the sender chooses it', async () => {
    const long = `${'k'.repeat(10)}\u00e9${'k'.repeat(140)}`; // obs-text: HTTP allows it in a header value
    await postWith(PATH, FORM, { 'X-Twilio-Signature': sha256(NEW_KEY), [SETTINGS]: `key=${long}` });
    expect(rejected[0]!.keyId).toBe(`${'k'.repeat(10)}?${'k'.repeat(89)}`);
  });
});

describe('checkTwilioUpgrade with the auth token', () => {
  it('accepts the GET signature over the wss:// URL, with no params, and nothing else', () => {
    const url = 'wss://127.0.0.1:8443/twilio/media';
    const sig = expectedTwilioSignature(AUTH_TOKEN, url, {});
    expect(checkTwilioUpgrade({ authToken: AUTH_TOKEN }, url, { 'x-twilio-signature': sig }).ok).toBe(true);
    expect(
      checkTwilioUpgrade({ authToken: AUTH_TOKEN }, 'https://127.0.0.1:8443/twilio/media', {
        'x-twilio-signature': sig,
      }).ok,
    ).toBe(false);
    expect(
      checkTwilioUpgrade({ authToken: 'ffffffffffffffffffffffffffffffff' }, url, { 'x-twilio-signature': sig }).ok,
    ).toBe(false);
    expect(checkTwilioUpgrade({ authToken: AUTH_TOKEN }, url, {}).ok).toBe(false);
  });

  it('accepts a SharedKey signature over the wss:// URL when the settings header names a key we hold', () => {
    const url = 'wss://127.0.0.1:8443/twilio/media/v1.abc.def';
    const keys = [NEW_KEY, OLD_KEY];
    const sha256 = twilioHmac('sha256', NEW_KEY.secret, url, {});
    const headers = { 'x-twilio-signature': sha256, 'x-twilio-webhooks-signature-settings': settings(NEW_KEY) };
    expect(checkTwilioUpgrade({ authToken: AUTH_TOKEN, sharedKeys: keys }, url, headers)).toEqual({
      ok: true,
      keyId: NEW_KEY.id,
    });
    expect(checkTwilioUpgrade({ authToken: AUTH_TOKEN, sharedKeys: keys }, url, headers).ok).toBe(true);
    // Not without the key, not over https://, not with the header dropped, not under another key's id.
    expect(checkTwilioUpgrade({ authToken: AUTH_TOKEN, sharedKeys: [OLD_KEY] }, url, headers)).toEqual({
      ok: false,
      reason: 'shared key not in TWILIO_WEBHOOK_KEYS',
      keyId: NEW_KEY.id,
    });
    expect(
      checkTwilioUpgrade({ authToken: AUTH_TOKEN, sharedKeys: keys }, url.replace('wss:', 'https:'), headers).ok,
    ).toBe(false);
    const ok = (h: Record<string, string>, sharedKeys?: typeof keys) =>
      checkTwilioUpgrade({ authToken: AUTH_TOKEN, sharedKeys }, url, h).ok;
    expect(ok({ 'x-twilio-signature': sha256 }, keys)).toBe(false);
    expect(ok({ ...headers, 'x-twilio-webhooks-signature-settings': settings(OLD_KEY) }, keys)).toBe(false);
    // The auth token signature still opens it, keys configured or not.
    const sha1 = { 'x-twilio-signature': twilioHmac('sha1', AUTH_TOKEN, url, {}) };
    expect(ok(sha1, keys)).toBe(true);
    expect(ok(sha1)).toBe(true);
  });
});

describe('the Twilio fake status callbacks', () => {
  const sms = () =>
    createSmsSender({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, httpClient: fake.httpClient });

  it('arrive signed, pass validation, in order queued, sent, delivered, without the body', async () => {
    const body = 'Your link: http://127.0.0.1:9/secret/abc';
    const { sid } = await sms().send({
      to: '+15550100002',
      body,
      statusCallback: `${base}/twilio/sms-status?share=shr_ok`,
    });
    await fake.settled();

    expect(rejected).toEqual([]);
    expect(received.map((r) => r.form.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
    for (const r of received) {
      expect(r.query).toEqual({ share: 'shr_ok' });
      expect(r.form).toMatchObject({
        MessageSid: sid,
        SmsSid: sid,
        SmsStatus: r.form.MessageStatus,
        AccountSid: ACCOUNT_SID,
        From: FROM,
        To: '+15550100002',
        ApiVersion: '2010-04-01',
      });
      expect(r.form).not.toHaveProperty('Body');
      expect(r.form).not.toHaveProperty('ErrorCode');
      expect(JSON.stringify(r)).not.toContain('/secret/abc');
    }
    expect(received[2]!.form.RawDlrDoneDate).toMatch(/^\d{10}$/);
    expect(fake.outbox()[0]).toMatchObject({ sid, status: 'delivered' });
  });

  it('with a SharedKey (the sandbox with TWILIO_WEBHOOK_KEYS), arrive signed with it, HMAC_SHA256, and pass', async () => {
    const sent: Record<string, string>[] = [];
    const keyed = createTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      sharedKey: NEW_KEY,
      callbackDelayMs: 1,
      fetchCallback: async (url, init) => {
        sent.push(init.headers);
        const res = await request(url, { method: 'POST', ...init });
        await res.body.dump();
        return { statusCode: res.statusCode };
      },
    });
    const sender = createSmsSender({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: FROM,
      httpClient: keyed.httpClient,
    });
    const statusCallback = `${base}/twilio/sms-status?share=shr_key`;
    await sender.send({ to: '+15550100009', body: 'x', statusCallback });
    await keyed.settled();

    expect(rejected).toEqual([]);
    expect(received.map((r) => r.form.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
    received.forEach((r, i) => {
      expect(sent[i]!['x-twilio-webhooks-signature-settings']).toBe(`key=${NEW_KEY.id},algorithm=HMAC_SHA256`);
      expect(sent[i]!['x-twilio-signature']).toBe(twilioHmac('sha256', NEW_KEY.secret, statusCallback, r.form));
    });

    // Once the app no longer holds that key, the same callbacks are refused by its id.
    sharedKeys = [OLD_KEY];
    received.length = 0;
    await sender.send({ to: '+15550100010', body: 'x', statusCallback });
    await keyed.settled();
    expect(received).toEqual([]);
    expect(rejected.map((r) => [r.reason, r.keyId])).toEqual(
      Array(3).fill(['shared key not in TWILIO_WEBHOOK_KEYS', NEW_KEY.id]),
    );
  });

  it('for an undeliverable number: queued, sent, then undelivered with ErrorCode 30003', async () => {
    fake.undeliverable.add('+15550109999');
    const { sid } = await sms().send({
      to: '+15550109999',
      body: 'x',
      statusCallback: `${base}/twilio/sms-status?share=shr_un`,
    });
    await fake.settled();

    expect(rejected).toEqual([]);
    expect(received.map((r) => [r.form.MessageStatus, r.form.ErrorCode])).toEqual([
      ['queued', undefined],
      ['sent', undefined],
      ['undelivered', '30003'],
    ]);
    expect(fake.outbox()[0]).toMatchObject({ sid, status: 'undelivered' });
  });

  it('through a Messaging Service carry MessagingServiceSid and the pool number as From', async () => {
    const service = `MG${'e5'.repeat(16)}`;
    const sender = createSmsSender({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: service,
      httpClient: fake.httpClient,
    });
    await sender.send({ to: '+15550100003', body: 'x', statusCallback: `${base}/twilio/sms-status?share=shr_ms` });
    await fake.settled();
    expect(rejected).toEqual([]);
    expect(received.map((r) => r.form.MessagingServiceSid)).toEqual([service, service, service]);
    expect(received[0]!.form.From).toMatch(/^\+\d+$/);
  });

  it('retry a refused connection a bounded number of times, then give up; the message still progresses', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = express().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    let attempts = 0;
    const refused = createTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      callbackDelayMs: 1,
      fetchCallback: async (url, init) => {
        attempts++;
        const res = await request(url, { method: 'POST', ...init }); // really refused: nothing listens there
        return { statusCode: res.statusCode };
      },
    });
    const sender = createSmsSender({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: FROM,
      httpClient: refused.httpClient,
    });
    await sender.send({
      to: '+15550100004',
      body: 'x',
      statusCallback: `http://127.0.0.1:${closedPort}/twilio/sms-status`,
    });
    await refused.settled();
    expect(attempts).toBe(3 * 4); // three statuses, four attempts each
    expect(refused.outbox()[0]!.status).toBe('delivered');
  });

  it('reach a server that refused the first connection (still starting)', async () => {
    let refusedOnce = false;
    const flaky = createTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      callbackDelayMs: 1,
      fetchCallback: async (url, init) => {
        if (!refusedOnce) {
          refusedOnce = true;
          throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        }
        const res = await request(url, { method: 'POST', ...init });
        await res.body.dump();
        return { statusCode: res.statusCode };
      },
    });
    const sender = createSmsSender({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: FROM,
      httpClient: flaky.httpClient,
    });
    await sender.send({ to: '+15550100008', body: 'x', statusCallback: `${base}/twilio/sms-status` });
    await flaky.settled();
    expect(rejected).toEqual([]);
    expect(received.map((r) => r.form.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
  });

  it('a callback sent by the fake is refused by an app holding another auth token', async () => {
    const other = express();
    other.use(express.urlencoded({ extended: false }));
    const otherRejects: string[] = [];
    let srv: Server | undefined;
    other.post(
      '/cb',
      (req, res, next) =>
        twilioSignatureMiddleware({
          authToken: 'ffffffffffffffffffffffffffffffff',
          publicBaseUrl: `http://127.0.0.1:${(srv!.address() as AddressInfo).port}`,
          onReject: (i) => otherRejects.push(i.reason),
        })(req, res, next),
      (_req, res) => res.status(204).end(),
    );
    srv = await new Promise<Server>((resolve) => {
      const s = other.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      await sms().send({
        to: '+15550100005',
        body: 'x',
        statusCallback: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/cb`,
      });
      await fake.settled();
      expect(otherRejects).toEqual([
        'signature does not match',
        'signature does not match',
        'signature does not match',
      ]);
    } finally {
      await new Promise((r) => srv!.close(r));
    }
  });
});

describe('GET /sandbox/outbox', () => {
  it('lists sent messages, filtered by ?to=', async () => {
    const a = await createSmsSender({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: FROM,
      httpClient: fake.httpClient,
    }).send({ to: '+15550100006', body: 'one' });
    await createSmsSender({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: FROM,
      httpClient: fake.httpClient,
    }).send({ to: '+15550100007', body: 'two' });

    const all = (await (await request(`${base}/sandbox/outbox`)).body.json()) as {
      to: string;
      body: string;
      sid: string;
    }[];
    expect(all.map((m) => [m.to, m.body])).toEqual([
      ['+15550100006', 'one'],
      ['+15550100007', 'two'],
    ]);
    const res = await request(`${base}/sandbox/outbox?to=${encodeURIComponent('+15550100006')}`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual([
      { to: '+15550100006', from: FROM, body: 'one', sid: a.sid, status: 'queued', at: expect.any(String) },
    ]);
  });
});
