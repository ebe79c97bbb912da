// The Deepgram listener against the local fake on loopback: the real @deepgram/sdk speaks the real wire protocol.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  createDeepgramListenerFactory,
  DeepgramConfigError,
  type DeepgramListenerConfig,
} from '../../src/deepgram/listener.js';
import { createLogger } from '../../src/log.js';
import { createDeepgramFake, type DeepgramFake, type DeepgramFakeOptions } from '../../src/sandbox/index.js';
import type { CallerIntent, SpeechListener } from '../../src/voice/types.js';
import { captureLog } from '../helpers/log-capture.js';

const KEY = 'dg-test-key-0123456789';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Harness {
  fake: DeepgramFake;
  listener: SpeechListener;
  intents: CallerIntent[];
  unavailable: string[];
  logs: string[];
  open(): FakeConn[];
}
type FakeConn = ReturnType<DeepgramFake['connections']>[number];

async function start(
  fakeOpts: Partial<DeepgramFakeOptions> = {},
  cfg: Partial<DeepgramListenerConfig> = {},
): Promise<Harness> {
  const fake = createDeepgramFake({ apiKey: KEY, ...fakeOpts });
  const server = await fake.listen();
  const { log, lines: logs } = captureLog('debug');
  const factory = createDeepgramListenerFactory({
    apiKey: KEY,
    baseUrl: server.baseUrl,
    log,
    reconnectDelayMs: 10,
    ...cfg,
  });
  const intents: CallerIntent[] = [];
  const unavailable: string[] = [];
  const listener = factory('CA0000000000000000000000000000test', {
    onIntent: (i) => intents.push(i),
    onUnavailable: (r) => unavailable.push(r),
  });
  cleanups.push(
    () => server.close(),
    () => listener.close(),
  );
  return { fake, listener, intents, unavailable, logs, open: () => fake.connections().filter((c) => c.open) };
}

const frame = () => Buffer.alloc(160, 0xff);

/**
 * Both ends open: the fake has accepted the socket and the listener has seen it open (it drops audio until then, so
 * frames sent in between would be lost on a busy machine).
 */
async function connected(h: Harness): Promise<void> {
  await waitFor(() => h.open().length === 1, 'connection');
  await waitFor(
    () => h.logs.some((l) => l.includes('"deepgram.connected"')),
    'the listener to see the connection open',
  );
}

