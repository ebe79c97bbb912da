// A local fake of Twilio's Messages API, reached through twilio-node's own httpClient hook (ClientOpts.httpClient;
// lib/base/BaseTwilio.js `request`): the real SDK builds the URL and form, and parses this fake's answers into a
// MessageInstance or a RestException, exactly as it does with api.twilio.com. Nothing here touches the network
// except the status callbacks, which go only to loopback URLs.
//
// Wire format: https://www.twilio.com/docs/messaging/api/message-resource (Message JSON, snake_case),
// https://www.twilio.com/docs/usage/twilios-response (error JSON: code, message, more_info, status),
// https://www.twilio.com/docs/messaging/guides/track-outbound-message-status (status callbacks).
import { isLoopbackUrl } from '../loopback.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Router } from 'express';
import { request } from 'undici';
import type { TwilioHttpClient, TwilioHttpRequest, TwilioHttpResponse } from '../twilio/sms.js';
import { expectedTwilioSignature, SIGNATURE_SETTINGS_HEADER } from '../twilio/signature.js';
import type { TwilioWebhookKey } from '../twilio/webhook-keys.js';

export interface OutboxMessage {
  to: string;
  /** The sender asked for: the From number, or the Messaging Service SID. */
  from: string;
  body: string;
  sid: string;
  /** Latest status: accepted/queued at creation, then as the status callbacks progress. */
  status: string;
  /** When the message was created (ISO 8601). */
  at: string;
}

/** Posts one status callback; the default uses undici. Rejects when no connection could be made. */
export type CallbackPoster = (
  url: string,
  init: { headers: Record<string, string>; body: string },
) => Promise<{ statusCode: number }>;

export interface TwilioFakeOptions {
  accountSid: string;
  authToken: string;
  /**
   * Sign the status callbacks with this SharedKey (HMAC_SHA256, announced in X-Twilio-Webhooks-Signature-Settings)
   * instead of the auth token, as Twilio does for a URL a Webhook Rule matches. The sandbox passes the first of
   * TWILIO_WEBHOOK_KEYS.
   */
  sharedKey?: TwilioWebhookKey;
  /** Delay before each status callback. Default 50 ms. */
  callbackDelayMs?: number;
  now?: () => Date;
  fetchCallback?: CallbackPoster;
  /** Numbers whose messages end `undelivered` with ErrorCode 30003; also `fake.undeliverable` at run time. */
  undeliverable?: Iterable<string>;
  /** Called with each message the moment it is accepted (the benchmark times hand-offs by it). */
  onMessage?: (msg: OutboxMessage) => void;
}

export interface FailNext {
  status: 400 | 429 | 500;
  /** Twilio error code; default 21211 (400), 20429 (429), 20500 (500). */
  code?: number;
}

const API_VERSION = '2010-04-01';
const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;
const E164 = /^\+[1-9]\d{1,14}$/;
// With a Messaging Service and no From, Twilio picks a sender from the service's pool and reports it in the
// callbacks' From. The fake's pool is Twilio's magic test sender number.
const SERVICE_POOL_NUMBER = '+15005550006';
const CALLBACK_ATTEMPTS = 4; // connection refused: 1 try + 3 retries, 100/200/400 ms apart

// Messages as Twilio words them (https://www.twilio.com/docs/api/errors/<code>).
const ERROR_MESSAGES: Record<number, string> = {
  20003: 'Authenticate',
  20429: 'Too Many Requests',
  20500: 'Internal Server Error',
  21211: "The 'To' number is not a valid phone number.",
  21602: 'Message body is required.',
  21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
  21604: "A 'To' phone number is required.",
  21609: "Invalid 'StatusCallback' url.",
  21610: 'Attempt to send to unsubscribed recipient',
  21617: 'The concatenated message body exceeds the 1600 character limit.',
};

