// Reading the passphrase over a media session, with Twilio's playback emulated on a fake clock (marks come back
// only after the audio has played; clear returns them at once): heard only on the final mark, repeats by key only
// (speech is suspended for the whole reading), key presses may restart, hang-ups, and the bound on readings.
import { describe, expect, it } from 'vitest';
import { MediaSession } from '../../src/voice/media-session.js';
import { readPassphrase, type ReadPassphraseOptions, type ReadPassphraseResult } from '../../src/voice/reader.js';
import type { SpeechListenerFactory, SpeechListenerOptions, Segment } from '../../src/voice/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeMediaSocket } from '../helpers/fake-media-socket.js';
import { captureLog } from '../helpers/log-capture.js';
import { twilioStream } from '../helpers/twilio-stream.js';
import { emulateTwilioPlayback } from '../helpers/twilio-playback.js';

const READING_MS = 3000;

function setup() {
  const socket = new FakeMediaSocket();
  const clock = new FakeClock();
  const cap = captureLog();
  let speech: SpeechListenerOptions | undefined;
  const heardBySpeech: Buffer[] = [];
  const factory: SpeechListenerFactory = (_sid, opts) => {
    speech = opts;
    return { send: (a) => void heardBySpeech.push(a), close: async () => undefined };
  };
  const session = new MediaSession({ socket, log: cap.log, clock, speech: factory });
  const tw = twilioStream();
  const twilio = emulateTwilioPlayback(socket, clock, tw);
  socket.receive(tw.connected());
  socket.receive(tw.start());
  const paces: number[] = [];
  // A reading of READING_MS whose clip names spell a (fake) passphrase, as compose.ts's would.
  const compose = (pace: number): Segment[] => {
    paces.push(pace);
    return ['7', '3', '9'].map((d) => ({
      name: d,
      audio: Buffer.alloc((READING_MS / 3 / 20) * 160, 0x20 + Number(d)),
    }));
  };
  const opts: ReadPassphraseOptions = {
    compose,
    pace: 1,
    slowerPace: 0.8,
    repeatWindowMs: 5000,
    maxReadings: 3,
    clock,
  };
  const at = (ms: number, fn: () => void) => clock.setTimer(fn, ms);
  const run = (o: Partial<ReadPassphraseOptions> = {}) => {
    const box: { result?: ReadPassphraseResult } = {};
    void readPassphrase(session, { ...opts, ...o }).then((r) => (box.result = r));
    return box;
  };
  return {
    socket,
    clock,
    session,
    tw,
    twilio,
    paces,
    at,
    run,
    cap,
    heardBySpeech,
    speak: (i: 'repeat' | 'slower' | 'got_it') => speech!.onIntent(i),
  };
}