describe('Deepgram listener', () => {
  it('connects with the Twilio audio format, the right options and the API key', async () => {
    const h = await start();
    await connected(h);
    const [req] = h.fake.requests();
    expect(req).toMatchObject({ kind: 'listen', path: '/v1/listen', authOk: true, status: 101 });
    expect(req!.query).toMatchObject({
      model: ['nova-3'],
      encoding: ['mulaw'],
      sample_rate: ['8000'],
      channels: ['1'],
      interim_results: ['true'],
      endpointing: ['300'],
      utterance_end_ms: ['1000'],
      smart_format: ['true'],
      mip_opt_out: ['true'],
      keyterm: ['repeat', 'slower', 'got it'],
    });
  });

  it('"can you repeat that" fires repeat once although interim and final results both carry it', async () => {
    const h = await start();
    await connected(h);
    h.fake.say('can you repeat that');
    h.fake.say('got it thanks'); // a later utterance: once it arrives, every message of the first has been handled
    await waitFor(() => h.intents.includes('got_it'), 'got_it');
    expect(h.intents).toEqual(['repeat', 'got_it']);
  });

  it('an utterance finalised in segments fires once, and a phrase split across segments still counts', async () => {
    const h = await start();
    await connected(h);
    h.fake.say('repeat', { endOfSpeech: false });
    h.fake.say('that again please'); // same utterance: repeat already fired
    h.fake.say('could you slow', { endOfSpeech: false });
    h.fake.say('down a bit'); // "slow" | "down" only match together
    h.fake.say('got it');
    await waitFor(() => h.intents.includes('got_it'), 'got_it');
    expect(h.intents).toEqual(['repeat', 'slower', 'got_it']);
  });

  it('the same request in a new utterance fires again', async () => {
    const h = await start();
    await connected(h);
    h.fake.say('slower please');
    h.fake.say('slow down');
    h.fake.say('okay got it');
    await waitFor(() => h.intents.length === 3, 'three intents');
    expect(h.intents).toEqual(['slower', 'slower', 'got_it']);
  });

  it('caller audio reaches Deepgram and a transcript of it becomes an intent', async () => {
    let frames = 0;
    const h = await start({ transcribe: () => (++frames === 25 ? 'could you slow down' : undefined) });
    await connected(h);
    for (let i = 0; i < 25; i++) h.listener.send(frame());
    await waitFor(() => h.intents.length === 1, 'intent');
    expect(h.intents).toEqual(['slower']);
    expect(h.fake.connections()[0]).toMatchObject({ audioFrames: 25, audioBytes: 25 * 160 });
  });

  it('keep-alives hold an idle connection open; without them the fake closes it like Deepgram (NET-0001)', async () => {
    const kept = await start({ idleTimeoutMs: 300 }, { keepAliveMs: 60 });
    const idle = await start({ idleTimeoutMs: 300 }, { keepAliveMs: 60_000, reconnectAttempts: 0 });
    await waitFor(() => kept.open().length === 1 && idle.open().length === 1, 'connections');
    await sleep(800);
    const [k] = kept.fake.connections();
    expect(k).toMatchObject({ open: true });
    expect(k!.keepAlives).toBeGreaterThanOrEqual(5);
    expect(kept.fake.requests()[0]!.messages).toContain('{"type":"KeepAlive"}');
    expect(idle.fake.connections()[0]).toMatchObject({ open: false, closeCode: 1011 });
    expect(idle.unavailable).toHaveLength(1);
  });

  it('a dropped connection reconnects and keeps working; audio during the gap is dropped, not replayed', async () => {
    const h = await start({}, { reconnectDelayMs: 200 });
    await connected(h);
    h.fake.drop(1011);
    await waitFor(() => h.fake.connections()[0]!.open === false, 'drop');
    for (let i = 0; i < 10; i++) h.listener.send(frame()); // while waiting to reconnect
    await waitFor(() => h.open().length === 1 && h.fake.connections().length === 2, 'reconnection');
    await waitFor(
      () => h.logs.filter((l) => l.includes('"deepgram.connected"')).length === 2,
      'the listener to see the new connection open',
    );
    await sleep(50);
    expect(h.fake.connections()[1]!.audioFrames).toBe(0);
    h.listener.send(frame());
    h.fake.say('repeat');
    await waitFor(() => h.intents.length === 1, 'intent after reconnect');
    expect(h.intents).toEqual(['repeat']);
    expect(h.fake.connections()[1]!.audioFrames).toBe(1);
    expect(h.unavailable).toEqual([]);
    expect(h.logs.some((l) => l.includes('"event":"deepgram.reconnecting"') && l.includes('"attempt":1'))).toBe(true);
  });

  it('failing handshakes stop after the configured attempts and onUnavailable fires exactly once', async () => {
    const fake = createDeepgramFake({ apiKey: KEY });
    fake.failHandshakes(100, 503);
    const h = await startWith(fake, { reconnectAttempts: 2 });
    await waitFor(() => h.unavailable.length === 1, 'unavailable');
    await sleep(300);
    expect(h.unavailable).toHaveLength(1);
    expect(h.unavailable[0]).toContain('503');
    expect(fake.requests().map((r) => r.status)).toEqual([503, 503, 503]);
    expect(() => h.listener.send(frame())).not.toThrow();
    await h.listener.close();
  });

  it('a rejected API key is not retried: one handshake, 401, then DTMF only', async () => {
    const fake = createDeepgramFake({ apiKey: KEY });
    const h = await startWith(fake, { apiKey: 'wrong-key' });
    await waitFor(() => h.unavailable.length === 1, 'unavailable');
    await sleep(100);
    expect(fake.requests()).toHaveLength(1);
    expect(fake.requests()[0]).toMatchObject({ authOk: false, status: 401 });
    expect(h.unavailable[0]).toContain('401');
  });

  it('close() sends CloseStream, waits for Deepgram to close 1000, and is safe twice', async () => {
    const h = await start();
    await connected(h);
    h.listener.send(frame());
    await Promise.all([h.listener.close(), h.listener.close()]);
    await h.listener.close();
    expect(h.fake.requests()[0]!.messages).toEqual(['{"type":"CloseStream"}']);
    await waitFor(() => !h.fake.connections()[0]!.open, 'fake side of the close');
    expect(h.fake.connections()[0]).toMatchObject({ open: false, closeCode: 1000 });
    expect(h.logs.some((l) => l.includes('"event":"deepgram.closed"') && l.includes('"code":1000'))).toBe(true);
    expect(() => h.listener.send(frame())).not.toThrow();
    h.fake.say('repeat'); // nothing is open any more
    await sleep(50);
    expect(h.intents).toEqual([]);
  });

  it('close() while still connecting gives up the connection without reconnecting', async () => {
    const fake = createDeepgramFake({ apiKey: KEY });
    fake.failHandshakes(100);
    const h = await startWith(fake, { reconnectAttempts: 5, reconnectDelayMs: 100 });
    await waitFor(() => fake.requests().length >= 1, 'first attempt');
    await h.listener.close();
    const n = fake.requests().length;
    await sleep(400);
    expect(fake.requests().length).toBe(n);
    expect(h.unavailable).toEqual([]);
  });

  it('nothing logged contains what the caller said', async () => {
    const h = await start();
    await connected(h);
    h.fake.say('my card number is 4929 1234 5678 9012 please repeat that');
    h.fake.say('zebra crossing sesame got it');
    await waitFor(() => h.intents.length === 2, 'intents');
    h.fake.drop(1011);
    await waitFor(() => h.fake.connections().length === 2 && h.open().length === 1, 'reconnect');
    await h.listener.close();
    expect(h.logs.length).toBeGreaterThanOrEqual(4);
    for (const word of ['4929', '5678', 'card', 'zebra', 'sesame', 'crossing', 'please']) {
      for (const line of h.logs) expect(line).not.toContain(word);
    }
  });
});