export function createTwilioFake(opts: TwilioFakeOptions) {
  const delayMs = opts.callbackDelayMs ?? 50;
  const now = opts.now ?? (() => new Date());
  const post = opts.fetchCallback ?? postWithUndici;
  const initialUndeliverable = [...(opts.undeliverable ?? [])];
  const undeliverable = new Set<string>(initialUndeliverable);
  const outbox: OutboxMessage[] = [];
  const failures: FailNext[] = [];
  const pending = new Set<Promise<void>>();
  let generation = 0; // bumped by reset(): callback runs of an older generation stop

  const httpClient: TwilioHttpClient = {
    async request(req) {
      const url = new URL(req.uri);
      // Twilio authenticates before routing: a wrong credential is 401 on every path.
      if ((await authorization(req)) !== basic(opts.accountSid, opts.authToken)) {
        return answer(401, twilioError(401, 20003, { detail: 'Your AccountSid or AuthToken was incorrect.' }), {
          'www-authenticate': 'Basic realm="Twilio API"',
        });
      }
      const path = MESSAGES_PATH.exec(url.pathname);
      if (url.hostname !== 'api.twilio.com' || req.method.toLowerCase() !== 'post' || path?.[1] !== opts.accountSid) {
        return answer(
          404,
          twilioError(404, 20404, { message: `The requested resource ${url.pathname} was not found` }),
        );
      }
      const failure = failures.shift();
      if (failure) {
        const code = failure.code ?? (failure.status === 429 ? 20429 : failure.status === 500 ? 20500 : 21211);
        // 21211 names the number, as Twilio's does (the E.164 check below words it the same way).
        const to = formOf(req).get('To');
        const named = code === 21211 && to ? { message: `The 'To' number ${to} is not a valid phone number.` } : {};
        return answer(
          failure.status,
          twilioError(failure.status, code, named),
          failure.status === 429 ? { 'retry-after': '1' } : {},
        );
      }
      return createMessage(formOf(req));
    },
  };

  function createMessage(form: URLSearchParams): TwilioHttpResponse {
    const to = form.get('To');
    const from = form.get('From');
    const service = form.get('MessagingServiceSid');
    const body = form.get('Body');
    const statusCallback = form.get('StatusCallback');
    if (!to) return answer(400, twilioError(400, 21604));
    if (!E164.test(to))
      return answer(400, twilioError(400, 21211, { message: `The 'To' number ${to} is not a valid phone number.` }));
    if (!from && !service) return answer(400, twilioError(400, 21603));
    if (!body) return answer(400, twilioError(400, 21602));
    if (body.length > 1600) return answer(400, twilioError(400, 21617));
    if (statusCallback !== null && !isHttpUrl(statusCallback)) return answer(400, twilioError(400, 21609));

    const created = now();
    const sid = `SM${randomBytes(16).toString('hex')}`;
    // Without a Messaging Service a new message is `queued`; with one it is `accepted` until a sender is chosen.
    const status = from ? 'queued' : 'accepted';
    const msg: OutboxMessage = { to, from: from ?? service!, body, sid, status, at: created.toISOString() };
    outbox.push(msg);
    opts.onMessage?.({ ...msg });
    if (statusCallback) {
      track(
        sendStatusCallbacks(msg, statusCallback, {
          From: from ?? SERVICE_POOL_NUMBER,
          ...(service ? { MessagingServiceSid: service } : {}),
        }),
      );
    }
    const uri = `/${API_VERSION}/Accounts/${opts.accountSid}/Messages/${sid}`;
    return answer(201, {
      account_sid: opts.accountSid,
      api_version: API_VERSION,
      body,
      date_created: rfc2822(created),
      date_sent: null,
      date_updated: rfc2822(created),
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from,
      messaging_service_sid: service,
      num_media: '0',
      num_segments: String(segments(body)),
      price: null,
      price_unit: 'USD',
      sid,
      status,
      subresource_uris: { media: `${uri}/Media.json` },
      to,
      uri: `${uri}.json`,
    });
  }

  /** queued -> sent -> delivered (or undelivered, 30003 unreachable handset), one signed POST each, in order. */
  async function sendStatusCallbacks(msg: OutboxMessage, url: string, sender: Record<string, string>): Promise<void> {
    const gen = generation;
    const final = undeliverable.has(msg.to)
      ? { MessageStatus: 'undelivered', ErrorCode: '30003' }
      : { MessageStatus: 'delivered' };
    for (const step of [{ MessageStatus: 'queued' }, { MessageStatus: 'sent' }, final]) {
      await sleep(delayMs);
      if (gen !== generation) return;
      msg.status = step.MessageStatus;
      // Loopback only: the fake never sends anything off this machine.
      if (!isLoopbackUrl(url)) continue;
      const done = step.MessageStatus === 'delivered' || step.MessageStatus === 'undelivered';
      // Status callbacks carry no Body (track-outbound-message-status); SmsSid/SmsStatus are the legacy twins.
      const params: Record<string, string> = {
        AccountSid: opts.accountSid,
        ApiVersion: API_VERSION,
        ...sender,
        MessageSid: msg.sid,
        MessageStatus: step.MessageStatus,
        SmsSid: msg.sid,
        SmsStatus: step.MessageStatus,
        To: msg.to,
        ...('ErrorCode' in step ? { ErrorCode: step.ErrorCode } : {}),
        ...(done ? { RawDlrDoneDate: dlrDate(now()) } : {}),
      };
      await postCallback(url, params);
    }
  }

  async function postCallback(url: string, params: Record<string, string>): Promise<void> {
    const init = {
      headers: {
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        'user-agent': 'TwilioProxy/1.1',
        'i-twilio-idempotency-token': randomUUID(),
        // Signed over the exact URL given in StatusCallback, query string included, and every posted parameter.
        ...(opts.sharedKey
          ? {
              'x-twilio-signature': expectedTwilioSignature(opts.sharedKey.secret, url, params, 'HMAC_SHA256'),
              [SIGNATURE_SETTINGS_HEADER.toLowerCase()]: `key=${opts.sharedKey.id},algorithm=HMAC_SHA256`,
            }
          : { 'x-twilio-signature': expectedTwilioSignature(opts.authToken, url, params) }),
      },
      body: new URLSearchParams(params).toString(),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await post(url, init);
        return; // any HTTP answer ends it: Twilio does not retry a status callback that got a response
      } catch (err) {
        // A server still starting (or restarting) refuses the connection: a few bounded retries cover that.
        if ((err as { code?: unknown }).code !== 'ECONNREFUSED' || attempt >= CALLBACK_ATTEMPTS) return;
        await sleep(100 * 2 ** (attempt - 1));
      }
    }
  }

  function track(run: Promise<void>): void {
    const p = run.catch(() => undefined).finally(() => pending.delete(p));
    pending.add(p);
  }

  const router = Router();
  router.get('/sandbox/outbox', (req, res) => {
    const to = typeof req.query.to === 'string' ? req.query.to : undefined;
    res.json(snapshot().filter((m) => to === undefined || m.to === to));
  });

  const snapshot = (): OutboxMessage[] => outbox.map((m) => ({ ...m }));

  return {
    httpClient,
    router,
    /** Messages accepted so far, oldest first (copies). */
    outbox: snapshot,
    /** Numbers whose messages end `undelivered` with ErrorCode 30003 (unreachable handset). */
    undeliverable,
    /** The next create answers this error, in Twilio's JSON; 429 comes with `Retry-After: 1`. */
    failNext(f: FailNext): void {
      failures.push(f);
    },
    /** Resolves once every scheduled status callback has been posted (or given up). */
    async settled(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    /** Empties the outbox and queued failures, restores the undeliverable set, and stops pending callbacks. */
    reset(): void {
      generation++;
      outbox.length = 0;
      failures.length = 0;
      undeliverable.clear();
      for (const n of initialUndeliverable) undeliverable.add(n);
    },
  };
}

