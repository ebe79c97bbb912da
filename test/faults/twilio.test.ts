// Twilio failures against the real service, with the test acting as Twilio for status callbacks (the fake's own
// callbacks are delayed past the end of each scenario): SMS creation answering 429/5xx is retried; a final
// `failed` callback pauses the hand-off for a technician with a note; late, duplicated and out-of-order callbacks
// change nothing; unsigned, wrongly signed and replayed callbacks are refused with 403 and change nothing, whether
// signed with the auth token or with a SharedKey of TWILIO_WEBHOOK_KEYS (Twilio Webhook Rules).
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectedTwilioSignature } from '../../src/twilio/signature.js';
import { resolveSignal } from '../../workflows/messages.js';
import { SMS_STATUSES } from '../../workflows/sms-status.js';
import type { ShareStatus } from '../../workflows/types.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { shareWorkflowId } from '../../workflows/ids.js';

let svc: TestService;
let scanned: { secrets: string[]; shareIds: string[]; links: string[] } = { secrets: [], shareIds: [], links: [] };

// Two SharedKeys, as during a rotation; the service accepts both, and the auth token (no settings header) as before.
const NEW_KEY = {
  id: 'webhooks_sharedkey_01K0FAULTNEWFAULTNEWFAULT1',
  secret: `new-${randomBytes(16).toString('hex')}`,
};
const OLD_KEY = {
  id: 'webhooks_sharedkey_01K0FAULTOLDFAULTOLDFAULT1',
  secret: `old-${randomBytes(16).toString('hex')}`,
};

beforeAll(async () => {
  svc = await startTestService(
    { TWILIO_WEBHOOK_KEYS: `${NEW_KEY.id}:${NEW_KEY.secret},${OLD_KEY.id}:${OLD_KEY.secret}` },
    { smsCallbackDelayMs: 30_000 },
  );
});
afterAll(async () => {
  svc?.twilioFake?.reset();
  await svc?.stop();
});
afterEach(async () => {
  await svc.expectNoLeaksIn(scanned);
  scanned = { secrets: [], shareIds: [], links: [] };
});

let n = 0;
async function share() {
  const value = `Twilio-Fault-${++n}-${randomUUID().slice(0, 8)}`;
  const to = `+1555090${String(n).padStart(4, '0')}`;
  const res = await svc.api('POST', '/v1/shares', {
    ticketId: `T-TW-${n}`,
    secret: { value },
    link: { channel: 'sms', to },
  });
  expect(res.status).toBe(202);
  scanned.secrets.push(value);
  scanned.shareIds.push(res.body.shareId);
  return { shareId: res.body.shareId as string, to, value };
}

const callbackUrl = (shareId: string) => `${svc.config.publicBaseUrl}/twilio/sms-status?share=${shareId}`;

/** A status callback as Twilio posts it (track-outbound-message-status), for message `sid` to `to`. */
function statusParams(
  sid: string,
  to: string,
  status: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AccountSid: svc.sandboxSecrets.twilioAccountSid,
    ApiVersion: '2010-04-01',
    From: svc.sandboxSecrets.twilioFrom,
    MessageSid: sid,
    MessageStatus: status,
    SmsSid: sid,
    SmsStatus: status,
    To: to,
    ...extra,
  };
}

/**
 * A SharedKey signature as Twilio documents it, computed here with node:crypto rather than the code under test: the
 * URL, then each parameter's name and value sorted by name, HMAC with the key's secret, base64; the hash is the one
 * X-Twilio-Webhooks-Signature-Settings names (https://www.twilio.com/docs/usage/webhooks/webhooks-security;
 * https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys; twilio-node lib/webhooks/webhooks.js).
 */
function sharedKeySignature(secret: string, hash: 'sha1' | 'sha256', url: string, params: Record<string, string>) {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac(hash, secret).update(data, 'utf8').digest('base64');
}

