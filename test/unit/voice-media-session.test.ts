// One Twilio Media Stream session driven frame by frame through a fake socket: Twilio's order is enforced, bad and
// out-of-order frames are counted and logged by reason without dropping the call, audio reaches speech recognition,
// keys and words become intents, and everything sent is text JSON with this stream's SID.
import { describe, expect, it } from 'vitest';
import {
  MAX_REASONS,
  MediaSession,
  MediaSessionError,
  OVERFLOW_REASON,
  type IntentSource,
  type StreamEndReason,
  type StreamInfo,
} from '../../src/voice/media-session.js';
import type { CallerIntent, SpeechListenerFactory, SpeechListenerOptions } from '../../src/voice/types.js';
import { FakeClock, flush } from '../helpers/fake-clock.js';
import { FakeMediaSocket } from '../helpers/fake-media-socket.js';
import { captureLog } from '../helpers/log-capture.js';
import { CALL_SID, STREAM_SID, twilioStream } from '../helpers/twilio-stream.js';

function fakeSpeech() {
  const state = { audio: [] as Buffer[], closed: 0, callSid: '', opts: undefined as SpeechListenerOptions | undefined };
  const factory: SpeechListenerFactory = (callSid, opts) => {
    state.callSid = callSid;
    state.opts = opts;
    return { send: (a) => void state.audio.push(a), close: async () => void (state.closed += 1) };
  };
  return { factory, state };
}

function setup(
  opts: {
    authorizeStart?: (i: StreamInfo) => boolean;
    speech?: SpeechListenerFactory;
    customParameters?: Record<string, string>;
  } = {},
) {
  const socket = new FakeMediaSocket();
  const clock = new FakeClock();
  const cap = captureLog();
  const session = new MediaSession({
    socket,
    log: cap.log,
    clock,
    authorizeStart: opts.authorizeStart,
    speech: opts.speech,
  });
  const events = {
    start: [] as StreamInfo[],
    dtmf: [] as string[],
    intent: [] as [CallerIntent, IntentSource][],
    stop: [] as StreamEndReason[],
  };
  session.on('start', (i) => events.start.push(i));
  session.on('dtmf', (d) => events.dtmf.push(d));
  session.on('intent', (i, s) => events.intent.push([i, s]));
  session.on('stop', (r) => events.stop.push(r));
  const tw = twilioStream({ customParameters: opts.customParameters ?? { callToken: 't' } });
  return { socket, clock, cap, session, events, tw };
}

