// The SMS sender runs the real twilio-node SDK (URL building, form encoding, RestException parsing) against the
// Twilio fake plugged in as the SDK's httpClient. The network is closed apart from loopback: the SDK's
// api.twilio.com URL is answered in-process by the fake and never leaves it.
import nock from 'nock';
import twilio from 'twilio';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTwilioFake } from '../../src/sandbox/index.js';
import {
  createSmsSender,
  SmsRateLimitedError,
  SmsRejectedError,
  SmsUnavailableError,
  type TwilioHttpClient,
  type TwilioHttpRequest,
} from '../../src/twilio/sms.js';

const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
const AUTH_TOKEN = 'f'.repeat(32);
const FROM = '+15005550006';
const SERVICE_SID = `MG${'b2'.repeat(16)}`;
const NOW = new Date('2026-03-04T05:06:07.000Z');
const BODY = 'Your one-time link: http://127.0.0.1:3000/secret/onetimelinkcredential123 (works once)';

const fake = createTwilioFake({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, now: () => NOW });

/** The fake, with every request the SDK hands its httpClient recorded. */
const seen: TwilioHttpRequest[] = [];
const recording: TwilioHttpClient = {
  request(req) {
    seen.push(req);
    return fake.httpClient.request(req);
  },
};

const sender = (over: { authToken?: string; from?: string; httpClient?: TwilioHttpClient } = {}) =>
  createSmsSender({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, httpClient: recording, ...over });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});
beforeEach(() => {
  fake.reset();
  seen.length = 0;
});

