// X-Twilio-Signature checking on a real express app on 127.0.0.1, and the Twilio fake's signed status callbacks
// arriving at it through twilio-node's own request path. Loopback only.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import nock from 'nock';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTwilioFake } from '../../src/sandbox/index.js';
import { createSmsSender } from '../../src/twilio/sms.js';
import {
  expectedTwilioSignature,
  twilioSignatureMiddleware,
  validateTwilioUpgrade,
} from '../../src/twilio/signature.js';

const ACCOUNT_SID = `AC${'c3'.repeat(16)}`;
const AUTH_TOKEN = '1234567890abcdef1234567890abcdef';
const FROM = '+15005550006';

const received: { query: Record<string, unknown>; form: Record<string, string> }[] = [];
const rejected: { path: string; reason: string }[] = [];
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
    twilioSignatureMiddleware({ authToken: AUTH_TOKEN, publicBaseUrl: `${base}/`, onReject: (i) => rejected.push(i) })(
      req,
      res,
      next,
    );
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

describe('validateTwilioUpgrade', () => {
  it('accepts the GET signature over the wss:// URL, with no params, and nothing else', () => {
    const url = 'wss://127.0.0.1:8443/twilio/media';
    const sig = expectedTwilioSignature(AUTH_TOKEN, url, {});
    expect(validateTwilioUpgrade(AUTH_TOKEN, url, { 'x-twilio-signature': sig })).toBe(true);
    expect(
      validateTwilioUpgrade(AUTH_TOKEN, 'https://127.0.0.1:8443/twilio/media', { 'x-twilio-signature': sig }),
    ).toBe(false);
    expect(validateTwilioUpgrade('ffffffffffffffffffffffffffffffff', url, { 'x-twilio-signature': sig })).toBe(false);
    expect(validateTwilioUpgrade(AUTH_TOKEN, url, {})).toBe(false);
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
