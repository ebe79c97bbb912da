// Twilio Media Streams frames: every inbound event with Twilio's string counters, tolerance for what Twilio may add,
// and clear reasons (never the frame's content) for everything else. Outbound builders produce what Twilio accepts.
import { describe, expect, it } from 'vitest';
import { clearFrame, markFrame, mediaFrame, outboundFrameSchema, parseTwilioFrame } from '../../src/voice/frames.js';
import { ACCOUNT_SID, CALL_SID, STREAM_SID, twilioStream } from '../helpers/twilio-stream.js';

const s = twilioStream({ customParameters: { callToken: 'abc.def', shareId: 's1' } });
const parse = (v: unknown) => parseTwilioFrame(JSON.stringify(v), false);

describe('parseTwilioFrame', () => {
  it('parses every Twilio event, keeping counters as the strings Twilio sends', () => {
    const connected = parse(s.connected());
    expect(connected).toEqual({ ok: true, frame: { event: 'connected', protocol: 'Call', version: '1.0.0' } });

    const start = parse(s.start());
    expect(start.ok && start.frame.event === 'start' && start.frame.start).toMatchObject({
      callSid: CALL_SID,
      accountSid: ACCOUNT_SID,
      streamSid: STREAM_SID,
      customParameters: { callToken: 'abc.def', shareId: 's1' },
    });
    expect(start.ok && start.frame.event === 'start' && start.frame.sequenceNumber).toBe('1');

    const audio = Buffer.from([0x00, 0x7f, 0xff, 0x80]);
    const media = parse(s.media(audio));
    expect(media.ok && media.frame).toMatchObject({
      event: 'media',
      sequenceNumber: '2',
      media: { chunk: '1', timestamp: '0', track: 'inbound' },
    });
    expect(media.ok && media.frame.event === 'media' && Buffer.from(media.frame.media.payload, 'base64')).toEqual(
      audio,
    );

    expect(parse(s.mark('reading-1.1'))).toMatchObject({
      ok: true,
      frame: { event: 'mark', mark: { name: 'reading-1.1' } },
    });
    expect(parse(s.dtmf('1'))).toMatchObject({
      ok: true,
      frame: { event: 'dtmf', dtmf: { digit: '1', track: 'inbound_track' } },
    });
    expect(parse(s.stop())).toMatchObject({ ok: true, frame: { event: 'stop', stop: { callSid: CALL_SID } } });
  });

  it('accepts a Buffer holding the JSON text, as ws delivers it', () => {
    expect(parseTwilioFrame(Buffer.from(JSON.stringify(s.dtmf('#'))), false)).toMatchObject({ ok: true });
  });

  it('rejects numeric counters and non-decimal strings, naming only the field', () => {
    const m = s.media() as { sequenceNumber: unknown; media: { chunk: unknown; timestamp: unknown } };
    expect(parse({ ...m, sequenceNumber: 3 })).toEqual({
      ok: false,
      ignored: false,
      reason: 'bad media frame at sequenceNumber',
    });
    expect(parse({ ...m, media: { ...m.media, chunk: '0x1f' } })).toEqual({
      ok: false,
      ignored: false,
      reason: 'bad media frame at media.chunk',
    });
    expect(parse({ ...m, media: { ...m.media, timestamp: '-20' } })).toMatchObject({
      ok: false,
      reason: 'bad media frame at media.timestamp',
    });
  });

  it('tolerates fields Twilio may add, at the top and inside, and drops them', () => {
    const r = parse({
      ...s.stop(),
      newTopLevel: { x: 1 },
      stop: { accountSid: ACCOUNT_SID, callSid: CALL_SID, reason: 'hangup' },
    });
    expect(r.ok).toBe(true);
    expect(r.ok && r.frame).not.toHaveProperty('newTopLevel');
  });

  it('answers an unknown event as ignored, not as an error', () => {
    expect(parse({ event: 'transcription', streamSid: STREAM_SID, sequenceNumber: '9' })).toEqual({
      ok: false,
      ignored: true,
      reason: 'unknown event transcription',
    });
    expect(parse({ event: '<script>alert(1)</script>' })).toEqual({
      ok: false,
      ignored: true,
      reason: 'unknown event (name withheld)',
    });
  });

  it('rejects binary frames, non-JSON and non-objects without throwing', () => {
    expect(parseTwilioFrame(Buffer.from(JSON.stringify(s.dtmf('1'))), true)).toEqual({
      ok: false,
      ignored: false,
      reason: 'binary frame',
    });
    expect(parseTwilioFrame('{"event":"media",', false)).toEqual({ ok: false, ignored: false, reason: 'not JSON' });
    expect(parseTwilioFrame('[1,2]', false)).toMatchObject({ ok: false, reason: 'not a JSON object' });
    expect(parseTwilioFrame('null', false)).toMatchObject({ ok: false, reason: 'not a JSON object' });
    expect(parseTwilioFrame('{"streamSid":"MZ1"}', false)).toMatchObject({ ok: false, reason: 'no event name' });
    expect(parseTwilioFrame(Buffer.from([0xff, 0xfe, 0x00]), false)).toMatchObject({ ok: false, ignored: false });
  });

  it('accepts a stream SID as Twilio sends it, MZ + 32 hex or a UUID, on every event and in what we send back', () => {
    for (const streamSid of ['MZ7c8817f8a231170163c51f360708d9a2', '2b7c1f4e-9a3d-4c51-8e0f-6d2a9b1c3e47']) {
      const start = s.start() as { streamSid: string; start: { streamSid: string } };
      expect(parse({ ...start, streamSid, start: { ...start.start, streamSid } })).toMatchObject({ ok: true });
      for (const frame of [s.media(), s.mark('m'), s.dtmf('1'), s.stop()] as object[]) {
        expect(parse({ ...frame, streamSid })).toMatchObject({ ok: true });
      }
      for (const out of [mediaFrame(streamSid, Buffer.alloc(160)), markFrame(streamSid, 'm'), clearFrame(streamSid)]) {
        expect(outboundFrameSchema.safeParse(JSON.parse(out)).success).toBe(true);
      }
    }
    // Hyphens only in a UUID's places; nothing else a log could be fooled by.
    for (const streamSid of ['MZ-1', '2b7c1f4e-9a3d-4c51-8e0f-6d2a9b1c3e47-', 'MZ 1', 'MZ1\n']) {
      expect(parse({ ...(s.media() as object), streamSid })).toMatchObject({ ok: false });
    }
  });

  it('rejects bad shapes with reasons that never quote the frame', () => {
    const secretish = 'hunter2-SECRET-VALUE';
    const cases: unknown[] = [
      { ...(s.media() as object), media: { track: 'inbound', chunk: '1', timestamp: '0', payload: `${secretish}!!` } },
      { ...(s.mark('x') as object), mark: { name: 42 } },
      { ...(s.dtmf('1') as object), dtmf: { track: 'inbound_track', digit: secretish } },
      { ...(s.start() as object), streamSid: secretish + ' <b>' },
      {
        ...(s.start() as { start: object }),
        start: { ...(s.start() as { start: object }).start, customParameters: { [`${secretish}<i>`]: 7 } },
      },
      {
        ...(s.start() as { start: object }),
        start: {
          ...(s.start() as { start: object }).start,
          mediaFormat: { encoding: 'audio/l16', sampleRate: 16000, channels: 1 },
        },
      },
      { event: 'stop', streamSid: STREAM_SID },
    ];
    for (const c of cases) {
      const r = parse(c);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.reason).toMatch(/^bad (media|mark|dtmf|start|stop) frame at /);
      expect(!r.ok && r.reason).not.toContain('hunter2');
      expect(!r.ok && r.reason).not.toContain('<');
    }
  });
});

describe('outbound frame builders', () => {
  it('build text JSON that Twilio accepts, with the stream SID and base64 μ-law', () => {
    const audio = Buffer.alloc(320, 0xff);
    const media = JSON.parse(mediaFrame(STREAM_SID, audio));
    expect(media).toEqual({ event: 'media', streamSid: STREAM_SID, media: { payload: audio.toString('base64') } });
    expect(outboundFrameSchema.parse(media)).toEqual(media);
    expect(JSON.parse(markFrame(STREAM_SID, 'reading-1.2'))).toEqual({
      event: 'mark',
      streamSid: STREAM_SID,
      mark: { name: 'reading-1.2' },
    });
    expect(JSON.parse(clearFrame(STREAM_SID))).toEqual({ event: 'clear', streamSid: STREAM_SID });
    for (const f of [markFrame(STREAM_SID, 'm'), clearFrame(STREAM_SID)])
      expect(outboundFrameSchema.safeParse(JSON.parse(f)).success).toBe(true);
  });
});
