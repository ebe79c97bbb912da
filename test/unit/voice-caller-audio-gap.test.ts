// The attack: while the passphrase is read and during the repeat window after it, callers read the passphrase back
// aloud. None of that audio may reach Deepgram (docs/voice.md, "Passphrase audio"). A media session with the real
// Deepgram listener (the real @deepgram/sdk over a real WebSocket) talks to the sandbox's Deepgram fake, which sees
// every audio frame it receives; Twilio's side (inbound frames every 20 ms, marks echoed after playback) runs on a
// fake clock. Keys still repeat and end the reading, the connection survives the silence on KeepAlive, and once the
// reading is over the caller's audio and words reach Deepgram again.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createDeepgramListenerFactory } from '../../src/deepgram/listener.js';
import { createDeepgramFake } from '../../src/sandbox/index.js';
import { MediaSession, type IntentSource } from '../../src/voice/media-session.js';
import { readPassphrase, type ReadPassphraseResult } from '../../src/voice/reader.js';
import type { CallerIntent, Segment } from '../../src/voice/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeMediaSocket } from '../helpers/fake-media-socket.js';
import { captureLog } from '../helpers/log-capture.js';
import { until } from '../helpers/voice.js';
import { twilioStream } from '../helpers/twilio-stream.js';
import { emulateTwilioPlayback } from '../helpers/twilio-playback.js';

const KEY = 'dg-test-key-0123456789';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Polls `cond` every 5 ms (test/helpers/voice.ts until). */
const waitFor = (cond: () => boolean, what: string, timeoutMs = 5_000) => until(what, cond, timeoutMs, 5);

/** What the caller sends, told apart by the first byte of each 160-byte frame. */
const TAG = { before: 0x11, readBack: 0x22, sayRepeat: 0x33, after: 0x44 } as const;
type Tag = keyof typeof TAG;
const tagOf = (frame: Buffer) => (Object.keys(TAG) as Tag[]).find((t) => TAG[t] === frame[0]) ?? 'other';

describe('no caller audio reaches Deepgram from the reading until its repeat window closes', () => {
  it('audio sent during the readings and repeat windows never reaches the Deepgram fake; keys still repeat and end', async () => {
    const received: (Tag | 'other')[] = [];
    const fake = createDeepgramFake({
      apiKey: KEY,
      idleTimeoutMs: 300, // Deepgram's NET-0001, shortened: the span below is longer than this in real time
      transcribe: (frame) => {
        const tag = tagOf(frame);
        received.push(tag);
        return tag === 'sayRepeat' ? 'repeat' : undefined;
      },
    });
    const server = await fake.listen();
    const cap = captureLog('debug');
    const speech = createDeepgramListenerFactory({
      apiKey: KEY,
      baseUrl: server.baseUrl,
      log: cap.log,
      keepAliveMs: 60,
    });

    const socket = new FakeMediaSocket();
    const clock = new FakeClock();
    const session = new MediaSession({ socket, log: cap.log, clock, speech });
    cleanups.push(
      () => server.close(),
      async () => session.end(),
    );
    const intents: [CallerIntent, IntentSource][] = [];
    session.on('intent', (i, s) => intents.push([i, s]));
    const tw = twilioStream();
    const twilio = emulateTwilioPlayback(socket, clock, tw);
    socket.receive(tw.connected());
    socket.receive(tw.start());
    await waitFor(() => cap.text().includes('"deepgram.connected"'), 'the listener to connect');
    const conn = () => fake.connections()[0]!;

    let seq = 0;
    /** The caller's side for `ms`: one inbound frame every 20 ms, as Twilio sends them. */
    const talk = async (ms: number, tag: Tag) => {
      for (let t = 0; t < ms; t += 20) {
        const frame = Buffer.alloc(160, 0x7e);
        frame[0] = TAG[tag];
        frame.writeUInt32BE(++seq, 1);
        socket.receive(tw.media(frame));
        await clock.advanceAsync(20);
      }
      await sleep(20); // let what was forwarded cross the loopback socket
    };

    await talk(200, 'before');
    await waitFor(() => received.length === 10, 'audio before the reading to reach Deepgram');
    expect(received).toEqual(Array(10).fill('before'));
    const atStart = { ...conn() };

    // A short reading (3 × 200 ms), as compose.ts would make; a 2 s repeat window.
    const compose = (): Segment[] =>
      ['4', '0', '9'].map((d) => ({ name: d, audio: Buffer.alloc(10 * 160, 0x20 + Number(d)) }));
    const box: { result?: ReadPassphraseResult } = {};
    void readPassphrase(session, {
      compose,
      pace: 1,
      slowerPace: 0.8,
      repeatWindowMs: 2_000,
      maxReadings: 3,
      clock,
    }).then((r) => (box.result = r));

    await talk(600, 'readBack'); // reading 1: the caller reads along
    await talk(200, 'sayRepeat'); // the repeat window: "repeat" by voice is not heard
    await talk(300, 'readBack');
    await sleep(600); // real time with no audio to Deepgram: longer than its idle timeout
    socket.receive(tw.dtmf('1')); // a key still asks for the reading again
    await talk(700, 'readBack'); // reading 2
    await talk(400, 'readBack'); // its repeat window
    expect(box.result).toBeUndefined();
    socket.receive(tw.dtmf('2')); // and a key ends it
    await clock.advanceAsync(0);
    expect(box.result).toMatchObject({ outcome: 'heard', readings: 2 });
    expect(twilio.playedMs).toBe(2 * 600);

    // Nothing the caller said in the span reached Deepgram: not a frame, not a byte.
    await sleep(100);
    expect(conn().audioFrames - atStart.audioFrames).toBe(0);
    expect(conn().audioBytes - atStart.audioBytes).toBe(0);
    expect(received).toEqual(Array(10).fill('before'));
    expect(intents).toEqual([
      ['repeat', 'dtmf'],
      ['got_it', 'dtmf'],
    ]);
    // The connection lived through the silence on KeepAlive: the same one, still open, no reconnect.
    expect(fake.connections()).toHaveLength(1);
    expect(conn().open).toBe(true);
    expect(conn().keepAlives).toBeGreaterThan(atStart.keepAlives + 5);

    // After the reading the caller is heard again, words included.
    await talk(200, 'after');
    await talk(100, 'sayRepeat');
    await waitFor(() => intents.some(([, s]) => s === 'speech'), 'a spoken "repeat" after the reading');
    expect(received.filter((t) => t === 'after')).toHaveLength(10);
    expect(received).not.toContain('readBack');
    expect(intents.at(-1)).toEqual(['repeat', 'speech']);
  });
});
