// The media-stream WebSocket endpoint on a real http server on 127.0.0.1, opened by a real `ws` client as Twilio
// would: the upgrade is signed over the call's own wss:// URL (…/twilio/media/<call token>) with no parameters, once; anything else gets a
// 403 status line before any WebSocket exists; signed with the auth token, or with a SharedKey of TWILIO_WEBHOOK_KEYS
// named in X-Twilio-Webhooks-Signature-Settings. Frames flow both ways; a start without a valid call token is closed.
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { expectedTwilioSignature } from '../../src/twilio/signature.js';
import {
  CALL_TOKEN_PARAMETER,
  callToken,
  createMediaStreamServer,
  mediaStreamUrl,
  verifyCallToken,
  type MediaStreamServer,
} from '../../src/voice/media-server.js';
import type { MediaSession } from '../../src/voice/media-session.js';
import { captureLog } from '../helpers/log-capture.js';
import { CALL_SID, rawUpgrade as upgradeOn, twilioStream } from '../helpers/twilio-stream.js';

const AUTH_TOKEN = 'f00dfeedf00dfeedf00dfeedf00dfeed';
const KEY = Buffer.alloc(32, 7);
/** TWILIO_WEBHOOK_KEYS of the server under test: one SharedKey. */
const SHARED = { id: 'webhooks_sharedkey_01K0MEDIAMEDIAMEDIAMEDIA1', secret: 'media-shared-secret-9b3f1c' };

/**
 * A SharedKey signature of the upgrade as Twilio documents it, computed without the code under test: HMAC of the
 * wss:// URL alone (a GET has no parameters) with the key's secret, base64, the algorithm named in
 * X-Twilio-Webhooks-Signature-Settings (https://www.twilio.com/docs/usage/webhooks/webhooks-security;
 * https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys; twilio-node lib/webhooks/webhooks.js).
 */
function sharedKeyHeaders(url: string, key = SHARED, algorithm: 'HMAC_SHA256' | 'HMAC_SHA1' = 'HMAC_SHA256') {
  const hash = algorithm === 'HMAC_SHA256' ? 'sha256' : 'sha1';
  return {
    'X-Twilio-Signature': createHmac(hash, key.secret).update(url, 'utf8').digest('base64'),
    'X-Twilio-Webhooks-Signature-Settings': `key=${key.id},algorithm=${algorithm}`,
  };
}

let http: Server;
let port: number;
let media: MediaStreamServer;
const cap = captureLog();
const sessions: MediaSession[] = [];
const clients: WebSocket[] = [];

beforeAll(async () => {
  http = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  port = (http.address() as AddressInfo).port;
  media = createMediaStreamServer({
    publicBaseUrl: `http://127.0.0.1:${port}/`,
    authToken: AUTH_TOKEN,
    sharedKeys: [SHARED],
    callTokenKey: KEY,
    log: cap.log,
    onSession: (s) => sessions.push(s),
  });
  media.attach(http);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});
afterAll(async () => {
  await media.close();
  await new Promise((r) => http.close(r));
});

/** A call's stream: the token in the path, the wss:// URL Twilio signs, and the signature it sends. */
function callStream(callSid = CALL_SID, token = callToken(KEY, callSid)) {
  const path = `/twilio/media/${token}`;
  const url = `wss://127.0.0.1:${port}${path}`;
  return { token, path, url, signature: sign(url) };
}
const sign = (url: string, token = AUTH_TOKEN) => expectedTwilioSignature(token, url, {});

const rawUpgrade = (path: string, headers: Record<string, string>) => upgradeOn(port, path, headers);

