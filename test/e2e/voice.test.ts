// The live-call passphrase end to end in the sandbox, on the real dev server: a simulated caller (Twilio's side:
// signed voice webhook, TwiML, signed WebSocket upgrade, 20 ms μ-law frames, marks echoed after playback) is on a
// call; the agent asks for a hand-off with the link by SMS and the passphrase by voice; the caller hears the
// passphrase composed from clips, writes it down, and opens the link with it. The passphrase must appear in no
// TwiML, log, note, SMS, Deepgram request or readable history.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { checkTwilioSignature } from '../../src/twilio/signature.js';
import { expectedTwilioSignature } from '../../src/twilio/signature.js';
import { callQuery } from '../../workflows/messages.js';
import { callWorkflowId, shareWorkflowId } from '../../workflows/ids.js';
import { freePort } from '../../src/temporal/ports.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { shortClipSetDir, until } from '../helpers/voice.js';
import type { SimulatedCallSnapshot } from '../../src/sandbox/index.js';
import { wrongPassphrase } from '../helpers/ots-version.js';

interface Scan {
  secrets: string[];
  shareIds: string[];
  allowSms?: Set<string>;
  links?: string[];
  twiml?: string[];
}

let n = 0;
const phone = () => `+1555040${String(++n).padStart(4, '0')}`;

/** GET /sandbox/calls/:sid outside svc.api: what the caller heard is the passphrase, by design not a leak. */
async function callSnapshot(svc: TestService, callSid: string): Promise<SimulatedCallSnapshot> {
  const res = await request(`${svc.url}/sandbox/calls/${callSid}`);
  expect(res.statusCode).toBe(200);
  return (await res.body.json()) as SimulatedCallSnapshot;
}

async function placeCall(svc: TestService, body: Record<string, unknown> = {}) {
  const res = await svc.api('POST', '/sandbox/calls', body);
  expect(res.status, res.text).toBe(201);
  const callSid: string = res.body.callSid;
  const call = svc.simulatedCalls!;
  // Twilio's side is up once the stream has started and the call session knows it.
  const session = svc.temporal.client.workflow.getHandle(callWorkflowId(callSid));
  await until(
    `the call to stream (${JSON.stringify(call.get(callSid))})`,
    async () => (await session.query(callQuery).catch(() => undefined))?.state === 'streaming',
    10_000,
    100,
  );
  return callSid;
}