export type TwilioFake = ReturnType<typeof createTwilioFake>;

/** Twilio waits up to 15 s for a webhook answer (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides). */
async function postWithUndici(
  url: string,
  init: { headers: Record<string, string>; body: string },
): Promise<{ statusCode: number }> {
  const res = await request(url, {
    method: 'POST',
    headers: init.headers,
    body: init.body,
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
  });
  await res.body.dump();
  return { statusCode: res.statusCode };
}

/** Twilio's error JSON (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions). */
function twilioError(
  status: number,
  code: number,
  extra: { message?: string; detail?: string } = {},
): Record<string, unknown> {
  return {
    code,
    message: extra.message ?? ERROR_MESSAGES[code] ?? 'Simulated failure',
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
    ...(extra.detail ? { detail: extra.detail } : {}),
  };
}

/**
 * As RequestClient resolves it: `{ statusCode, body, headers }` with lower-case header names (axios). The body
 * is the JSON text as it comes off the wire; the SDK parses strings itself (Version.create, RestException).
 */
function answer(
  statusCode: number,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): TwilioHttpResponse {
  return {
    statusCode,
    body: JSON.stringify(body),
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'twilio-request-id': `RQ${randomBytes(16).toString('hex')}`,
      ...headers,
    },
  };
}

/** The Authorization header RequestClient.request would send for these options. */
async function authorization(req: TwilioHttpRequest): Promise<string | undefined> {
  if (req.username && req.password) return basic(req.username, req.password);
  const strategy = req.authStrategy as { getAuthString?: () => Promise<string> } | undefined;
  return strategy?.getAuthString ? strategy.getAuthString() : undefined;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * The form RequestClient would put on the wire: it encodes `data` (qs, arrayFormat "repeat") only when
 * Content-Type is exactly application/x-www-form-urlencoded, which messages.create sets.
 */
function formOf(req: TwilioHttpRequest): URLSearchParams {
  const form = new URLSearchParams();
  if (req.headers?.['Content-Type'] !== 'application/x-www-form-urlencoded') return form;
  for (const [name, value] of Object.entries((req.data ?? {}) as Record<string, unknown>)) {
    for (const v of Array.isArray(value) ? value : [value])
      if (v !== undefined && v !== null) form.append(name, String(v));
  }
  return form;
}

function isHttpUrl(s: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}

/** Twilio's dates: RFC 2822, "Thu, 24 Aug 2023 05:01:45 +0000". */
function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

/** RawDlrDoneDate: the carrier's YYMMDDhhmm. */
function dlrDate(d: Date): string {
  return d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d).*$/, '$1$2$3$4$5');
}

// GSM-7 basic set, and the extension set whose characters take two septets (3GPP TS 23.038).
const GSM7 =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENDED = '^{}\\[~]|€\f';

/** Segments as carriers count them: 160/153 GSM-7 septets, else 70/67 UCS-2 units. */
function segments(body: string): number {
  let septets = 0;
  for (const ch of body) {
    if (GSM7.includes(ch)) septets += 1;
    else if (GSM7_EXTENDED.includes(ch)) septets += 2;
    else return body.length <= 70 ? 1 : Math.ceil(body.length / 67);
  }
  return septets <= 160 ? 1 : Math.ceil(septets / 153);
}