describe('readPassphrase', () => {
  it('counts the reading heard only when its final mark returns after playback, then waits out the repeat window', async () => {
    const t = setup();
    const box = t.run();
    await t.clock.advanceAsync(READING_MS - 200);
    expect(box.result).toBeUndefined(); // every frame is on the wire by now, but it has not all played
    await t.clock.advanceAsync(4000);
    expect(box.result).toBeUndefined(); // still inside the repeat window
    await t.clock.advanceAsync(2000);
    expect(box.result).toEqual({ outcome: 'heard', readings: 1, firstFrameAt: 0, firstHeardAt: READING_MS });
    expect(t.paces).toEqual([1]);
    expect(t.twilio.clears).toBe(0);
  });

  it('reads again when the caller presses 1 in the repeat window', async () => {
    const t = setup();
    const box = t.run();
    t.at(READING_MS + 1000, () => t.socket.receive(t.tw.dtmf('1')));
    await t.clock.advanceAsync(30_000);
    expect(box.result).toMatchObject({ outcome: 'heard', readings: 2, firstHeardAt: READING_MS });
    expect(t.twilio.playedMs).toBe(2 * READING_MS);
  });

  it('reads again slower after key 3; words in the repeat window do nothing and none of its audio reaches STT', async () => {
    const t = setup();
    const box = t.run({ maxReadings: 4 });
    // The caller reads the passphrase back, and says "repeat", "slower", "got it": nothing is heard or acted on.
    t.at(READING_MS + 500, () => {
      t.socket.receive(t.tw.media(Buffer.alloc(160, 0x27)));
      t.speak('repeat');
      t.speak('slower');
      t.speak('got_it');
    });
    t.at(READING_MS + 1500, () => t.socket.receive(t.tw.dtmf('3')));
    await t.clock.advanceAsync(READING_MS + 1500 + READING_MS + 5000 + 100);
    expect(box.result).toMatchObject({ outcome: 'heard', readings: 2 });
    expect(t.paces).toEqual([1, 0.8]);
    expect(t.heardBySpeech).toEqual([]);
    // Once the reading is over, speech recognition hears the caller again.
    t.socket.receive(t.tw.media(Buffer.alloc(160, 0x28)));
    expect(t.heardBySpeech).toEqual([Buffer.alloc(160, 0x28)]);
  });

  it('ignores speech while the passphrase plays (no barge-in)', async () => {
    const t = setup();
    const box = t.run();
    t.at(500, () => t.speak('repeat'));
    t.at(1500, () => t.speak('got_it'));
    await t.clock.advanceAsync(READING_MS + 6000);
    expect(box.result).toMatchObject({ outcome: 'heard', readings: 1, firstHeardAt: READING_MS });
    expect(t.twilio.clears).toBe(0);
    expect(t.twilio.playedMs).toBe(READING_MS);
  });

  it('a key press of 1 during playback cuts the reading and starts it again; only the uncut one counts as heard', async () => {
    const t = setup();
    const box = t.run();
    t.at(1000, () => t.socket.receive(t.tw.dtmf('1')));
    await t.clock.advanceAsync(20_000);
    expect(t.twilio.clears).toBe(1);
    expect(box.result).toMatchObject({ outcome: 'heard', readings: 2 });
    expect(box.result!.firstHeardAt).toBeGreaterThanOrEqual(1000 + READING_MS);
  });

  it('key 2 ("got it") in the window ends at once, and during playback ends right after the reading', async () => {
    const a = setup();
    const boxA = a.run();
    a.at(READING_MS + 200, () => a.socket.receive(a.tw.dtmf('2')));
    await a.clock.advanceAsync(READING_MS + 300);
    expect(boxA.result).toMatchObject({ outcome: 'heard', readings: 1 });

    const b = setup();
    const boxB = b.run();
    b.at(1000, () => b.socket.receive(b.tw.dtmf('2')));
    await b.clock.advanceAsync(READING_MS + 10);
    expect(boxB.result).toMatchObject({ outcome: 'heard', readings: 1 });
    expect(b.twilio.clears).toBe(0);
  });

  it('a hang-up mid-reading is hung_up, not heard', async () => {
    const t = setup();
    const box = t.run();
    t.at(1500, () => t.socket.drop());
    await t.clock.advanceAsync(10_000);
    expect(box.result).toEqual({ outcome: 'hung_up', readings: 1, firstFrameAt: 0 });
  });

  it('a hang-up in the repeat window keeps the reading heard and ends without waiting', async () => {
    const t = setup();
    const box = t.run();
    t.at(READING_MS + 100, () => t.socket.receive(t.tw.stop()));
    await t.clock.advanceAsync(READING_MS + 200);
    expect(box.result).toMatchObject({ outcome: 'heard', readings: 1 });
  });

  it('stops at maxReadings however often the caller asks again', async () => {
    const t = setup();
    const box = t.run({ maxReadings: 3 });
    for (let i = 1; i <= 5; i++) t.at(i * (READING_MS + 1000) - 500, () => t.socket.receive(t.tw.dtmf('1')));
    await t.clock.advanceAsync(60_000);
    expect(box.result).toMatchObject({ outcome: 'heard', readings: 3 });
    expect(t.twilio.playedMs).toBe(3 * READING_MS);
  });

  it('a reading cut by someone else is not heard and not retried', async () => {
    const t = setup();
    const box = t.run();
    t.at(1000, () => t.session.clear());
    await t.clock.advanceAsync(10_000);
    expect(box.result).toMatchObject({ outcome: 'not_heard', readings: 1 });
  });

  it('on a stream that has already ended it reads nothing', async () => {
    const t = setup();
    t.socket.drop();
    const box = t.run();
    await t.clock.advanceAsync(10);
    expect(box.result).toEqual({ outcome: 'hung_up', readings: 0 });
  });

  it('logs nothing of the reading: no clip names, no audio', async () => {
    const t = setup();
    t.run();
    await t.clock.advanceAsync(10_000);
    const logged = t.cap.text();
    expect(logged).not.toMatch(/"name":"[0-9]"/);
    expect(logged).not.toContain(Buffer.alloc(160, 0x27).toString('base64').slice(0, 40));
  });
});