/** POSTs a Twilio webhook; signed over `signedPath` (default: the path requested) unless `signature` is given. */
async function twilioPost(
  svc: TestService,
  path: string,
  params: Record<string, string>,
  opts: { signedPath?: string; signature?: string | null } = {},
) {
  const signature =
    opts.signature === undefined
      ? expectedTwilioSignature(
          svc.sandboxSecrets.twilioAuthToken,
          `${svc.config.publicBaseUrl}${opts.signedPath ?? path}`,
          params,
        )
      : opts.signature;
  const res = await request(`${svc.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(signature !== null ? { 'x-twilio-signature': signature } : {}),
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), text: await res.body.text() };
}

/** The TwiML this service answers for a call, fetched the way Twilio does (signed): for the leak scan. */
async function twimlFor(svc: TestService, callSid: string): Promise<string> {
  const res = await twilioPost(svc, '/twilio/voice', {
    CallSid: callSid,
    AccountSid: svc.sandboxSecrets.twilioAccountSid,
  });
  expect(res.status).toBe(200);
  return res.text;
}

async function scan(svc: TestService, s: Scan) {
  const deepgram = JSON.stringify(svc.deepgramFake?.requests() ?? []);
  await svc.expectNoLeaksIn({ ...s, extra: { responses: [...(s.twiml ?? []), deepgram] } });
}

describe('live-call passphrase with the committed clips', () => {
  let svc: TestService;
  let scanned: Scan | undefined;
  beforeAll(async () => {
    svc = await startTestService({ VOICE_PACE: '0.5', VOICE_REPEAT_WINDOW_SECONDS: '1' });
  });
  afterAll(async () => {
    await svc?.stop();
  });
  afterEach(async () => {
    if (scanned) await scan(svc, scanned);
    scanned = undefined;
  });

  it('link by SMS, passphrase read over the call: the caller writes it down and opens the secret with it', async () => {
    const callSid = await placeCall(svc);
    const to = phone();
    const secret = `Voice-E2E-${Date.now().toString(36)}!`;
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-VOICE-1',
      secret: { value: secret },
      link: { channel: 'sms', to },
      passphrase: 'voice',
      callSid,
    });
    expect(res.status, res.text).toBe(202);
    const { shareId } = res.body;

    const delivered = await svc.waitFor(
      shareId,
      (s) => s.passphrase.deliveredAt !== undefined || s.state === 'needs_technician',
      90_000,
    );
    expect(delivered.state).toBe('awaiting_view');
    expect(delivered.notes.map((x) => x.text).join('\n')).toMatch(
      /Passphrase read over the call at \S+ \(1 reading; composed from recorded clips, never sent as text\)/,
    );

    const passphrase = await svc.passphraseOf(shareId);
    expect(passphrase).toMatch(/^\d{12}$/);
    const heard = await svc.simulatedCalls!.get(callSid)!;
    expect(heard.wroteDown).toBe(passphrase);
    const digits = passphrase.split('');
    expect(heard.heard).toEqual([
      'prompt-intro-digits',
      ...digits,
      'prompt-again',
      ...digits,
      'prompt-repeat',
      'prompt-goodbye',
    ]);
    expect(heard.warnings).toEqual([]);

    // The link went by SMS, the passphrase never did; the caller opens the link with what they heard.
    const link = svc.linkSentTo(to);
    expect(svc.twilioFake!.outbox().filter((m) => m.to === to)).toHaveLength(1);
    await expect(
      svc.openLink(link, '000000000000' === passphrase ? '111111111111' : '000000000000'),
    ).rejects.toMatchObject(wrongPassphrase(svc.ots.apiVersion));
    expect((await svc.openLink(link, heard.wroteDown)).value).toBe(secret);
    await svc.waitForState(shareId, 'viewed');

    // The stream was closed after the goodbye: with no returnUrl the call ends, and its session with it.
    const ended = await svc.simulatedCalls!.get(callSid)!;
    expect(['in-progress', 'completed']).toContain(ended.status);
    const snap = await callSnapshot(svc, callSid);
    expect(snap.callSid).toBe(callSid);
    const session = await svc.temporal.client.workflow.getHandle(callWorkflowId(callSid)).result();
    expect(session).toMatchObject({ state: 'ended', served: [shareWorkflowId(shareId)] });

    scanned = {
      secrets: [secret, passphrase, digits.join(' ')],
      shareIds: [shareId],
      links: [link],
      twiml: [await twimlFor(svc, callSid)],
    };
  }, 120_000);
});

describe('live-call passphrase: repeats, letters and hang-ups (short clips)', () => {
  let svc: TestService;
  let scanned: Scan | undefined;
  /** The port of the agent's own server in the hand-over test: the one other place simulated calls may return to. */
  let agentPort: number;
  beforeAll(async () => {
    agentPort = await freePort();
    svc = await startTestService(
      {
        VOICE_CLIPS_DIR: shortClipSetDir(),
        VOICE_PACE: '0.5',
        VOICE_REPEAT_WINDOW_SECONDS: '2',
        VOICE_CALL_WAIT_SECONDS: '5',
      },
      { returnUrlBases: [`http://127.0.0.1:${agentPort}`] },
    );
  });
  afterAll(async () => {
    await svc?.stop();
  });
  afterEach(async () => {
    if (scanned) await scan(svc, scanned);
    scanned = undefined;
  });

  async function voiceShare(callSid: string, extra: Record<string, unknown> = {}) {
    const secret = `Voice-Short-${Math.random().toString(36).slice(2, 10)}`;
    const to = phone();
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: `T-VOICE-${++n}`,
      secret: { value: secret },
      link: { channel: 'sms', to },
      passphrase: 'voice',
      callSid,
      ...extra,
    });
    expect(res.status, res.text).toBe(202);
    return { shareId: res.body.shareId as string, secret, to };
  }

  it('the caller presses 1 after the reading and hears it again', async () => {
    const callSid = await placeCall(svc, { script: [{ after: 'prompt-repeat', press: '1' }] });
    const { shareId, secret } = await voiceShare(callSid);
    const s = await svc.waitFor(
      shareId,
      (x) => x.passphrase.deliveredAt !== undefined || x.state === 'needs_technician',
      60_000,
    );
    expect(s.notes.map((x) => x.text).join('\n')).toMatch(/Passphrase read over the call at \S+ \(2 readings;/);
    const passphrase = await svc.passphraseOf(shareId);
    const heard = svc.simulatedCalls!.get(callSid)!;
    expect(heard.pressed).toEqual(['1']);
    expect(heard.heard.filter((c) => c === 'prompt-intro-digits')).toHaveLength(2);
    expect(heard.wroteDown).toBe(passphrase);
    scanned = { secrets: [secret, passphrase], shareIds: [shareId] };
  }, 90_000);

  it('a letters passphrase is read with the letters intro and opens the link', async () => {
    const callSid = await placeCall(svc);
    const { shareId, secret, to } = await voiceShare(callSid, { passphraseFormat: 'letters' });
    await svc.waitFor(shareId, (x) => x.passphrase.deliveredAt !== undefined || x.state === 'needs_technician', 60_000);
    const passphrase = await svc.passphraseOf(shareId);
    expect(passphrase).toMatch(/^[a-z]{9}$/);
    const heard = svc.simulatedCalls!.get(callSid)!;
    expect(heard.heard[0]).toBe('prompt-intro-letters');
    expect(heard.wroteDown).toBe(passphrase);
    const link = svc.linkSentTo(to);
    expect((await svc.openLink(link, heard.wroteDown)).value).toBe(secret);
    scanned = { secrets: [secret, passphrase], shareIds: [shareId], links: [link] };
  }, 90_000);

  it('an agent hands its call over with returnUrl and gets it back after the reading (signed, like Twilio)', async () => {
    const received: { url: string; valid: boolean; callSid: string | null }[] = [];
    const agent = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const params = Object.fromEntries(new URLSearchParams(body));
        const url = `http://127.0.0.1:${(agent.address() as AddressInfo).port}${req.url}`;
        received.push({
          url,
          valid: checkTwilioSignature({ authToken: svc.sandboxSecrets.twilioAuthToken }, url, params, {
            signature: req.headers['x-twilio-signature'] as string,
          }).ok,
          callSid: params.CallSid ?? null,
        });
        res.writeHead(200, { 'content-type': 'text/xml' }).end('<Response><Say>Back with the agent.</Say></Response>');
      });
    });
    await new Promise<void>((r) => agent.listen(agentPort, '127.0.0.1', r));
    try {
      const returnUrl = `http://127.0.0.1:${(agent.address() as AddressInfo).port}/agent/resume?step=2`;
      const callSid = await placeCall(svc, {
        voicePath: `/twilio/voice?returnUrl=${encodeURIComponent(returnUrl)}`,
        script: [{ after: 'prompt-repeat', press: '2' }],
      });
      const { shareId, secret } = await voiceShare(callSid);
      await svc.waitFor(
        shareId,
        (x) => x.passphrase.deliveredAt !== undefined || x.state === 'needs_technician',
        60_000,
      );
      await until(
        'the call to go back to the agent',
        () => svc.simulatedCalls!.get(callSid)!.continuedAt?.status !== undefined,
        10_000,
        100,
      );
      const snap = svc.simulatedCalls!.get(callSid)!;
      expect(snap.continuedAt).toEqual({ url: returnUrl, status: 200 });
      expect(snap.pressed).toEqual(['2']);
      expect(received).toEqual([{ url: returnUrl, valid: true, callSid }]);
      scanned = { secrets: [secret, await svc.passphraseOf(shareId)], shareIds: [shareId] };
    } finally {
      agent.close();
    }
  }, 90_000);

  it('two hand-offs on one call take turns: two whole readings, one after the other, then one goodbye', async () => {
    const callSid = await placeCall(svc);
    const a = await voiceShare(callSid);
    const b = await voiceShare(callSid);
    for (const x of [a, b]) {
      const s = await svc.waitFor(
        x.shareId,
        (st) => st.passphrase.deliveredAt !== undefined || st.state === 'needs_technician',
        60_000,
      );
      expect(s.state).toBe('awaiting_view');
    }
    const heard = svc.simulatedCalls!.get(callSid)!.heard;
    const [pa, pb] = [await svc.passphraseOf(a.shareId), await svc.passphraseOf(b.shareId)];
    const reading = (p: string) => ['prompt-intro-digits', ...p, 'prompt-again', ...p, 'prompt-repeat'];
    const first = heard.slice(0, reading(pa).length).join() === reading(pa).join() ? [pa, pb] : [pb, pa];
    expect(heard).toEqual([...reading(first[0]!), ...reading(first[1]!), 'prompt-goodbye']);
    scanned = { secrets: [a.secret, b.secret, pa, pb], shareIds: [a.shareId, b.shareId] };
  }, 90_000);

  it('a burn while the passphrase is being read cuts the reading short and destroys the link', async () => {
    const callSid = await placeCall(svc);
    const { shareId, secret, to } = await voiceShare(callSid);
    const call = svc.simulatedCalls!;
    await until('the reading to start', () => call.get(callSid)!.heard.includes('prompt-intro-digits'), 30_000);
    const burned = await svc.api('POST', `/v1/shares/${shareId}/burn`);
    expect(burned.status).toBe(200);
    expect(burned.body.state).toBe('burned');
    // The audio was cleared and the stream closed at once: the caller never got to the end of the reading, and the
    // call moved on (here, with no returnUrl, it ended) instead of hanging in silence.
    await until('the call to end (not left open in silence)', () => call.get(callSid)!.status === 'completed');
    const heard = call.get(callSid)!.heard;
    expect(heard).not.toContain('prompt-repeat');
    expect(heard).not.toContain('prompt-goodbye');
    const s = await svc.status(shareId);
    expect(s.passphrase.deliveredAt).toBeUndefined();
    // Burned: gone on either version, whatever passphrase is tried.
    await expect(svc.openLink(svc.linkSentTo(to), '123456789012')).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
    scanned = { secrets: [secret, await svc.passphraseOf(shareId)], shareIds: [shareId] };
  }, 90_000);

  it('the caller hangs up mid-reading, link by email: the passphrase goes by SMS to passphraseTo instead', async () => {
    const callSid = await placeCall(svc, { script: [{ after: 'prompt-again', hangup: true }] });
    const to = phone();
    const { shareId, secret } = await voiceShare(callSid, {
      link: { channel: 'email', to: 'voice.caller@example.com' },
      passphraseTo: to,
    });
    const s = await svc.waitFor(
      shareId,
      (x) => x.passphrase.deliveredAt !== undefined || x.state === 'needs_technician',
      60_000,
    );
    expect(s.state).toBe('awaiting_view');
    expect(s.notes.map((x) => x.text).join('\n')).toMatch(
      /could not be read over the call \(CALL_ENDED: the caller hung up before the passphrase was read\); sending it by SMS/,
    );
    const sms = svc.twilioFake!.outbox().filter((m) => m.to === to);
    expect(sms).toHaveLength(1);
    const passphrase = await svc.passphraseOf(shareId);
    scanned = { secrets: [secret, passphrase], shareIds: [shareId], allowSms: new Set([sms[0]!.sid]) };
  }, 90_000);
});