describe('createSmsSender through the real SDK and the Twilio fake', () => {
  it('sends a message: the SDK posts the Messages form with Basic auth, the outbox holds it, the sid matches', async () => {
    const r = await sender().send({ to: '+15550100001', body: BODY });

    expect(r.status).toBe('queued');
    expect(r.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(fake.outbox()).toEqual([
      { to: '+15550100001', from: FROM, body: BODY, sid: r.sid, status: 'queued', at: NOW.toISOString() },
    ]);

    const req = seen[0]!;
    expect(req.method).toBe('post');
    expect(req.uri).toBe(`https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`);
    expect(req.headers?.['Content-Type']).toBe('application/x-www-form-urlencoded');
    expect(req.data).toEqual({ To: '+15550100001', From: FROM, Body: BODY });
    expect([req.username, req.password]).toEqual([ACCOUNT_SID, AUTH_TOKEN]);
  });

  it('answers with the Message resource JSON that the SDK maps to a MessageInstance', async () => {
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient: fake.httpClient as unknown as twilio.RequestClient });
    const m = await client.messages.create({ to: '+15550100002', from: FROM, body: 'hi €', statusCallback: undefined });
    expect(m).toMatchObject({
      accountSid: ACCOUNT_SID,
      apiVersion: '2010-04-01',
      body: 'hi €',
      direction: 'outbound-api',
      errorCode: null,
      from: FROM,
      messagingServiceSid: null,
      numSegments: '1',
      status: 'queued',
      to: '+15550100002',
      uri: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${m.sid}.json`,
    });
    expect(m.dateCreated.toISOString()).toBe(NOW.toISOString()); // parsed from RFC 2822 "Wed, 04 Mar 2026 05:06:07 +0000"
  });

  it('a Messaging Service SID as sender goes out as MessagingServiceSid, not From', async () => {
    const r = await sender({ from: SERVICE_SID }).send({ to: '+15550100003', body: BODY });
    expect(seen[0]!.data).toEqual({ To: '+15550100003', MessagingServiceSid: SERVICE_SID, Body: BODY });
    expect(r.status).toBe('accepted');
    expect(fake.outbox()[0]).toMatchObject({ from: SERVICE_SID, sid: r.sid });
  });

  it('a wrong auth token is a non-retryable SmsRejectedError carrying Twilio code 20003', async () => {
    const err = await failure(sender({ authToken: 'e'.repeat(32) }).send({ to: '+15550100004', body: BODY }));
    expect(err).toBeInstanceOf(SmsRejectedError);
    expect(err).toMatchObject({ code: 'SMS_REJECTED', retryable: false, status: 401, twilioCode: 20003 });
    expect(fake.outbox()).toHaveLength(0);
  });

  it('an invalid To is SmsRejectedError 21211 with more_info', async () => {
    const err = await failure(sender().send({ to: '555-0100', body: BODY }));
    expect(err).toBeInstanceOf(SmsRejectedError);
    expect(err).toMatchObject({
      code: 'SMS_REJECTED',
      status: 400,
      twilioCode: 21211,
      moreInfo: 'https://www.twilio.com/docs/errors/21211',
    });
    expect(err.message).toMatch(/21211.*not a valid phone number/);
  });

  it("Twilio's text about a number it refused reaches the error masked, as notes show a recipient", async () => {
    fake.failNext({ status: 400 });
    const err = await failure(sender().send({ to: '+15550100009', body: BODY }));
    expect(err.message).toContain("The 'To' number +155*****009 is not a valid phone number");
    expect(err.message).not.toContain('+15550100009');
  });

  it('HTTP 429 is a retryable SmsRateLimitedError with retryAfterMs from Retry-After', async () => {
    fake.failNext({ status: 429 });
    const err = await failure(sender().send({ to: '+15550100005', body: BODY }));
    expect(err).toBeInstanceOf(SmsRateLimitedError);
    expect(err).toMatchObject({
      code: 'SMS_RATE_LIMITED',
      retryable: true,
      status: 429,
      twilioCode: 20429,
      retryAfterMs: 1000,
    });
    // failNext applies once: the retry goes through
    await expect(sender().send({ to: '+15550100005', body: BODY })).resolves.toMatchObject({ status: 'queued' });
  });

  it('HTTP 500 is a retryable SmsUnavailableError', async () => {
    fake.failNext({ status: 500 });
    const err = await failure(sender().send({ to: '+15550100006', body: BODY }));
    expect(err).toBeInstanceOf(SmsUnavailableError);
    expect(err).toMatchObject({ code: 'SMS_UNAVAILABLE', retryable: true, status: 500, twilioCode: 20500 });
  });

  it('a 400 with another Twilio code keeps that code', async () => {
    fake.failNext({ status: 400, code: 21610 });
    const err = await failure(sender().send({ to: '+15550100007', body: BODY }));
    expect(err).toMatchObject({
      code: 'SMS_REJECTED',
      twilioCode: 21610,
      moreInfo: 'https://www.twilio.com/docs/errors/21610',
    });
  });

  it('no answer at all (the SDK own RequestClient, network closed by nock) is SmsUnavailableError', async () => {
    // Without httpClient the sender uses twilio-node's RequestClient (axios); nock refuses the connection.
    const live = createSmsSender({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM });
    const err = await failure(live.send({ to: '+15550100008', body: BODY }));
    expect(err).toBeInstanceOf(SmsUnavailableError);
    expect(err.message).toMatch(/could not be reached/);
  });

  it('no error message or property carries the message body or its link', async () => {
    const errors: Error[] = [];
    errors.push(await failure(sender({ authToken: 'e'.repeat(32) }).send({ to: '+15550100009', body: BODY })));
    errors.push(await failure(sender().send({ to: 'not-a-number', body: BODY })));
    for (const status of [429, 500, 400] as const) {
      fake.failNext({ status });
      errors.push(await failure(sender().send({ to: '+15550100009', body: BODY })));
    }
    errors.push(
      await failure(
        createSmsSender({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM }).send({
          to: '+15550100009',
          body: BODY,
        }),
      ),
    );
    // A server that echoes the body back in its error message still does not get it into ours.
    const echo: TwilioHttpClient = {
      request: async (req) => ({
        statusCode: 400,
        body: JSON.stringify({
          code: 21617,
          message: `Bad body: ${String((req.data as { Body: string }).Body)}`,
          status: 400,
        }),
        headers: {},
      }),
    };
    errors.push(await failure(sender({ httpClient: echo }).send({ to: '+15550100009', body: BODY })));

    expect(errors.map((e) => e.name)).toEqual([
      'SmsRejectedError',
      'SmsRejectedError',
      'SmsRateLimitedError',
      'SmsUnavailableError',
      'SmsRejectedError',
      'SmsUnavailableError',
      'SmsRejectedError',
    ]);
    for (const e of errors) {
      const text = `${e.message} ${JSON.stringify(e)} ${String(e.stack)}`;
      expect(text).not.toContain('onetimelinkcredential123');
      expect(text).not.toContain('works once');
    }
  });
});

describe('the Twilio fake as an API', () => {
  it('answers other resources with a Twilio-shaped 404 that the SDK raises as RestException', async () => {
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient: fake.httpClient as unknown as twilio.RequestClient });
    const err = await failure(client.messages(`SM${'0'.repeat(32)}`).fetch());
    expect(err).toBeInstanceOf(twilio.RestException);
    expect(err).toMatchObject({ status: 404, code: 20404, moreInfo: 'https://www.twilio.com/docs/errors/20404' });
  });

  it('answers a bad credential with the 401 JSON Twilio sends', async () => {
    const res = await fake.httpClient.request({
      method: 'post',
      uri: `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`,
      username: ACCOUNT_SID,
      password: 'wrong',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      data: { To: '+15550100010', From: FROM, Body: 'x' },
    });
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body as string)).toEqual({
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
      detail: 'Your AccountSid or AuthToken was incorrect.',
    });
  });

  it('counts segments as carriers do (GSM-7 160/153, UCS-2 70/67)', async () => {
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient: fake.httpClient as unknown as twilio.RequestClient });
    const count = async (body: string) =>
      (await client.messages.create({ to: '+15550100011', from: FROM, body })).numSegments;
    expect(await count('a'.repeat(160))).toBe('1');
    expect(await count('a'.repeat(161))).toBe('2');
    expect(await count('['.repeat(80))).toBe('1');
    expect(await count('é'.repeat(160))).toBe('1'); // é is in the GSM-7 basic set
    expect(await count('ł'.repeat(71))).toBe('2');
  });
});
