// The service's own Twilio routes (src/http/twilio-webhooks.ts: SMS status, voice TwiML, call status) on a real
// express app on 127.0.0.1, with TWILIO_WEBHOOK_KEYS set: each accepts a request signed with a SharedKey as Twilio
// signs it under a Webhook Rule, and one signed with the auth token; the replay guard refuses a repeat in both modes;
// a key id we do not hold is refused with a log line naming it, never a secret. Temporal is a stub that records the
// signals. Loopback only.
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import express from 'express';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { twilioRouter } from '../../src/http/twilio-webhooks.js';
import type { TwilioWebhookKey } from '../../src/twilio/webhook-keys.js';
import { captureLog } from '../helpers/log-capture.js';

const AUTH_TOKEN = '0123456789abcdef0123456789abcdef';
const KEY: TwilioWebhookKey = {
  id: 'webhooks_sharedkey_01K0ROUTEROUTEROUTEROUTE1',
  secret: 'router-shared-secret-7c1d9e',
};
const OTHER: TwilioWebhookKey = {
  id: 'webhooks_sharedkey_01K0OTHEROTHEROTHEROTHE1',
  secret: 'other-shared-secret-4a2b8f',
};
const MESSAGE_SID = `SM${'ab'.repeat(16)}`;
const CALL_SID = `CA${'cd'.repeat(16)}`;

/**
 * Twilio's documented signature, computed without the code under test: the full URL, then each POST parameter's
 * name and value sorted by name, HMAC (SHA-1 with the auth token; SHA-1 or SHA-256 with a SharedKey, as named in
 * X-Twilio-Webhooks-Signature-Settings), base64 (https://www.twilio.com/docs/usage/webhooks/webhooks-security;
 * https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys; twilio-node lib/webhooks/webhooks.js).
 */
function twilioHmac(hash: 'sha1' | 'sha256', key: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac(hash, key).update(data, 'utf8').digest('base64');
}

const cap = captureLog();
const signals: { workflowId: string; arg: unknown }[] = [];
const client = {
  workflow: {
    getHandle: (workflowId: string) => ({
      signal: async (_signal: unknown, arg: unknown) => void signals.push({ workflowId, arg }),
    }),
  },
} as unknown as Client;
let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  // The router is built once the port is known: PUBLIC_BASE_URL is what Twilio signs over.
  let router: express.Router | undefined;
  app.use((req, res, next) => router!(req, res, next));
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  router = twilioRouter({
    client,
    authToken: AUTH_TOKEN,
    sharedKeys: [KEY],
    publicBaseUrl: base,
    log: cap.log,
    voice: { callToken: () => 'v1.token.x', streamUrl: (t) => `wss://127.0.0.1/twilio/media/${t}` },
  });
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  signals.length = 0;
  cap.lines.length = 0;
});

type Signer = { hash: 'sha1' | 'sha256'; key: string; settings?: string };
const byKey = (k: TwilioWebhookKey, hash: 'sha1' | 'sha256' = 'sha256'): Signer => ({
  hash,
  key: k.secret,
  settings: `key=${k.id},algorithm=${hash === 'sha256' ? 'HMAC_SHA256' : 'HMAC_SHA1'}`,
});
const byToken: Signer = { hash: 'sha1', key: AUTH_TOKEN };

async function post(path: string, form: Record<string, string>, s: Signer) {
  const res = await request(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilioHmac(s.hash, s.key, `${base}${path}`, form),
      ...(s.settings ? { 'x-twilio-webhooks-signature-settings': s.settings } : {}),
    },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.statusCode, text: await res.body.text() };
}

const rejections = () =>
  cap.lines
    .map((l) => JSON.parse(l) as { msg: string; path: string; reason: string; keyId?: string })
    .filter((l) => l.msg === 'twilio webhook rejected')
    .map(({ path, reason, keyId }) => ({ path, reason, keyId }));

describe('Twilio webhooks with TWILIO_WEBHOOK_KEYS', () => {
  it.each<[string, Signer]>([
    ['a SharedKey (HMAC_SHA256)', byKey(KEY)],
    ['a SharedKey (HMAC_SHA1)', byKey(KEY, 'sha1')],
    ['the auth token', byToken],
  ])('an SMS status callback signed with %s is handled once; its replay gets 403', async (_name, signer) => {
    const path = `/twilio/sms-status?share=shr_${signer.hash}${signer.settings ? 'k' : 't'}`;
    const form = { MessageSid: MESSAGE_SID, MessageStatus: 'delivered', AccountSid: `AC${'0'.repeat(32)}` };
    expect((await post(path, form, signer)).status).toBe(204);
    expect(signals).toHaveLength(1);
    const replay = await post(path, form, signer);
    expect(replay.status).toBe(403);
    expect(JSON.parse(replay.text)).toEqual({ error: 'replayed Twilio request' });
    expect(signals).toHaveLength(1);
    expect(rejections()).toEqual([{ path: '/twilio/sms-status', reason: 'replayed' }]);
  });

  it('a call status callback signed with a SharedKey is handled once; its replay gets 403', async () => {
    const form = { CallSid: CALL_SID, CallStatus: 'completed' };
    expect((await post('/twilio/call-status', form, byKey(KEY))).status).toBe(204);
    expect((await post('/twilio/call-status', form, byKey(KEY))).status).toBe(403);
    expect(signals).toHaveLength(1);
    expect(rejections()).toEqual([{ path: '/twilio/call-status', reason: 'replayed' }]);
  });

  it('the voice webhook signed with a SharedKey gets its TwiML', async () => {
    const res = await post('/twilio/voice', { CallSid: CALL_SID }, byKey(KEY));
    expect(res.status).toBe(200);
    expect(res.text).toContain('<Stream url="wss://127.0.0.1/twilio/media/v1.token.x">');
  });

  it('a key id we do not hold, a wrong secret or a tampered form: 403 on every route, logged by key id only', async () => {
    const sms = { MessageSid: MESSAGE_SID, MessageStatus: 'failed' };
    const forged: [string, Record<string, string>, Signer][] = [
      ['/twilio/sms-status?share=shr_x', sms, byKey(OTHER)],
      ['/twilio/voice', { CallSid: CALL_SID }, byKey(OTHER)],
      ['/twilio/call-status', { CallSid: CALL_SID, CallStatus: 'failed' }, byKey(OTHER)],
      ['/twilio/sms-status?share=shr_x', sms, { ...byKey(KEY), key: OTHER.secret }],
    ];
    for (const [path, form, signer] of forged) {
      const res = await post(path, form, signer);
      expect(res.status, path).toBe(403);
      expect(JSON.parse(res.text)).toEqual({ error: 'invalid Twilio signature' });
    }
    expect(signals).toEqual([]);
    expect(rejections()).toEqual([
      { path: '/twilio/sms-status', reason: 'shared key not in TWILIO_WEBHOOK_KEYS', keyId: OTHER.id },
      { path: '/twilio/voice', reason: 'shared key not in TWILIO_WEBHOOK_KEYS', keyId: OTHER.id },
      { path: '/twilio/call-status', reason: 'shared key not in TWILIO_WEBHOOK_KEYS', keyId: OTHER.id },
      { path: '/twilio/sms-status', reason: 'signature does not match', keyId: KEY.id },
    ]);
    expect(cap.text()).not.toContain(KEY.secret);
    expect(cap.text()).not.toContain(OTHER.secret);
    expect(cap.text()).not.toContain(AUTH_TOKEN);
  });
});
