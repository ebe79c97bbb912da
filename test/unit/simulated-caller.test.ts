// The simulated Twilio caller against a test-local service stand-in on 127.0.0.1 (express + ws): signed webhook,
// TwiML from twilio-node's builder, signed upgrade checked with checkTwilioUpgrade, a composed reading played with
// marks. Short synthetic clips keep each call to a second or two of real-time audio.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import express from 'express';
import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  createSimulatedCalls,
  placeSimulatedCall,
  SimulatedCallError,
  type SimulatedCall,
  type SimulatedCallOptions,
} from '../../src/sandbox/index.js';
import { checkTwilioUpgrade, twilioSignatureMiddleware } from '../../src/twilio/signature.js';
import { clipSetOf } from '../../src/voice/clips.js';
import { composeReading, PAUSE, readingText } from '../../src/voice/compose.js';
import { silenceFrames } from '../../src/voice/mulaw.js';
import { createClipRecognizer } from '../../src/voice/recognizer.js';
import { FRAME_BYTES, type Segment } from '../../src/voice/types.js';

const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
const AUTH_TOKEN = 'f00dfeedf00dfeedf00dfeedf00dfeed';
const PUBLIC = 'https://voice.example.test';
const STREAM_URL = `${PUBLIC.replace('https:', 'wss:')}/twilio/media`;

// Synthetic clips: a frame or two of deterministic pseudo-random bytes each, so a whole reading lasts about a second.
function synthetic(name: string, frames: number): Buffer {
  const out = Buffer.alloc(frames * FRAME_BYTES);
  let block = createHash('sha256').update(name).digest();
  for (let i = 0; i < out.length; i += 32) {
    block.copy(out, i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}
const names = [...'0123456789'].map((n) => [n, 1] as const);
const clips = clipSetOf('test', [
  ...names.map(([name, frames]) => ({ name, audio: synthetic(name, frames) })),
  { name: 'prompt-intro-digits', audio: synthetic('intro', 2) },
  { name: 'prompt-again', audio: synthetic('again', 1) },
  { name: 'prompt-repeat', audio: synthetic('repeat', 2) },
  { name: 'caller-got-it', audio: synthetic('got-it', 2) },
  { name: 'long', audio: synthetic('long', 100) },
]);

/** A composed reading with every pause shortened to one frame (the composer's shortest pauses would take seconds). */
function shortReading(passphrase: string): Segment[] {
  return composeReading(passphrase, clips, { pace: 0.5 }).map((s) =>
    s.name === PAUSE ? { name: PAUSE, audio: silenceFrames(1) } : s,
  );
}

interface StreamSide {
  ws: WebSocket;
  messages: Record<string, any>[];
  marks: { name: string; at: number }[];
  inboundHeard: string[];
  streamSid?: string;
  sendAudio(audio: Buffer): void;
  sendMark(name: string): number;
  sendClear(): void;
}

interface Behaviour {
  onStart?(s: StreamSide): void;
  onDtmf?(s: StreamSide, digit: string): void;
}

let server: Server;
let localBase: string;
let behaviour: Behaviour = {};
const voiceForms: Record<string, string>[] = [];
const statusForms: Record<string, string>[] = [];
const rejected: string[] = [];
const upgrades: { url: string; accepted: boolean }[] = [];
const streams: StreamSide[] = [];
const calls: SimulatedCall[] = [];
let twimlStreamPath = '/twilio/media';
/** A `<Redirect>` after `</Connect>` (the agent's returnUrl), when set. */
let twimlRedirect: string | undefined;
/** Hand-backs the stand-in service received at /agent/resume: the path and whether the signature was good. */
const resumed: { path: string; signedOver: string | undefined }[] = [];
const registry = createSimulatedCalls({
  accountSid: ACCOUNT_SID,
  authToken: AUTH_TOKEN,
  clips,
  publicBaseUrl: () => PUBLIC,
  localBaseUrl: () => localBase,
});

function attachStream(ws: WebSocket): void {
  const side: StreamSide = {
    ws,
    messages: [],
    marks: [],
    inboundHeard: [],
    sendAudio(audio) {
      for (let i = 0; i < audio.length; i += 5 * FRAME_BYTES) {
        ws.send(
          JSON.stringify({
            event: 'media',
            streamSid: side.streamSid,
            media: { payload: audio.subarray(i, i + 5 * FRAME_BYTES).toString('base64') },
          }),
        );
      }
    },
    sendMark(name) {
      ws.send(JSON.stringify({ event: 'mark', streamSid: side.streamSid, mark: { name } }));
      return performance.now();
    },
    sendClear() {
      ws.send(JSON.stringify({ event: 'clear', streamSid: side.streamSid }));
    },
  };
  const inbound = createClipRecognizer(clips, { names: ['caller-got-it'], onClip: (n) => side.inboundHeard.push(n) });
  streams.push(side);
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as Record<string, any>;
    side.messages.push(msg);
    if (msg.event === 'start') {
      side.streamSid = msg.streamSid;
      behaviour.onStart?.(side);
    } else if (msg.event === 'media') {
      inbound.write(Buffer.from(msg.media.payload, 'base64'));
    } else if (msg.event === 'mark') {
      side.marks.push({ name: msg.mark.name, at: performance.now() });
    } else if (msg.event === 'dtmf') {
      behaviour.onDtmf?.(side, msg.dtmf.digit);
    }
  });
}