/** Opens the stream as Twilio does; resolves once open, with the frames the service sends. */
async function openStream(stream = callStream()) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${stream.path}`, {
    headers: { 'X-Twilio-Signature': stream.signature },
  });
  clients.push(ws);
  const received: { text: string; binary: boolean }[] = [];
  ws.on('message', (data, isBinary) => received.push({ text: data.toString(), binary: isBinary }));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, received, closed, send: (f: unknown) => ws.send(JSON.stringify(f)) };
}

async function until(cond: () => boolean, what: string) {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('media stream upgrade', () => {
  it("builds the signed URL as wss:// on PUBLIC_BASE_URL's host, whatever its scheme, one per call", () => {
    expect(media.url).toBe(`wss://127.0.0.1:${port}/twilio/media`);
    expect(media.streamUrl('v1.abc.x')).toBe(`wss://127.0.0.1:${port}/twilio/media/v1.abc.x`);
    expect(mediaStreamUrl('https://voice.example.com')).toBe('wss://voice.example.com/twilio/media');
    expect(mediaStreamUrl('https://example.com:8443/ots/')).toBe('wss://example.com:8443/ots/twilio/media');
  });

  it('answers 403 to an unsigned, wrongly signed, other-URL-signed, tokenless, expired or query-string upgrade, before any WebSocket', async () => {
    const before = cap.lines.length;
    const c = callStream();
    expect(await rawUpgrade(c.path, {})).toBe('HTTP/1.1 403 Forbidden');
    expect(await rawUpgrade(c.path, { 'X-Twilio-Signature': sign(c.url, 'another-auth-token') })).toBe(
      'HTTP/1.1 403 Forbidden',
    );
    expect(await rawUpgrade(c.path, { 'X-Twilio-Signature': sign(c.url.replace('wss:', 'https:')) })).toBe(
      'HTTP/1.1 403 Forbidden',
    );
    expect(
      await rawUpgrade(c.path, { 'X-Twilio-Signature': sign(c.url.replace(`127.0.0.1:${port}`, 'attacker.example')) }),
    ).toBe('HTTP/1.1 403 Forbidden');
    // Signed for another call's URL: a signature is good for its own token only.
    expect(await rawUpgrade(c.path, { 'X-Twilio-Signature': callStream(`CA${'77'.repeat(16)}`).signature })).toBe(
      'HTTP/1.1 403 Forbidden',
    );
    expect(await rawUpgrade(`${c.path}?x=1`, { 'X-Twilio-Signature': sign(`${c.url}?x=1`) })).toBe(
      'HTTP/1.1 403 Forbidden',
    );
    expect(await rawUpgrade(`${c.path}?`, { 'X-Twilio-Signature': c.signature })).toBe('HTTP/1.1 403 Forbidden');
    const bare = `wss://127.0.0.1:${port}/twilio/media`;
    expect(await rawUpgrade('/twilio/media', { 'X-Twilio-Signature': sign(bare) })).toBe('HTTP/1.1 403 Forbidden');
    const expired = callStream(CALL_SID, callToken(KEY, CALL_SID, { now: Date.now() - 3_600_000 }));
    expect(await rawUpgrade(expired.path, { 'X-Twilio-Signature': expired.signature })).toBe('HTTP/1.1 403 Forbidden');
    const rejections = cap.lines
      .slice(before)
      .map((l) => JSON.parse(l) as { msg: string; reason: string; path: string });
    expect(rejections.map((r) => r.reason)).toEqual([
      'missing X-Twilio-Signature',
      'signature does not match',
      'signature does not match',
      'signature does not match',
      'signature does not match',
      'query string on the stream URL',
      'query string on the stream URL',
      'no call token in the stream URL',
      'call token expired or already used (a replayed upgrade)',
    ]);
    expect(rejections.every((r) => r.msg === 'media stream upgrade rejected' && r.path === '/twilio/media')).toBe(true);
    expect(cap.text()).not.toContain(c.signature); // no header values in the log
    expect(cap.text()).not.toContain(c.token);
    expect(sessions).toHaveLength(0);
  });

  it('answers 404 to an upgrade on another path', async () => {
    expect(await rawUpgrade('/other', { 'X-Twilio-Signature': callStream().signature })).toBe('HTTP/1.1 404 Not Found');
    expect(await rawUpgrade('/twilio/mediax', { 'X-Twilio-Signature': callStream().signature })).toBe(
      'HTTP/1.1 404 Not Found',
    );
  });

  it('accepts the correctly signed upgrade once (101), and refuses the same upgrade replayed (403)', async () => {
    const c = callStream(`CA${'a1'.repeat(16)}`);
    expect(await rawUpgrade(c.path, { 'X-Twilio-Signature': c.signature })).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await rawUpgrade(c.path, { 'X-Twilio-Signature': c.signature })).toBe('HTTP/1.1 403 Forbidden');
  });
});