describe('Twilio voice webhooks', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ VOICE_CLIPS_DIR: shortClipSetDir() });
  });
  afterAll(async () => {
    await svc?.stop();
  });
  const callSid = `CA${'ab12'.repeat(8)}`;

  it('answers TwiML <Connect><Stream> to the signed wss:// URL with only a CallSid-bound token, and hands back to returnUrl', async () => {
    const plain = await twilioPost(svc, '/twilio/voice', { CallSid: callSid, From: '+15550001111' });
    expect(plain.status).toBe(200);
    expect(plain.type).toMatch(/text\/xml/);
    const host = new URL(svc.config.publicBaseUrl).host;
    expect(plain.text).toMatch(
      new RegExp(
        `^<\\?xml[^>]*\\?><Response><Connect><Stream url="wss://${host}/twilio/media/(v1\\.[^"]+)"><Parameter name="callToken" value="(v1\\.[^"]+)"/></Stream></Connect></Response>$`,
      ),
    );
    // One token per call, in the stream URL (so each upgrade signature is good once) and as the start's parameter.
    const [, inUrl, inParam] = plain.text.match(
      /url="[^"]*\/(v1\.[^"]+)"><Parameter name="callToken" value="([^"]+)"/,
    )!;
    expect(inUrl).toBe(inParam);

    const back = 'http://127.0.0.1:9/agent/continue?step=2';
    const path = `/twilio/voice?returnUrl=${encodeURIComponent(back)}`;
    const handed = await twilioPost(svc, path, { CallSid: callSid });
    expect(handed.status).toBe(200);
    expect(handed.text).toContain(
      `</Connect><Redirect method="POST">${back.replace('&', '&amp;')}</Redirect></Response>`,
    );

    for (const bad of ['javascript:alert(1)', 'ftp://127.0.0.1/x', 'http://user:pw@127.0.0.1/x', 'not a url']) {
      const p = `/twilio/voice?returnUrl=${encodeURIComponent(bad)}`;
      expect((await twilioPost(svc, p, { CallSid: callSid })).status, bad).toBe(400);
    }
  });

  it('refuses unsigned, wrongly signed and re-targeted webhooks with 403, and logs no payload', async () => {
    const params = { CallSid: callSid, CallStatus: 'completed', From: '+15559990000' };
    for (const path of ['/twilio/voice', '/twilio/call-status']) {
      expect((await twilioPost(svc, path, params, { signature: null })).status, `${path} unsigned`).toBe(403);
      expect(
        (await twilioPost(svc, path, params, { signature: 'bm90IGEgc2lnbmF0dXJl' })).status,
        `${path} forged`,
      ).toBe(403);
      // Signed for the plain URL, sent with a query string added (and the reverse): the URL is part of what is signed.
      expect(
        (await twilioPost(svc, `${path}?returnUrl=http%3A%2F%2F127.0.0.1%3A9%2Fx`, params, { signedPath: path }))
          .status,
      ).toBe(403);
    }
    // A different body than the one signed.
    const sig = expectedTwilioSignature(
      svc.sandboxSecrets.twilioAuthToken,
      `${svc.config.publicBaseUrl}/twilio/call-status`,
      params,
    );
    expect(
      (await twilioPost(svc, '/twilio/call-status', { ...params, CallStatus: 'in-progress' }, { signature: sig }))
        .status,
    ).toBe(403);
    const rejected = svc.logs.filter((l) => l.includes('twilio webhook rejected'));
    expect(rejected.length).toBeGreaterThanOrEqual(7);
    for (const line of rejected) expect(line).not.toContain('+1555999');
  });

  it('call-status ends the call session', async () => {
    const sid = await placeCall(svc);
    expect((await twilioPost(svc, '/twilio/call-status', { CallSid: sid, CallStatus: 'completed' })).status).toBe(204);
    const ended = await svc.temporal.client.workflow.getHandle(callWorkflowId(sid)).result();
    expect(ended).toMatchObject({ state: 'ended', endReason: 'call completed' });
  });
});
