// Hostile Twilio media streams against the real service: forged and replayed WebSocket upgrades are refused with 403
// before any WebSocket exists, signed with the auth token or with a SharedKey of TWILIO_WEBHOOK_KEYS, and thousands of generated bad frames (fast-check) on a valid stream are counted and
// dropped without dropping the call: afterwards the same stream still carries a key press and a reading.
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { expectedTwilioSignature } from '../../src/twilio/signature.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { rawUpgrade, twilioStream } from '../helpers/twilio-stream.js';
import { shortClipSetDir } from '../helpers/voice.js';

const SHARED = { id: 'webhooks_sharedkey_01K0STREAMSTREAMSTREAMSTR1', secret: randomBytes(20).toString('base64url') };

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({
    VOICE_CLIPS_DIR: shortClipSetDir(),
    TWILIO_WEBHOOK_KEYS: `${SHARED.id}:${SHARED.secret}`,
  });
});
afterAll(async () => {
  await svc?.stop();
});

const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20_261_124);
const port = () => new URL(svc.url).port;
const sign = (url: string, token = svc.sandboxSecrets.twilioAuthToken) => expectedTwilioSignature(token, url, {});

/** The stream URL the service hands Twilio for a call (signed voice webhook, as Twilio fetches it). */
async function streamFor(callSid: string): Promise<{ url: string; path: string; token: string }> {
  const params = { CallSid: callSid, AccountSid: svc.sandboxSecrets.twilioAccountSid };
  const res = await request(`${svc.url}/twilio/voice`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': expectedTwilioSignature(
        svc.sandboxSecrets.twilioAuthToken,
        `${svc.config.publicBaseUrl}/twilio/voice`,
        params,
      ),
    },
    body: new URLSearchParams(params).toString(),
  });
  const twiml = await res.body.text();
  const url = twiml.match(/<Stream url="([^"]+)"/)![1]!;
  const token = twiml.match(/name="callToken" value="([^"]+)"/)![1]!;
  return { url, path: new URL(url).pathname, token };
}

const upgrade = (path: string, headers: Record<string, string>) => rawUpgrade(Number(port()), path, headers);

const callSid = (i: number) => `CA${i.toString(16).padStart(32, '0')}`;

/**
 * The upgrade's headers under a Webhook Rule: HMAC of the wss:// URL alone (a GET has no parameters) with the
 * SharedKey's secret, base64, computed here with node:crypto as Twilio documents it, and the settings header naming
 * the key and algorithm (https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys; twilio-node
 * lib/webhooks/webhooks.js).
 */
const keySigned = (url: string, key = SHARED, algorithm: 'HMAC_SHA256' | 'HMAC_SHA1' = 'HMAC_SHA256') => ({
  'X-Twilio-Signature': createHmac(algorithm === 'HMAC_SHA1' ? 'sha1' : 'sha256', key.secret)
    .update(url)
    .digest('base64'),
  'X-Twilio-Webhooks-Signature-Settings': `key=${key.id},algorithm=${algorithm}`,
});