describe('media stream upgrade signed with a SharedKey', () => {
  it('accepts it once (101) with HMAC_SHA256 or HMAC_SHA1 and refuses the replay (403)', async () => {
    for (const algorithm of ['HMAC_SHA256', 'HMAC_SHA1'] as const) {
      const c = callStream(`CA${(algorithm === 'HMAC_SHA1' ? '1a' : '2b').repeat(16)}`);
      const headers = sharedKeyHeaders(c.url, SHARED, algorithm);
      expect(await rawUpgrade(c.path, headers)).toBe('HTTP/1.1 101 Switching Protocols');
      expect(await rawUpgrade(c.path, headers)).toBe('HTTP/1.1 403 Forbidden');
    }
  });

  it('refuses an unknown key id, a wrong secret, a dropped settings header, a swapped algorithm, another URL', async () => {
    const before = cap.lines.length;
    const c = callStream(`CA${'3c'.repeat(16)}`);
    const good = sharedKeyHeaders(c.url);
    const stranger = { id: 'webhooks_sharedkey_01K0STRANGERSTRANGERSTRA1', secret: 'stranger-secret-0123456789' };
    const cases: Record<string, string>[] = [
      sharedKeyHeaders(c.url, stranger),
      sharedKeyHeaders(c.url, { ...SHARED, secret: stranger.secret }),
      { 'X-Twilio-Signature': good['X-Twilio-Signature'] },
      { ...good, 'X-Twilio-Webhooks-Signature-Settings': `key=${SHARED.id},algorithm=HMAC_SHA1` },
      sharedKeyHeaders(c.url.replace('wss:', 'https:')),
      { 'X-Twilio-Webhooks-Signature-Settings': good['X-Twilio-Webhooks-Signature-Settings'] },
    ];
    for (const headers of cases) expect(await rawUpgrade(c.path, headers)).toBe('HTTP/1.1 403 Forbidden');
    const rejections = cap.lines
      .slice(before)
      .map((l) => JSON.parse(l) as { msg: string; reason: string; keyId?: string });
    expect(rejections.map((r) => [r.reason, r.keyId])).toEqual([
      ['shared key not in TWILIO_WEBHOOK_KEYS', stranger.id],
      ['signature does not match', SHARED.id],
      ['signature does not match', undefined],
      ['signature does not match', SHARED.id],
      ['signature does not match', SHARED.id],
      ['missing X-Twilio-Signature', undefined],
    ]);
    expect(cap.text()).not.toMatch(/shared-secret|stranger-secret/);
    expect(cap.text()).not.toContain(good['X-Twilio-Signature']);
    // Nothing above used the token up: the genuine upgrade still opens the stream.
    expect(await rawUpgrade(c.path, good)).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it('a stream opened with a SharedKey signature carries a session like any other', async () => {
    const callSid = `CA${'4d'.repeat(16)}`;
    const c = callStream(callSid);
    const ws = new WebSocket(`ws://127.0.0.1:${port}${c.path}`, { headers: sharedKeyHeaders(c.url) });
    clients.push(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const tw = twilioStream({
      callSid,
      streamSid: `MZ${'4d'.repeat(16)}`,
      customParameters: { [CALL_TOKEN_PARAMETER]: c.token },
    });
    ws.send(JSON.stringify(tw.connected()));
    ws.send(JSON.stringify(tw.start()));
    await until(() => media.sessions().has(callSid), 'the session');
    ws.send(JSON.stringify(tw.stop()));
    await until(() => !media.sessions().has(callSid), 'the session to end');
  });
});

describe('media stream session over a real socket', () => {
  it('a start with a valid call token becomes a session; audio goes out as text frames and marks settle plays', async () => {
    const callSid = `CA${'e5'.repeat(16)}`;
    const c = callStream(callSid);
    const tw = twilioStream({
      callSid,
      streamSid: `MZ${'e5'.repeat(16)}`,
      customParameters: { [CALL_TOKEN_PARAMETER]: c.token, shareId: 'sh1' },
    });
    const s = await openStream(c);
    s.send(tw.connected());
    s.send(tw.start());
    await until(() => sessions.some((x) => x.info?.callSid === callSid), 'the session');
    const session = media.sessions().get(callSid)!;
    expect(session.info?.customParameters.shareId).toBe('sh1');

    const intents: string[] = [];
    session.on('intent', (i, src) => intents.push(`${i}/${src}`));
    s.send(tw.media());
    s.send(tw.dtmf('1'));
    await until(() => intents.length === 1, 'the intent');
    expect(intents).toEqual(['repeat/dtmf']);

    let outcome: string | undefined;
    void session.play([{ name: 'pause', audio: Buffer.alloc(160 * 5, 0xff) }], 'reading').then((o) => (outcome = o));
    await until(() => s.received.some((r) => r.text.includes('"mark"')), 'the mark');
    const frames = s.received.map((r) => ({ ...r, json: JSON.parse(r.text) }));
    expect(frames.every((f) => !f.binary && f.json.streamSid === tw.streamSid)).toBe(true);
    expect(frames.map((f) => f.json.event)).toEqual(['media', 'media', 'media', 'media', 'media', 'mark']);
    expect(outcome).toBeUndefined();
    s.send(tw.mark(frames.at(-1)!.json.mark.name));
    await until(() => outcome !== undefined, 'the play');
    expect(outcome).toBe('played');

    s.send(tw.stop());
    expect(await s.closed).toBe(1000);
    await until(() => !media.sessions().has(callSid), 'the session to end');
  });

  it('closes a stream whose start has a missing, forged, other-call or other-URL token', async () => {
    const callSid = `CA${'f6'.repeat(16)}`;
    const cases: ((own: string) => Record<string, string>)[] = [
      () => ({}),
      () => ({ [CALL_TOKEN_PARAMETER]: callToken(Buffer.alloc(32, 9), callSid) }),
      () => ({ [CALL_TOKEN_PARAMETER]: callToken(KEY, CALL_SID) }),
      (own) => ({ [CALL_TOKEN_PARAMETER]: `${own.slice(0, -1)}${own.endsWith('A') ? 'B' : 'A'}` }),
    ];
    for (const params of cases) {
      // A fresh, valid URL token each time (made for another call: the start must carry the URL's own token).
      const c = callStream(`CA${Math.random().toString(16).slice(2, 10).padEnd(32, '0')}`);
      const s = await openStream(c);
      s.send(twilioStream({ callSid, customParameters: params(c.token) }).start());
      expect(await s.closed).toBe(1008);
    }
    // The URL's own token, made for this CallSid, opens the stream.
    const good = callStream(callSid);
    const first = await openStream(good);
    first.send(twilioStream({ callSid, customParameters: { [CALL_TOKEN_PARAMETER]: good.token } }).start());
    await until(() => media.sessions().has(callSid), 'the session');
    first.ws.close();
    await until(() => !media.sessions().has(callSid), 'the session to end');
    expect(sessions.filter((x) => x.info?.callSid === callSid)).toHaveLength(1);
    expect(cap.text()).not.toContain(good.token);
  });

  it('a frame over maxPayload closes that socket (1009) without affecting the server', async () => {
    const s = await openStream();
    s.ws.send('x'.repeat(64 * 1024 + 1));
    expect(await s.closed).toBe(1009);
    const next = callStream(`CA${'c3'.repeat(16)}`);
    expect(await rawUpgrade(next.path, { 'X-Twilio-Signature': next.signature })).toBe(
      'HTTP/1.1 101 Switching Protocols',
    );
  });
});

describe('call tokens', () => {
  it('are bound to the CallSid and key, expire, and reject garbage without throwing', () => {
    const t = callToken(KEY, CALL_SID, { now: 1_000_000, ttlMs: 60_000 });
    expect(t).toMatch(/^v1\.[0-9a-z]+\.[A-Za-z0-9_-]{22}$/);
    expect(verifyCallToken(KEY, CALL_SID, t, { now: 1_000_000 })).toBe(true);
    expect(verifyCallToken(KEY, CALL_SID, t, { now: 1_061_000 })).toBe(false);
    expect(verifyCallToken(KEY, `CA${'00'.repeat(16)}`, t, { now: 1_000_000 })).toBe(false);
    expect(verifyCallToken(Buffer.alloc(32, 8), CALL_SID, t, { now: 1_000_000 })).toBe(false);
    const [v, exp, macPart] = t.split('.');
    expect(
      verifyCallToken(KEY, CALL_SID, `${v}.${(parseInt(exp!, 36) + 1000).toString(36)}.${macPart}`, { now: 1_000_000 }),
    ).toBe(false);
    for (const junk of [undefined, 42, '', 'v1..', 'v1.zz.short', `${t}x`])
      expect(verifyCallToken(KEY, CALL_SID, junk)).toBe(false);
  });

  it('closes a socket that never sends its start', async () => {
    const quiet = createMediaStreamServer({
      publicBaseUrl: `http://127.0.0.1:${port}`,
      path: '/quiet',
      authToken: AUTH_TOKEN,
      callTokenKey: KEY,
      log: cap.log,
      startTimeoutMs: 50,
    });
    quiet.attach(http);
    try {
      const token = callToken(KEY, CALL_SID);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/quiet/${token}`, {
        headers: { 'X-Twilio-Signature': sign(`wss://127.0.0.1:${port}/quiet/${token}`) },
      });
      clients.push(ws);
      const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
      expect(code).toBe(1008);
    } finally {
      await quiet.close();
    }
  });

  it('refuses a key too short to be one', () => {
    expect(() =>
      createMediaStreamServer({
        publicBaseUrl: 'http://127.0.0.1:1',
        authToken: AUTH_TOKEN,
        callTokenKey: Buffer.alloc(8),
        log: cap.log,
      }),
    ).toThrow(RangeError);
  });
});