beforeAll(async () => {
  const app = express();
  app.use(registry.router);
  app.use(express.urlencoded({ extended: false }));
  const signed = twilioSignatureMiddleware({
    authToken: AUTH_TOKEN,
    publicBaseUrl: PUBLIC,
    onReject: (i) => rejected.push(i.path),
  });
  app.post('/twilio/voice', signed, (req, res) => {
    voiceForms.push({ ...(req.body as Record<string, string>) });
    const r = new twilio.twiml.VoiceResponse();
    const stream = r.connect().stream({ url: `${PUBLIC.replace('https:', 'wss:')}${twimlStreamPath}` });
    stream.parameter({ name: 'token', value: 'tok-123' });
    if (twimlRedirect) r.redirect({ method: 'POST' }, twimlRedirect);
    res.type('text/xml').send(r.toString());
  });
  app.post('/agent/resume', (req, res) => {
    const params = { ...(req.body as Record<string, string>) };
    const sig = req.get('x-twilio-signature');
    const candidates = [`${localBase}${req.originalUrl}`, `${PUBLIC}${req.originalUrl}`];
    resumed.push({
      path: req.originalUrl,
      signedOver: candidates.find((u) => twilio.validateRequest(AUTH_TOKEN, sig ?? '', u, params)),
    });
    res.type('text/xml').send('<Response/>');
  });
  app.post('/twilio/call-status', signed, (req, res) => {
    statusForms.push({ ...(req.body as Record<string, string>) });
    res.status(204).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', attachStream);
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const accepted =
      req.url === '/twilio/media' && checkTwilioUpgrade({ authToken: AUTH_TOKEN }, STREAM_URL, req.headers).ok;
    upgrades.push({ url: req.url ?? '', accepted });
    if (!accepted) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  localBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await Promise.all(calls.splice(0).map((c) => c.hangup()));
  behaviour = {};
  twimlStreamPath = '/twilio/media';
  twimlRedirect = undefined;
  resumed.length = 0;
  voiceForms.length = 0;
  statusForms.length = 0;
  rejected.length = 0;
  upgrades.length = 0;
  streams.length = 0;
});

afterAll(async () => {
  await registry.closeAll();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function place(extra: Partial<SimulatedCallOptions> = {}): SimulatedCall {
  const call = placeSimulatedCall({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    publicBaseUrl: PUBLIC,
    localBaseUrl: localBase,
    clips,
    ...extra,
  });
  calls.push(call);
  return call;
}

async function until<T>(get: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('simulated caller', () => {
  it('hears a composed reading as its clip sequence, writes down the passphrase, and returns the mark only after playback', async () => {
    const passphrase = '482915736048';
    const segments = shortReading(passphrase);
    const audio = Buffer.concat(segments.map((s) => s.audio));
    let markSentAt = 0;
    behaviour.onStart = (s) => {
      s.sendAudio(audio);
      markSentAt = s.sendMark('reading-end');
    };
    const call = place();
    const heard = await call.waitFor((s) => s.heard.includes('prompt-repeat'));
    const side = await until(() => streams[0]);
    const mark = await until(() => side.marks.find((m) => m.name === 'reading-end'));

    expect(heard.heard).toEqual(readingText(segments));
    expect(heard.wroteDown).toBe(passphrase);
    expect(heard.status).toBe('in-progress');
    // Real-time playback: the mark cannot come back before its audio could have played (one frame of slack).
    expect(mark.at - markSentAt).toBeGreaterThanOrEqual((audio.length / FRAME_BYTES - 1) * 20);
  });

  it("speaks Twilio's wire format: signed webhook and upgrade, connected, start, string-numbered media frames", async () => {
    behaviour.onStart = () => {};
    const call = place({ from: '+15551230001', to: '+15551239999' });
    const side = await until(() => streams[0]);
    await until(() => (side.messages.filter((m) => m.event === 'media').length >= 5 ? true : undefined));

    expect(voiceForms[0]).toMatchObject({
      CallSid: call.callSid,
      AccountSid: ACCOUNT_SID,
      From: '+15551230001',
      To: '+15551239999',
      CallStatus: 'in-progress',
      Direction: 'inbound',
    });
    expect(upgrades).toEqual([{ url: '/twilio/media', accepted: true }]);
    const [connected, start, ...rest] = side.messages;
    expect(connected).toEqual({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    expect(start).toMatchObject({
      event: 'start',
      sequenceNumber: '1',
      start: {
        callSid: call.callSid,
        accountSid: ACCOUNT_SID,
        tracks: ['inbound'],
        customParameters: { token: 'tok-123' },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    expect(start?.streamSid).toMatch(/^MZ[0-9a-f]{32}$/);
    expect(start?.start.streamSid).toBe(start?.streamSid);
    const media = rest.filter((m) => m.event === 'media').slice(0, 5);
    media.forEach((m, i) => {
      expect(m).toMatchObject({
        streamSid: start?.streamSid,
        sequenceNumber: String(i + 2),
        media: { track: 'inbound', chunk: String(i + 1), timestamp: String(i * 20) },
      });
      expect(Buffer.from(m.media.payload, 'base64')).toEqual(silenceFrames(1));
    });

    const final = await call.hangup();
    expect(final.status).toBe('completed');
    const stop = await until(() => side.messages.find((m) => m.event === 'stop'));
    expect(stop).toMatchObject({
      streamSid: start?.streamSid,
      stop: { accountSid: ACCOUNT_SID, callSid: call.callSid },
    });
    expect(typeof stop.sequenceNumber).toBe('string');
    expect(statusForms).toEqual([
      expect.objectContaining({ CallSid: call.callSid, CallStatus: 'completed', AccountSid: ACCOUNT_SID }),
    ]);
    expect(rejected).toEqual([]);
  });

  it('on clear, returns pending marks at once and does not hear the cut clip; playback goes on afterwards', async () => {
    let sentAt = 0;
    behaviour.onStart = (s) => {
      s.sendAudio(clips.get('long').audio); // 2 s
      sentAt = s.sendMark('m1');
      setTimeout(() => {
        s.sendClear();
        s.sendAudio(clips.get('7').audio);
        s.sendMark('m2');
      }, 200);
    };
    const call = place();
    const side = await until(() => streams[0]);
    const m2 = await until(() => side.marks.find((m) => m.name === 'm2'));
    const m1 = side.marks.find((m) => m.name === 'm1');
    expect(m1).toBeDefined();
    expect(m1!.at).toBeLessThan(m2.at);
    expect(m1!.at - sentAt).toBeLessThan(1500); // the 2 s of audio never played out
    expect(call.snapshot().heard).toEqual(['7']);
  });

  it('follows its script: presses 1 after the prompt, says "got it" after the second, then hangs up', async () => {
    behaviour.onStart = (s) => s.sendAudio(clips.get('prompt-repeat').audio);
    behaviour.onDtmf = (s, digit) => {
      if (digit === '1') s.sendAudio(clips.get('prompt-repeat').audio);
    };
    const call = place({
      script: [
        { after: 'prompt-repeat', press: '1' },
        { after: 'prompt-repeat', say: 'caller-got-it' },
        { afterMs: 200, hangup: true },
      ],
    });
    const final = await call.ended;
    expect(final).toMatchObject({ status: 'completed', pressed: ['1'], heard: ['prompt-repeat', 'prompt-repeat'] });
    const side = streams[0]!;
    expect(side.inboundHeard).toEqual(['caller-got-it']);
    expect(side.messages.find((m) => m.event === 'dtmf')).toEqual({
      event: 'dtmf',
      streamSid: side.streamSid,
      sequenceNumber: expect.stringMatching(/^\d+$/),
      dtmf: { track: 'inbound_track', digit: '1' },
    });
    await until(() => side.messages.find((m) => m.event === 'stop'));
    expect(statusForms.map((f) => f.CallStatus)).toEqual(['completed']);
  });

  it('ends the call when the service closes the stream, and posts the call status', async () => {
    behaviour.onStart = (s) => setTimeout(() => s.ws.close(1000), 100);
    const final = await place().ended;
    expect(final.status).toBe('completed');
    expect(statusForms).toHaveLength(1);
  });

  it('fails the call when the webhook refuses its signature', async () => {
    const final = await place({ authToken: 'wrong-token-wrong-token-wrong-tok' }).ended;
    expect(final.status).toBe('failed');
    expect(final.failure).toMatch(/voice webhook answered HTTP 403/);
    expect(rejected).toContain('/twilio/voice');
    expect(upgrades).toEqual([]);
  });

  it('fails the call when the upgrade is refused (signed over another URL than the service expects)', async () => {
    twimlStreamPath = '/twilio/media-elsewhere';
    const final = await place().ended;
    expect(final.status).toBe('failed');
    expect(final.failure).toMatch(/upgrade refused with HTTP 403/);
    expect(upgrades).toEqual([{ url: '/twilio/media-elsewhere', accepted: false }]);
  });

  it("goes back to a returnUrl on the service's own base URL, signed over the URL as written", async () => {
    behaviour.onStart = (st) => setTimeout(() => st.ws.close(1000), 50);
    twimlRedirect = `${localBase}/agent/resume?step=2`;
    const local = await place().ended;
    expect(local.continuedAt).toEqual({ url: twimlRedirect, status: 200 });
    // Under PUBLIC_BASE_URL: sent to the same path where the service listens, signed over the public URL.
    twimlRedirect = `${PUBLIC}/agent/resume?step=3`;
    const pub = await place().ended;
    expect(pub.continuedAt).toEqual({ url: twimlRedirect, status: 200 });
    expect(resumed).toEqual([
      { path: '/agent/resume?step=2', signedOver: `${localBase}/agent/resume?step=2` },
      { path: '/agent/resume?step=3', signedOver: `${PUBLIC}/agent/resume?step=3` },
    ]);
  });

  it('refuses a returnUrl anywhere else on this machine (a probe of local ports), saying why, and posts nothing', async () => {
    const probed: string[] = [];
    const victim = createServer((req, res) => {
      probed.push(req.url ?? '');
      res.writeHead(200).end();
    });
    await new Promise<void>((r) => victim.listen(0, '127.0.0.1', r));
    const victimPort = (victim.address() as AddressInfo).port;
    const servicePort = new URL(localBase).port;
    try {
      behaviour.onStart = (st) => setTimeout(() => st.ws.close(1000), 50);
      for (const url of [
        `http://127.0.0.1:${victimPort}/admin?x=1`,
        `http://localhost:${victimPort}/`,
        `http://[::1]:${victimPort}/`,
        `http://localhost:${servicePort}/agent/resume`, // the service's port under another name: another origin
        `http://127.0.0.2:${servicePort}/agent/resume`,
        `http://user:pw@127.0.0.1:${servicePort}/agent/resume`,
        `https://voice.example.test.evil.example/agent/resume`,
        `http://voice.example.test/agent/resume`, // PUBLIC_BASE_URL is https
      ]) {
        twimlRedirect = url;
        const final = await place().ended;
        expect(final.status, url).toBe('completed');
        expect(final.continuedAt, url).toEqual({
          url: new URL(url).href,
          refused: expect.stringMatching(/^not followed: the simulated caller posts only to the service it calls/),
        });
      }
    } finally {
      victim.close();
    }
    expect(probed).toEqual([]);
    expect(resumed).toEqual([]);
  });

  it('refuses an invalid script up front', () => {
    expect(() => place({ script: [{ after: 'prompt-repeat' } as never] })).toThrow(SimulatedCallError);
    expect(() => place({ script: [{ afterMs: 5, press: '12' }] })).toThrow(/one key/);
    expect(() => place({ script: [{ afterMs: 5, say: 'caller-unknown' }] })).toThrow(/not a clip/);
  });
});

describe('sandbox call routes', () => {
  it('POST /sandbox/calls places a call with its script; GET /sandbox/calls/:callSid shows what was heard and pressed', async () => {
    behaviour.onStart = (s) => s.sendAudio(clips.get('prompt-repeat').audio);
    const res = await fetch(`${localBase}/sandbox/calls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        from: '+15551230002',
        script: [
          { after: 'prompt-repeat', press: '2' },
          { afterMs: 100, hangup: true },
        ],
      }),
    });
    expect(res.status).toBe(201);
    const { callSid, status } = (await res.json()) as { callSid: string; status: string };
    expect(callSid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(status).toBe('ringing');
    const final = await until(() =>
      registry.get(callSid)?.status === 'completed' ? registry.get(callSid) : undefined,
    );
    expect(final.pressed).toEqual(['2']);
    const got = await fetch(`${localBase}/sandbox/calls/${callSid}`);
    expect(await got.json()).toEqual({
      callSid,
      status: 'completed',
      heard: ['prompt-repeat'],
      pressed: ['2'],
      warnings: [],
    });
    expect(voiceForms[0]?.From).toBe('+15551230002');
  });

  it('answers 400 with the issues for a bad request and 404 for an unknown call, echoing nothing', async () => {
    const bad = await fetch(`${localBase}/sandbox/calls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ script: [{ afterMs: 1, press: '<script>' }], '<b>extra</b>': 'x' }),
    });
    expect(bad.status).toBe(400);
    const body = await bad.text();
    expect(body).not.toContain('<script>');
    expect(body).not.toContain('<b>');
    expect(JSON.parse(body).issues.length).toBeGreaterThan(0);
    const missing = await fetch(`${localBase}/sandbox/calls/CA${'0'.repeat(32)}`);
    expect(missing.status).toBe(404);
  });
});
