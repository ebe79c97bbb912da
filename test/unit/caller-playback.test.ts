// Twilio's playback semantics as the simulated caller models them (docs/twilio.md, "Media streams"), and its TwiML
// reading.
import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import {
  PlaybackQueue,
  localStreamUrl,
  wroteDownFrom,
  parseConnectStream,
  TwimlError,
} from '../../src/sandbox/index.js';

function recorder() {
  const events: string[] = [];
  const q = new PlaybackQueue({
    played: (f) => events.push(`play:${f[0]}:${f.length}`),
    mark: (name, cleared) => events.push(`mark:${name}${cleared ? ':cleared' : ''}`),
  });
  return { q, events };
}

describe('PlaybackQueue', () => {
  it('plays one 160-byte frame per tick and returns a mark only after the audio before it has played', () => {
    const { q, events } = recorder();
    q.enqueueAudio(Buffer.concat([Buffer.alloc(160, 1), Buffer.alloc(160, 2)]));
    q.enqueueMark('end');
    q.tick(); // frame 1 starts
    expect(events).toEqual([]);
    q.tick(); // frame 1 done, frame 2 starts
    expect(events).toEqual(['play:1:160']);
    q.tick(); // frame 2 done: the mark is due
    expect(events).toEqual(['play:1:160', 'play:2:160', 'mark:end']);
  });

  it('returns a mark at once when nothing is buffered', () => {
    const { q, events } = recorder();
    q.enqueueMark('idle');
    expect(events).toEqual(['mark:idle']);
  });

  it('joins small media messages into whole frames', () => {
    const { q, events } = recorder();
    for (let i = 0; i < 4; i++) q.enqueueAudio(Buffer.alloc(80, 5));
    q.tick();
    q.tick();
    q.tick();
    expect(events).toEqual(['play:5:160', 'play:5:160']);
    expect(q.bufferedBytes).toBe(0);
  });

  it('clear drops the buffered audio (the playing frame too) and returns every pending mark at once', () => {
    const { q, events } = recorder();
    q.enqueueAudio(Buffer.alloc(1600, 3));
    q.enqueueMark('a');
    q.enqueueAudio(Buffer.alloc(160, 4));
    q.enqueueMark('b');
    q.tick();
    q.clear();
    expect(events).toEqual(['mark:a:cleared', 'mark:b:cleared']);
    q.tick();
    expect(events).toHaveLength(2); // nothing left to play
    expect(q.bufferedBytes).toBe(0);
  });
});

describe('TwiML <Connect><Stream> reading', () => {
  it("reads the url and parameters from twilio-node's own builder output, unescaping values", () => {
    const r = new twilio.twiml.VoiceResponse();
    const stream = r.connect().stream({ url: 'wss://svc.example.test/twilio/media' });
    stream.parameter({ name: 'token', value: 'a&b<"c">' });
    stream.parameter({ name: 'shareId', value: 'sh_1' });
    expect(parseConnectStream(r.toString())).toEqual({
      url: 'wss://svc.example.test/twilio/media',
      parameters: { token: 'a&b<"c">', shareId: 'sh_1' },
    });
  });

  it('refuses TwiML without a bidirectional stream', () => {
    expect(() => parseConnectStream('<Response><Say>hi</Say></Response>')).toThrow(TwimlError);
    expect(() => parseConnectStream('<Response><Connect><Stream name="x"/></Connect></Response>')).toThrow(/no url/);
    expect(() => parseConnectStream('not xml')).toThrow(/no <Response>/);
  });
});

describe('simulated caller helpers', () => {
  it('maps the public wss URL onto the local server, keeping path and query, and refuses foreign hosts', () => {
    expect(
      localStreamUrl('wss://svc.example.test/twilio/media', 'https://svc.example.test', 'http://127.0.0.1:4000'),
    ).toBe('ws://127.0.0.1:4000/twilio/media');
    expect(
      localStreamUrl(
        'wss://svc.example.test/base/twilio/media?x=1',
        'https://svc.example.test/base/',
        'http://127.0.0.1:4000',
      ),
    ).toBe('ws://127.0.0.1:4000/twilio/media?x=1');
    expect(() =>
      localStreamUrl('wss://evil.example.test/twilio/media', 'https://svc.example.test', 'http://127.0.0.1:1'),
    ).toThrow(/not under PUBLIC_BASE_URL/);
    expect(() =>
      localStreamUrl('ws://svc.example.test/twilio/media', 'https://svc.example.test', 'http://127.0.0.1:1'),
    ).toThrow(/31922/);
  });

  it('writes down the characters of the first complete reading, after the last intro before "again"', () => {
    expect(wroteDownFrom(['prompt-intro-digits', '1', '2'])).toBeUndefined();
    expect(wroteDownFrom(['prompt-intro-digits', '1', '2', 'prompt-again', '1', '2'])).toBe('12');
    // A reading restarted before "again" (a repeat): the restarted one counts.
    expect(wroteDownFrom(['prompt-intro-letters', 'a', 'prompt-intro-letters', 'b', 'c', 'prompt-again'])).toBe('bc');
  });
});
