// A local fake of Twilio's Messages API, reached through twilio-node's own httpClient hook: the real SDK builds
// the request and parses the answer, and this fake answers with Twilio's JSON (Message resource, error bodies with
// `code`/`message`/`more_info`/`status`). Accepted messages are kept in an outbox and, like Twilio, the fake POSTs
// signed status callbacks (queued -> sent -> delivered) to the message's StatusCallback URL.
// https://www.twilio.com/docs/messaging/api/message-resource, .../guides/track-outbound-message-status
import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import { request } from 'undici';
import type { TwilioHttpClient } from '../twilio/sms.js';
import { expectedTwilioSignature } from '../twilio/signature.js';

export interface OutboxMessage {
  to: string;
  from: string;
  body: string;
  sid: string;
  status: string;
  at: string;
}

export interface TwilioFakeOptions {
  accountSid: string;
  authToken: string;
  /** Delay between accepting a message and each status callback. Default 50 ms. */
  callbackDelayMs?: number;
}

type Json = Record<string, unknown>;

const E164 = /^\+[1-9]\d{6,14}$/;
const errorBody = (status: number, code: number, message: string): Json => ({
  code,
  message,
  more_info: `https://www.twilio.com/docs/errors/${code}`,
  status,
});

export function createTwilioFake(opts: TwilioFakeOptions) {
  const delay = opts.callbackDelayMs ?? 50;
  const outbox: OutboxMessage[] = [];
  const undeliverable = new Set<string>();
  const failures: { status: number; code?: number }[] = [];
  const pending = new Set<Promise<void>>();

  const respond = (statusCode: number, body: Json, headers: Record<string, string> = {}) => ({
    statusCode,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });

  async function postCallback(url: string, params: Record<string, string>): Promise<void> {
    const signature = expectedTwilioSignature(opts.authToken, url, params);
    // Twilio retries callbacks that fail to connect; a few bounded attempts cover a server still starting.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'user-agent': 'TwilioProxy/1.1' },
          body: new URLSearchParams(params).toString(),
        });
        await res.body.dump();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
      }
    }
  }

  function progress(msg: OutboxMessage, callback: string | undefined, accountSid: string): void {
    const steps: { status: string; errorCode?: string }[] = undeliverable.has(msg.to)
      ? [{ status: 'queued' }, { status: 'sent' }, { status: 'undelivered', errorCode: '30003' }]
      : [{ status: 'queued' }, { status: 'sent' }, { status: 'delivered' }];
    const run = (async () => {
      for (const step of steps) {
        await new Promise((r) => setTimeout(r, delay));
        msg.status = step.status;
        if (!callback) continue;
        await postCallback(callback, {
          AccountSid: accountSid,
          ApiVersion: '2010-04-01',
          From: msg.from,
          MessageSid: msg.sid,
          MessageStatus: step.status,
          SmsSid: msg.sid,
          SmsStatus: step.status,
          To: msg.to,
          ...(step.errorCode ? { ErrorCode: step.errorCode } : {}),
        });
      }
    })();
    pending.add(run);
    void run.finally(() => pending.delete(run));
  }

  const httpClient: TwilioHttpClient = {
    async request(req) {
      const url = new URL(req.uri);
      if (req.username !== opts.accountSid || req.password !== opts.authToken) {
        return respond(401, errorBody(401, 20003, 'Authenticate'));
      }
      const m = /^\/2010-04-01\/Accounts\/(AC[0-9a-fA-F]{32})\/Messages\.json$/.exec(url.pathname);
      if (req.method.toLowerCase() !== 'post' || !m || url.hostname !== 'api.twilio.com') {
        return respond(404, errorBody(404, 20404, `The requested resource ${url.pathname} was not found`));
      }
      const failure = failures.shift();
      if (failure) {
        const code = failure.code ?? (failure.status === 429 ? 20429 : failure.status >= 500 ? 20500 : 21211);
        return respond(failure.status, errorBody(failure.status, code, failure.status === 429 ? 'Too Many Requests' : 'Simulated failure'), failure.status === 429 ? { 'retry-after': '1' } : {});
      }
      const data = (req.data ?? {}) as Record<string, string | undefined>;
      const to = data.To ?? '';
      if (!E164.test(to)) return respond(400, errorBody(400, 21211, `The 'To' number ${to.slice(0, 20)} is not a valid phone number.`));
      if (!data.Body) return respond(400, errorBody(400, 21602, 'Message body is required.'));
      if (!data.From && !data.MessagingServiceSid) return respond(400, errorBody(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."));

      const sid = `SM${randomBytes(16).toString('hex')}`;
      const now = new Date();
      const from = data.From ?? data.MessagingServiceSid!;
      const msg: OutboxMessage = { to, from, body: data.Body, sid, status: 'queued', at: now.toISOString() };
      outbox.push(msg);
      progress(msg, data.StatusCallback, m[1]!);
      return respond(201, {
        account_sid: m[1],
        api_version: '2010-04-01',
        body: data.Body,
        date_created: now.toUTCString(),
        date_sent: null,
        date_updated: now.toUTCString(),
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: data.From ?? null,
        messaging_service_sid: data.MessagingServiceSid ?? null,
        num_media: '0',
        num_segments: String(Math.max(1, Math.ceil(data.Body.length / 153))),
        price: null,
        price_unit: 'USD',
        sid,
        status: 'queued',
        subresource_uris: { media: `/2010-04-01/Accounts/${m[1]}/Messages/${sid}/Media.json` },
        to,
        uri: `/2010-04-01/Accounts/${m[1]}/Messages/${sid}.json`,
      });
    },
  };

  const router = Router();
  router.get('/sandbox/outbox', (req, res) => {
    const to = typeof req.query.to === 'string' ? req.query.to : undefined;
    res.json(outbox.filter((m) => !to || m.to === to));
  });

  return {
    httpClient,
    router,
    outbox: (): readonly OutboxMessage[] => outbox,
    /** Numbers whose messages end `undelivered` (error 30003, unreachable handset). */
    undeliverable,
    /** The next create answers this error (429 comes with Retry-After: 1). */
    failNext(f: { status: number; code?: number }) {
      failures.push(f);
    },
    /** Resolves when every scheduled status callback has been posted. */
    async settled(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    reset() {
      outbox.length = 0;
      undeliverable.clear();
      failures.length = 0;
    },
  };
}

export type TwilioFake = ReturnType<typeof createTwilioFake>;