describe('Deepgram listener configuration', () => {
  it('refuses an unusable base URL or empty key with a DeepgramConfigError that names the field, not the value', () => {
    const log = createLogger({ level: 'silent' });
    expect(() => createDeepgramListenerFactory({ apiKey: KEY, baseUrl: 'ftp://127.0.0.1:1', log })).toThrow(
      DeepgramConfigError,
    );
    expect(() => createDeepgramListenerFactory({ apiKey: '', log })).toThrow(/apiKey/);
    const err = (() => {
      try {
        createDeepgramListenerFactory({ apiKey: KEY, keepAliveMs: -1, log });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toContain('keepAliveMs');
    expect(err?.message).not.toContain(KEY);
  });
});

describe('Deepgram fake', () => {
  it('rejects a listen handshake without the right key with 401 and JSON error', async () => {
    const fake = createDeepgramFake({ apiKey: KEY });
    const server = await fake.listen();
    cleanups.push(() => server.close());
    const url = `${server.baseUrl.replace('http', 'ws')}/v1/listen?model=nova-3`;
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { Authorization: 'Token nope' } });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('opened with a wrong key')));
      ws.on('error', () => {
        /* follows unexpected-response */
      });
    });
    expect(status).toBe(401);
    expect(fake.requests()[0]).toMatchObject({ authOk: false, status: 401 });
  });

  it('answers Finalize with a from_finalize result and an unreadable text frame with close 1008', async () => {
    const fake = createDeepgramFake({ apiKey: KEY });
    const server = await fake.listen();
    cleanups.push(() => server.close());
    const ws = new WebSocket(`${server.baseUrl.replace('http', 'ws')}/v1/listen`, {
      headers: { Authorization: `Token ${KEY}` },
    });
    const got: string[] = [];
    ws.on('message', (d) => got.push(String(d)));
    await new Promise((r) => ws.once('open', r));
    ws.send('{"type":"Finalize"}');
    await waitFor(() => got.length === 1, 'finalize result');
    expect(JSON.parse(got[0]!)).toMatchObject({ type: 'Results', is_final: true, from_finalize: true });
    ws.send('not json');
    const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
    expect(code).toBe(1008);
  });
});

async function startWith(fake: DeepgramFake, cfg: Partial<DeepgramListenerConfig>): Promise<Harness> {
  const server = await fake.listen();
  const { log, lines: logs } = captureLog('info');
  const factory = createDeepgramListenerFactory({
    apiKey: KEY,
    baseUrl: server.baseUrl,
    log,
    reconnectDelayMs: 10,
    ...cfg,
  });
  const intents: CallerIntent[] = [];
  const unavailable: string[] = [];
  const listener = factory('CAtest', { onIntent: (i) => intents.push(i), onUnavailable: (r) => unavailable.push(r) });
  cleanups.push(
    () => server.close(),
    () => listener.close(),
  );
  return { fake, listener, intents, unavailable, logs, open: () => fake.connections().filter((c) => c.open) };
}