describe('MediaSession', () => {
  it('handles a whole stream in order: start, audio to speech, key presses as intents, stop', async () => {
    const speech = fakeSpeech();
    const { socket, session, events, tw } = setup({ speech: speech.factory });
    socket.receive(tw.connected());
    socket.receive(tw.start());
    expect(events.start).toEqual([
      {
        callSid: CALL_SID,
        streamSid: STREAM_SID,
        accountSid: expect.any(String),
        tracks: ['inbound'],
        customParameters: { callToken: 't' },
      },
    ]);
    expect(session.info?.callSid).toBe(CALL_SID);
    expect(speech.state.callSid).toBe(CALL_SID);

    const voice = Buffer.from(Array.from({ length: 160 }, (_, i) => i));
    socket.receive(tw.media(voice));
    socket.receive(tw.media());
    expect(speech.state.audio).toEqual([voice, Buffer.alloc(160, 0xff)]);

    socket.receive(tw.dtmf('1'));
    socket.receive(tw.dtmf('2'));
    socket.receive(tw.dtmf('3'));
    socket.receive(tw.dtmf('9'));
    speech.state.opts!.onIntent('repeat');
    expect(events.dtmf).toEqual(['1', '2', '3', '9']);
    expect(events.intent).toEqual([
      ['repeat', 'dtmf'],
      ['got_it', 'dtmf'],
      ['slower', 'dtmf'],
      ['repeat', 'speech'],
    ]);

    socket.receive(tw.stop());
    await flush();
    expect(events.stop).toEqual(['stop']);
    expect(session.ended).toBe(true);
    expect(socket.closedWith).toBe(1000);
    expect(speech.state.closed).toBe(1);
    expect(session.stats()).toMatchObject({
      rejected: 0,
      ignored: 0,
      frames: { connected: 1, start: 1, media: 2, dtmf: 4, stop: 1 },
    });
  });

  it('sends no caller audio to speech recognition while it plays (a caller saying the digits back is not transcribed)', async () => {
    const speech = fakeSpeech();
    const { socket, session, clock, tw } = setup({ speech: speech.factory });
    socket.receive(tw.connected());
    socket.receive(tw.start());
    const before = Buffer.alloc(160, 1);
    socket.receive(tw.media(before));
    const played = session.play([{ name: '7', audio: Buffer.alloc(160 * 3, 0x10) }], 'reading');
    clock.advance(200);
    await flush();
    socket.receive(tw.media(Buffer.alloc(160, 2))); // the caller repeats a digit while it plays
    const mark = socket.sent.map((t) => JSON.parse(t)).find((f) => f.event === 'mark')!;
    socket.receive(tw.mark(mark.mark.name));
    expect(await played).toBe('played');
    const after = Buffer.alloc(160, 3);
    socket.receive(tw.media(after));
    expect(speech.state.audio).toEqual([before, after]);
  });

  it('suspendSpeech() keeps caller audio from speech recognition and drops speech intents until released; keys still work', () => {
    const speech = fakeSpeech();
    const { socket, session, events, tw } = setup({ speech: speech.factory });
    socket.receive(tw.start());
    const frame = (b: number) => Buffer.alloc(160, b);
    socket.receive(tw.media(frame(1)));
    const release = session.suspendSpeech();
    const other = session.suspendSpeech(); // spans may overlap: speech resumes after the last one
    socket.receive(tw.media(frame(2))); // nothing plays: only the suspension keeps it back
    speech.state.opts!.onIntent('got_it'); // a late result of audio sent before: not acted on
    socket.receive(tw.dtmf('1'));
    release();
    release(); // idempotent: it must not release the other span
    socket.receive(tw.media(frame(3)));
    other();
    socket.receive(tw.media(frame(4)));
    speech.state.opts!.onIntent('repeat');
    expect(speech.state.audio).toEqual([frame(1), frame(4)]);
    expect(events.intent).toEqual([
      ['repeat', 'dtmf'],
      ['repeat', 'speech'],
    ]);
  });

  it('counts malformed and out-of-order frames by reason, logs them without the payload, and keeps the call', () => {
    const { socket, session, events, tw, cap } = setup();
    const other = twilioStream({ streamSid: `MZ${'99'.repeat(16)}` });
    const secretAudio = Buffer.from('PAYLOAD-THAT-MUST-NOT-BE-LOGGED');
    socket.receive(tw.connected());
    socket.receive(tw.media(secretAudio)); // before start
    socket.receive(tw.dtmf('1')); // before start
    socket.receive(tw.start());
    socket.receive(tw.connected()); // out of order
    socket.receive(tw.start()); // a second start
    socket.receive(other.media(secretAudio)); // wrong streamSid
    socket.receive(`{"event":"media","payload":"${secretAudio.toString('base64')}"`); // not JSON
    socket.receive(Buffer.from(JSON.stringify(tw.media(secretAudio))), true); // binary
    socket.receive({
      event: 'media',
      streamSid: STREAM_SID,
      sequenceNumber: 99,
      media: { payload: secretAudio.toString('base64') },
    });
    socket.receive({ event: 'transcription', streamSid: STREAM_SID }); // unknown: ignored
    const replayed = tw.dtmf('2');
    socket.receive(replayed);
    socket.receive(replayed); // same sequenceNumber again
    socket.receive(tw.mark('never-sent.1'));

    expect(events.start).toHaveLength(1);
    expect(events.dtmf).toEqual(['2']); // the call still works
    expect(session.ended).toBe(false);
    expect(socket.closedWith).toBeUndefined();
    const stats = session.stats();
    expect(stats.ignored).toBe(1);
    expect(stats.reasons).toEqual({
      'media before start': 1,
      'dtmf before start': 1,
      'connected out of order': 1,
      'second start': 1,
      'wrong streamSid': 1,
      'not JSON': 1,
      'binary frame': 1,
      'bad media frame at sequenceNumber, media.track, media.chunk, media.timestamp': 1,
      'unknown event transcription': 1,
      'sequenceNumber did not advance': 1,
      'mark we did not send': 1,
    });
    expect(stats.rejected).toBe(10);
    const logged = cap.text();
    expect(logged).toContain('wrong streamSid');
    expect(logged).not.toContain(secretAudio.toString('base64'));
    expect(logged).not.toContain('PAYLOAD-THAT');
  });

  it('100,000 made-up event names (and thousands of distinct bad fields) leave the per-session counters and logs bounded', () => {
    const { socket, session, events, tw, cap } = setup();
    socket.receive(tw.connected());
    socket.receive(tw.start());
    const N = 100_000;
    for (let i = 0; i < N; i++) socket.receive(`{"event":"madeUp${i}"}`);
    let stats = session.stats();
    expect(stats.ignored).toBe(N);
    expect(Object.keys(stats.reasons).filter((r) => r.startsWith('unknown event '))).toHaveLength(MAX_REASONS.ignored);
    expect(stats.reasons[OVERFLOW_REASON.ignored]).toBe(N - MAX_REASONS.ignored);
    // Made-up names cannot use up the room for naming real faults.
    socket.receive(twilioStream({ streamSid: `MZ${'99'.repeat(16)}` }).dtmf('1'));
    expect(session.stats().reasons['wrong streamSid']).toBe(1);

    // Bad frames whose error path names a different custom parameter each time: bounded the same way.
    const start = tw.start() as { start: Record<string, unknown> };
    const M = 5_000;
    for (let i = 0; i < M; i++)
      socket.receive({ ...start, start: { ...start.start, customParameters: { [`p${i}`]: 7 } } });
    stats = session.stats();
    expect(stats.rejected).toBe(M + 1);
    expect(stats.reasons[OVERFLOW_REASON.rejected]).toBe(M + 1 - MAX_REASONS.rejected);
    expect(Object.keys(stats.reasons)).toHaveLength(MAX_REASONS.ignored + MAX_REASONS.rejected + 2);
    // One log line per named reason at most, plus the overflow buckets and the stream's own lines.
    expect(cap.lines.length).toBeLessThan(MAX_REASONS.ignored + MAX_REASONS.rejected + 10);
    // The call still works.
    socket.receive(tw.dtmf('1'));
    expect(events.dtmf).toEqual(['1']);
  });

  it('rejects every frame after stop', () => {
    const { socket, session, events, tw } = setup();
    socket.receive(tw.start());
    socket.receive(tw.stop());
    socket.receive(tw.dtmf('1'));
    expect(events.dtmf).toEqual([]);
    expect(session.stats().reasons).toEqual({ 'dtmf after the stream ended': 1 });
  });

  it('closes a stream whose start fails authorisation, without accepting it', () => {
    const seen: StreamInfo[] = [];
    const { socket, session, events, tw, cap } = setup({
      authorizeStart: (i) => (seen.push(i), false),
      customParameters: { callToken: 'forged' },
    });
    socket.receive(tw.connected());
    socket.receive(tw.start());
    expect(seen[0]?.customParameters).toEqual({ callToken: 'forged' });
    expect(events.start).toEqual([]);
    expect(events.stop).toEqual(['rejected']);
    expect(socket.closedWith).toBe(1008);
    expect(session.started).toBe(false);
    expect(cap.text()).toContain('media stream start rejected');
    expect(cap.text()).not.toContain('forged');
    expect(() => session.play([], 'x')).not.toThrow(); // ended: resolves 'closed'
  });

  it('sends only text JSON frames with its streamSid, and a play settles when Twilio echoes the mark', async () => {
    const { socket, session, tw, clock } = setup();
    expect(() => session.play([{ name: 'd1', audio: Buffer.alloc(160, 0xff) }], 'reading')).toThrow(MediaSessionError);
    socket.receive(tw.start());
    let outcome: string | undefined;
    void session.play([{ name: 'd1', audio: Buffer.alloc(800, 0xff) }], 'reading').then((o) => (outcome = o));
    clock.advance(1000);
    const frames = socket.frames();
    expect(frames.map((f) => f.event)).toEqual(['media', 'media', 'media', 'media', 'media', 'mark']);
    expect(frames.every((f) => f.streamSid === STREAM_SID)).toBe(true);
    await flush();
    expect(outcome).toBeUndefined();
    socket.receive(tw.mark(frames.at(-1)!.mark!.name));
    await flush();
    expect(outcome).toBe('played');
  });

  it('a socket that closes without stop (hang-up) ends the session and settles plays as closed', async () => {
    const speech = fakeSpeech();
    const { socket, session, events, tw } = setup({ speech: speech.factory });
    socket.receive(tw.start());
    const p = session.play([{ name: 'd1', audio: Buffer.alloc(16000, 0xff) }], 'reading');
    socket.drop();
    expect(await p).toBe('closed');
    expect(events.stop).toEqual(['socket_closed']);
    expect(speech.state.closed).toBe(1);
  });

  it('end() closes the socket normally so Twilio continues with the TwiML after </Connect>', () => {
    const { socket, session, events, tw } = setup();
    socket.receive(tw.start());
    session.end();
    expect(socket.closedWith).toBe(1000);
    expect(events.stop).toEqual(['ended']);
  });

  it('a listener that throws, or a speech factory that throws, does not take the call down', () => {
    const { socket, session, tw, cap } = setup({
      speech: () => {
        throw new Error('no deepgram');
      },
    });
    const dtmf: string[] = [];
    session.on('dtmf', (d) => {
      dtmf.push(d);
      if (d === '1') throw new Error('listener bug');
    });
    socket.receive(tw.start());
    socket.receive(tw.dtmf('1'));
    socket.receive(tw.dtmf('2'));
    expect(dtmf).toEqual(['1', '2']);
    expect(session.ended).toBe(false);
    expect(cap.text()).toContain('speech recognition did not start');
    expect(session.stats().reasons['handler error']).toBe(1);
  });
});