type SharedKeySigning = { secret: string; hash?: 'sha1' | 'sha256'; settings: string };
const withKey = (k: { id: string; secret: string }, algorithm = 'HMAC_SHA256'): SharedKeySigning => ({
  secret: k.secret,
  hash: algorithm === 'HMAC_SHA1' ? 'sha1' : 'sha256',
  settings: `key=${k.id},algorithm=${algorithm}`,
});

/**
 * Posts a callback; signed over `signUrl` and `signParams` with `token` (or `sharedKey`, with its settings header)
 * unless `signature` is given (null: none).
 */
async function post(
  shareId: string,
  params: Record<string, string>,
  o: {
    token?: string;
    sharedKey?: SharedKeySigning;
    signUrl?: string;
    signParams?: Record<string, string>;
    signature?: string | null;
  } = {},
): Promise<number> {
  const url = o.signUrl ?? callbackUrl(shareId);
  const signature =
    o.signature !== undefined
      ? o.signature
      : o.sharedKey
        ? sharedKeySignature(o.sharedKey.secret, o.sharedKey.hash ?? 'sha256', url, o.signParams ?? params)
        : expectedTwilioSignature(o.token ?? svc.sandboxSecrets.twilioAuthToken, url, o.signParams ?? params);
  const res = await request(`${svc.url}/twilio/sms-status?share=${shareId}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(signature !== null ? { 'x-twilio-signature': signature } : {}),
      ...(o.sharedKey ? { 'x-twilio-webhooks-signature-settings': o.sharedKey.settings } : {}),
    },
    body: new URLSearchParams(params).toString(),
  });
  svc.responses.push(await res.body.text());
  return res.statusCode;
}

const linkSms = (to: string) => svc.twilioFake!.outbox().filter((m) => m.to === to && m.body.includes('/secret/'));
const settle = () => new Promise((r) => setTimeout(r, 600)); // a few workflow tasks' worth
const same = (s: ShareStatus) => ({ state: s.state, deliveryStatus: s.link.deliveryStatus, notes: s.notes.length });

describe('Twilio failures', () => {
  it('SMS creation answering 500 and 429 (with Retry-After) is retried: one SMS, no technician', async () => {
    svc.twilioFake!.failNext({ status: 500 });
    svc.twilioFake!.failNext({ status: 429 });
    const s = await share();
    const done = await svc.waitForState(s.shareId, 'awaiting_view', 20_000);
    expect(linkSms(s.to)).toHaveLength(1);
    expect(done.notes.some((x) => x.followUp)).toBe(false);
    await svc.openLink(svc.linkSentTo(s.to));
    scanned.links.push(svc.linkSentTo(s.to));
    await svc.waitForState(s.shareId, 'viewed');
  });

  it('SMS creation failing on every attempt pauses with a note and the link unsent; a technician retry sends it', async () => {
    svc.twilioFake!.failNext({ status: 500 });
    for (let i = 0; i < 4; i++) svc.twilioFake!.failNext({ status: 429 });
    const s = await share();
    const paused = await svc.waitForState(s.shareId, 'needs_technician', 20_000);
    expect(paused.notes.at(-1)!.text).toMatch(
      /Sending the link by SMS failed \(SMS_RATE_LIMITED[\s\S]*No cleartext fallback/,
    );
    expect(linkSms(s.to)).toHaveLength(0);
    await svc.temporal.client.workflow
      .getHandle(shareWorkflowId(s.shareId))
      .signal(resolveSignal, { action: 'retry', by: 'tech@example.com' });
    await svc.waitForState(s.shareId, 'awaiting_view');
    expect(linkSms(s.to)).toHaveLength(1);
    expect(svc.otsEmulator!.store.receipts.size).toBeGreaterThan(0);
    scanned.links.push(svc.linkSentTo(s.to));
    await svc.openLink(svc.linkSentTo(s.to));
    await svc.waitForState(s.shareId, 'viewed');
  });

  it('a final failed callback pauses for a technician; late, out-of-order and duplicated callbacks change nothing', async () => {
    const s = await share();
    await svc.waitForState(s.shareId, 'awaiting_view');
    const first = linkSms(s.to)[0]!.sid;

    expect(await post(s.shareId, statusParams(first, s.to, 'sent'))).toBe(204);
    await svc.waitFor(s.shareId, (x) => x.link.deliveryStatus === 'sent');
    const failed = statusParams(first, s.to, 'failed', { ErrorCode: '30008', RawDlrDoneDate: '2611241200' });
    expect(await post(s.shareId, failed)).toBe(204);
    const paused = await svc.waitForState(s.shareId, 'needs_technician');
    expect(paused.link.deliveryStatus).toBe('failed');
    expect(paused.notes.at(-1)).toMatchObject({
      followUp: true,
      text: expect.stringMatching(
        /Delivering the link SMS failed \(SMS_UNDELIVERED: Twilio reported failed \(error 30008\)/,
      ),
    });

    // Late and out of order (queued, sent), a contradicting terminal one (delivered), and the same final status
    // again with other details (a genuine duplicate from Twilio, not a replay): nothing moves.
    for (const p of [
      statusParams(first, s.to, 'queued'),
      statusParams(first, s.to, 'sending'),
      statusParams(first, s.to, 'delivered', { RawDlrDoneDate: '2611241201' }),
      statusParams(first, s.to, 'failed', { ErrorCode: '30008', RawDlrDoneDate: '2611241202' }),
    ]) {
      expect(await post(s.shareId, p)).toBe(204);
    }
    await settle();
    expect(same(await svc.status(s.shareId))).toEqual(same(paused));

    // The technician retries: a new SMS goes out. The old message's failure, arriving yet again, does not pause it.
    await svc.temporal.client.workflow
      .getHandle(shareWorkflowId(s.shareId))
      .signal(resolveSignal, { action: 'retry', by: 'tech@example.com' });
    const resumed = await svc.waitFor(s.shareId, (x) => x.state === 'awaiting_view' && linkSms(s.to).length === 2);
    const second = linkSms(s.to)[1]!.sid;
    expect(second).not.toBe(first);
    expect(
      await post(
        s.shareId,
        statusParams(first, s.to, 'undelivered', { ErrorCode: '30003', RawDlrDoneDate: '2611241203' }),
      ),
    ).toBe(204);
    expect(await post(s.shareId, statusParams(second, s.to, 'delivered', { RawDlrDoneDate: '2611241204' }))).toBe(204);
    const delivered = await svc.waitFor(s.shareId, (x) => x.link.deliveryStatus === 'delivered');
    await settle();
    expect(same(await svc.status(s.shareId))).toEqual({ ...same(resumed), deliveryStatus: 'delivered' });
    expect(delivered.state).toBe('awaiting_view');

    for (const l of linkSms(s.to)) scanned.links.push(l.body.match(/https?:\/\/\S+/)![0]);
    await svc.openLink(svc.linkSentTo(s.to));
    await svc.waitForState(s.shareId, 'viewed');
  });
});

describe('every Twilio message status', () => {
  it('each status twilio-node knows is accepted and ranked; partially_delivered pauses for a technician', async () => {
    const s = await share();
    await svc.waitForState(s.shareId, 'awaiting_view');
    const sid = linkSms(s.to)[0]!.sid;
    const final = new Set(['delivered', 'undelivered', 'failed', 'canceled', 'partially_delivered', 'read']);
    let k = 0;
    for (const status of SMS_STATUSES.filter((x) => !final.has(x))) {
      expect(await post(s.shareId, statusParams(sid, s.to, status, { RawDlrDoneDate: `26112413${k++}` })), status).toBe(
        204,
      );
    }
    await svc.waitFor(s.shareId, (x) => x.link.deliveryStatus === 'sent');
    expect(await post(s.shareId, statusParams(sid, s.to, 'partially_delivered', { ErrorCode: '30008' }))).toBe(204);
    const paused = await svc.waitForState(s.shareId, 'needs_technician');
    expect(paused.link.deliveryStatus).toBe('partially_delivered');
    expect(paused.notes.at(-1)?.text).toMatch(/Twilio reported partially_delivered/);
    for (const status of ['delivered', 'undelivered', 'failed', 'canceled', 'read']) {
      expect(await post(s.shareId, statusParams(sid, s.to, status, { RawDlrDoneDate: `26112414${k++}` })), status).toBe(
        204,
      );
    }
    await settle();
    expect(same(await svc.status(s.shareId))).toEqual(same(paused));
    scanned.links.push(svc.linkSentTo(s.to));
  });
});

describe('forged Twilio callbacks', () => {
  it('unsigned, wrongly signed and replayed callbacks get 403 and change nothing; the genuine one gets through once', async () => {
    const s = await share();
    await svc.waitForState(s.shareId, 'awaiting_view');
    const sid = linkSms(s.to)[0]!.sid;
    const other = await share();
    await svc.waitForState(other.shareId, 'awaiting_view');
    const before = same(await svc.status(s.shareId));
    const failed = statusParams(sid, s.to, 'failed', { ErrorCode: '30008' });
    let rejected = 0;

    // Hand-picked forgeries of a callback that would pause the hand-off.
    const forgeries: [string, Parameters<typeof post>[2]][] = [
      ['unsigned', { signature: null }],
      ['empty signature', { signature: '' }],
      ['garbage signature', { signature: 'not-a-signature' }],
      ['signed with another auth token', { token: randomBytes(16).toString('hex') }],
      ['signed for another hand-off', { signUrl: callbackUrl(other.shareId) }],
      ['signed for the URL without its query', { signUrl: `${svc.config.publicBaseUrl}/twilio/sms-status` }],
      ['signed for another host', { signUrl: callbackUrl(s.shareId).replace('127.0.0.1', 'localhost') }],
      ['signed over a delivered status, sent as failed', { signParams: statusParams(sid, s.to, 'delivered') }],
      ['signed without the ErrorCode, sent with it', { signParams: statusParams(sid, s.to, 'failed') }],
    ];
    for (const [what, o] of forgeries) {
      expect(await post(s.shareId, failed, o), what).toBe(403);
      rejected++;
    }

    // Generated ones: random signatures, random tokens, tampered parameters.
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ signature: fc.oneof(fc.base64String({ minLength: 0, maxLength: 40 }), fc.string()) }),
          fc.record({ token: fc.stringMatching(/^[0-9a-f]{32}$/) }),
          fc.record({
            tamper: fc.constantFrom('MessageStatus', 'ErrorCode', 'MessageSid', 'To', 'AccountSid'),
            value: fc.string({ minLength: 1, maxLength: 20 }),
          }),
        ),
        async (f) => {
          const o: Parameters<typeof post>[2] =
            'signature' in f ? { signature: f.signature } : 'token' in f ? { token: f.token } : { signParams: failed };
          const params = 'tamper' in f ? { ...failed, [f.tamper]: `${failed[f.tamper] ?? ''}${f.value}` } : failed;
          expect(await post(s.shareId, params, o)).toBe(403);
          rejected++;
        },
      ),
      { numRuns: 300, seed: 20_261_124 },
    );
    await settle();
    expect(same(await svc.status(s.shareId))).toEqual(before);

    // The genuine callback gets through once; the same request again is a replay.
    const delivered = statusParams(sid, s.to, 'delivered', { RawDlrDoneDate: '2611241300' });
    expect(await post(s.shareId, delivered)).toBe(204);
    for (let i = 0; i < 3; i++) {
      expect(await post(s.shareId, delivered)).toBe(403);
      rejected++;
    }
    await svc.waitFor(s.shareId, (x) => x.link.deliveryStatus === 'delivered');
    expect(svc.allLogs().join('\n')).toMatch(/twilio webhook rejected[\s\S]*replayed/);
    console.log(`[twilio] forged or replayed callbacks rejected with 403: ${rejected}`);

    for (const x of [s, other]) {
      scanned.links.push(svc.linkSentTo(x.to));
      await svc.openLink(svc.linkSentTo(x.to));
      await svc.waitForState(x.shareId, 'viewed');
    }
  });
});

describe('Twilio callbacks signed with a SharedKey (TWILIO_WEBHOOK_KEYS)', () => {
  it('are handled with either key of a rotation; forged, unknown-key and replayed ones get 403 and change nothing', async () => {
    const s = await share();
    await svc.waitForState(s.shareId, 'awaiting_view');
    const sid = linkSms(s.to)[0]!.sid;
    const stranger = { id: 'webhooks_sharedkey_01K0NOTOURSNOTOURSNOTOUR1', secret: randomBytes(16).toString('hex') };

    // Genuine: sent under the old key, then delivered under the new one (the Webhook Setting switched between).
    expect(await post(s.shareId, statusParams(sid, s.to, 'sent'), { sharedKey: withKey(OLD_KEY) })).toBe(204);
    await svc.waitFor(s.shareId, (x) => x.link.deliveryStatus === 'sent');
    const before = same(await svc.status(s.shareId));

    const failed = statusParams(sid, s.to, 'failed', { ErrorCode: '30008' });
    const forgeries: [string, Parameters<typeof post>[2], string, string | undefined][] = [
      [
        'a key id we do not hold',
        { sharedKey: withKey(stranger) },
        'shared key not in TWILIO_WEBHOOK_KEYS',
        stranger.id,
      ],
      [
        'our key id, another secret',
        { sharedKey: { ...withKey(NEW_KEY), secret: stranger.secret } },
        'signature does not match',
        NEW_KEY.id,
      ],
      [
        'HMAC-SHA1 sent as HMAC_SHA256',
        { sharedKey: { ...withKey(NEW_KEY), hash: 'sha1' } },
        'signature does not match',
        NEW_KEY.id,
      ],
      [
        'HMAC-SHA256 sent as HMAC_SHA1',
        { sharedKey: { ...withKey(NEW_KEY, 'HMAC_SHA1'), hash: 'sha256' } },
        'signature does not match',
        NEW_KEY.id,
      ],
      [
        'signed over a delivered status',
        { sharedKey: withKey(NEW_KEY), signParams: statusParams(sid, s.to, 'delivered') },
        'signature does not match',
        NEW_KEY.id,
      ],
      [
        'signed for another hand-off',
        { sharedKey: withKey(NEW_KEY), signUrl: callbackUrl('shr_other') },
        'signature does not match',
        NEW_KEY.id,
      ],
      ['no signature', { sharedKey: withKey(NEW_KEY), signature: null }, 'missing X-Twilio-Signature', undefined],
    ];
    const logsBefore = svc.logs.length;
    for (const [what, o] of forgeries) expect(await post(s.shareId, failed, o), what).toBe(403);
    await settle();
    expect(same(await svc.status(s.shareId))).toEqual(before);
    const rejections = svc.logs
      .slice(logsBefore)
      .map((l) => JSON.parse(l) as { msg: string; reason: string; keyId?: string })
      .filter((l) => l.msg === 'twilio webhook rejected');
    expect(rejections.map((r) => [r.reason, r.keyId])).toEqual(forgeries.map(([, , reason, keyId]) => [reason, keyId]));

    // The genuine delivered callback under the new key, once; the same request again is a replay.
    const delivered = statusParams(sid, s.to, 'delivered', { RawDlrDoneDate: '2611241400' });
    expect(await post(s.shareId, delivered, { sharedKey: withKey(NEW_KEY) })).toBe(204);
    for (let i = 0; i < 2; i++) expect(await post(s.shareId, delivered, { sharedKey: withKey(NEW_KEY) })).toBe(403);
    await svc.waitFor(s.shareId, (x) => x.link.deliveryStatus === 'delivered');
    expect(svc.logs.slice(logsBefore).join('\n')).toMatch(/"reason":"replayed"/);

    const everything = svc.allLogs().join('\n') + svc.responses.join('\n');
    for (const secret of [NEW_KEY.secret, OLD_KEY.secret, stranger.secret]) expect(everything).not.toContain(secret);

    scanned.links.push(svc.linkSentTo(s.to));
    await svc.openLink(svc.linkSentTo(s.to));
    await svc.waitForState(s.shareId, 'viewed');
  });
});