describe('media-stream WebSocket under attack', () => {
  it('refuses unsigned, wrongly signed, re-targeted, tokenless and replayed upgrades with 403', async () => {
    const s = await streamFor(callSid(1));
    const other = await streamFor(callSid(2));
    const forged: [string, Record<string, string>][] = [
      [s.path, {}],
      [s.path, { 'X-Twilio-Signature': sign(s.url, 'not-the-auth-token-0000') }],
      [s.path, { 'X-Twilio-Signature': 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }],
      [s.path, { 'X-Twilio-Signature': sign(s.url.replace('wss://', 'https://')) }],
      [s.path, { 'X-Twilio-Signature': sign(other.url) }], // another call's signature
      [`${s.path}?callSid=${callSid(3)}`, { 'X-Twilio-Signature': sign(`${s.url}?callSid=${callSid(3)}`) }],
      ['/twilio/media', { 'X-Twilio-Signature': sign(`wss://${new URL(s.url).host}/twilio/media`) }],
    ];
    for (const [path, headers] of forged) expect(await upgrade(path, headers), path).toBe('HTTP/1.1 403 Forbidden');
    // The genuine upgrade works once; the same upgrade captured and replayed does not.
    expect(await upgrade(s.path, { 'X-Twilio-Signature': sign(s.url) })).toBe('HTTP/1.1 101 Switching Protocols');
    for (let i = 0; i < 3; i++)
      expect(await upgrade(s.path, { 'X-Twilio-Signature': sign(s.url) })).toBe('HTTP/1.1 403 Forbidden');
    const rejected = svc.logs.filter((l) => l.includes('media stream upgrade rejected'));
    expect(rejected).toHaveLength(forged.length + 3);
    for (const line of rejected) expect(line).not.toContain(s.token);
  });

  it('with a SharedKey: forged and unknown-key upgrades get 403, the genuine one 101 once, its replay 403', async () => {
    const s = await streamFor(callSid(20));
    const stranger = { id: 'webhooks_sharedkey_01K0STRANGERSTRANGERSTRA1', secret: randomBytes(20).toString('hex') };
    const logsBefore = svc.logs.length;
    const forged: Record<string, string>[] = [
      keySigned(s.url, stranger),
      keySigned(s.url, { ...SHARED, secret: stranger.secret }),
      { ...keySigned(s.url), 'X-Twilio-Webhooks-Signature-Settings': `key=${SHARED.id},algorithm=HMAC_SHA1` },
      keySigned(s.url.replace('wss://', 'https://')),
      { 'X-Twilio-Signature': keySigned(s.url)['X-Twilio-Signature'] }, // the settings header dropped
    ];
    for (const headers of forged) expect(await upgrade(s.path, headers)).toBe('HTTP/1.1 403 Forbidden');
    expect(await upgrade(s.path, keySigned(s.url))).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await upgrade(s.path, keySigned(s.url))).toBe('HTTP/1.1 403 Forbidden');
    expect(await upgrade(s.path, { 'X-Twilio-Signature': sign(s.url) })).toBe('HTTP/1.1 403 Forbidden'); // used up
    const rejected = svc.logs
      .slice(logsBefore)
      .map((l) => JSON.parse(l) as { msg: string; reason: string; keyId?: string })
      .filter((l) => l.msg === 'media stream upgrade rejected');
    expect(rejected.map((r) => [r.reason, r.keyId])).toEqual([
      ['shared key not in TWILIO_WEBHOOK_KEYS', stranger.id],
      ['signature does not match', SHARED.id],
      ['signature does not match', SHARED.id],
      ['signature does not match', SHARED.id],
      ['signature does not match', undefined],
      ['call token expired or already used (a replayed upgrade)', undefined],
      ['call token expired or already used (a replayed upgrade)', undefined],
    ]);
    expect(svc.logs.join('\n')).not.toContain(SHARED.secret);
  });

  it('drops thousands of generated bad frames without dropping the call, then the stream still works', async () => {
    const sid = callSid(10);
    const s = await streamFor(sid);
    const ws = new WebSocket(`ws://127.0.0.1:${port()}${s.path}`, { headers: { 'X-Twilio-Signature': sign(s.url) } });
    const received: string[] = [];
    let closed: number | undefined;
    ws.on('message', (d, binary) => received.push(binary ? '<binary>' : d.toString()));
    ws.on('close', (code) => (closed = code));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const tw = twilioStream({ callSid: sid, customParameters: { callToken: s.token } });
    ws.send(tw.json(tw.connected()));
    ws.send(tw.json(tw.start()));
    for (let i = 0; i < 50 && !svc.voice.media.sessions().has(sid); i++) await new Promise((r) => setTimeout(r, 20));
    const session = svc.voice.media.sessions().get(sid)!;
    expect(session).toBeDefined();

    // Mutations of real frames (wrong types, missing fields, other stream, unknown events, huge or odd strings),
    // non-JSON text and binary frames, all under the 64 KiB frame limit.
    const valid = [tw.media(), tw.mark('m'), tw.dtmf('5'), tw.connected()];
    const junk = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.integer(),
      fc.constant(null),
      fc.constantFrom('__proto__', '<script>x</script>', '\ud800', 'NaN'),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })),
    );
    const frame = fc.oneof(
      fc
        .record({
          base: fc.constantFrom(...valid),
          key: fc.constantFrom(
            'event',
            'sequenceNumber',
            'streamSid',
            'media',
            'mark',
            'dtmf',
            'start',
            'stop',
            '__proto__',
          ),
          value: junk,
        })
        .map(({ base, key, value }) => JSON.stringify({ ...base, [key]: value })),
      fc
        .record({ base: fc.constantFrom(...valid), sub: junk })
        .map(({ base, sub }) =>
          JSON.stringify({ ...base, media: { payload: sub, chunk: sub, timestamp: sub, track: sub } }),
        ),
      fc.json({ maxDepth: 6 }),
      fc.string({ maxLength: 2_000 }),
      fc.uint8Array({ maxLength: 2_000 }).map((b) => Buffer.from(b)),
    );
    const frames = fc.sample(frame, { numRuns: 5_000, seed: FUZZ_SEED });
    for (const f of frames) ws.send(f, { binary: Buffer.isBuffer(f) });
    // A valid key press after all that still reaches the session.
    const intents: string[] = [];
    session.on('intent', (i) => intents.push(i));
    ws.send(tw.json(tw.dtmf('1')));
    for (let i = 0; i < 100 && intents.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(intents).toEqual(['repeat']);
    expect(closed).toBeUndefined();
    expect(session.ended).toBe(false);
    const stats = session.stats();
    expect(stats.rejected + stats.ignored).toBeGreaterThan(4_000);
    // The service answered nothing to the junk (it sends only its own media/mark/clear frames).
    expect(received).toEqual([]);
    // No frame content in the logs: only reasons.
    expect(svc.logs.join('\n')).not.toContain('<script>x</script>');

    // A frame over the 64 KiB limit ends that socket (1009), and only that one.
    ws.send('x'.repeat(64 * 1024 + 10));
    for (let i = 0; i < 100 && closed === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(1009);
    const again = await streamFor(callSid(11));
    expect(await upgrade(again.path, { 'X-Twilio-Signature': sign(again.url) })).toBe(
      'HTTP/1.1 101 Switching Protocols',
    );
    expect((await request(`${svc.url}/healthz`)).statusCode).toBe(200);
  });
});
