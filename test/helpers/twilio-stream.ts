// Inbound Twilio Media Streams frames as Twilio puts them on the wire (research/voice.md §1): numeric counters are
// strings. Used by the voice tests to play Twilio's side of a stream.
import { connect } from 'node:net';
import type { TwilioFrameInput } from '../../src/voice/frames.js';

export const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
export const CALL_SID = `CA${'b2'.repeat(16)}`;
export const STREAM_SID = `MZ${'c3'.repeat(16)}`;

/** Builds a stream's frames with a running sequenceNumber and media chunk/timestamp, like Twilio does. */
export function twilioStream(
  opts: { streamSid?: string; callSid?: string; customParameters?: Record<string, string> } = {},
) {
  const streamSid = opts.streamSid ?? STREAM_SID;
  const callSid = opts.callSid ?? CALL_SID;
  let seq = 0;
  let chunk = 0;
  const next = () => String(++seq);
  const frames = {
    connected: (): TwilioFrameInput => ({ event: 'connected', protocol: 'Call', version: '1.0.0' }),
    start: (): TwilioFrameInput => ({
      event: 'start',
      sequenceNumber: next(),
      streamSid,
      start: {
        streamSid,
        accountSid: ACCOUNT_SID,
        callSid,
        tracks: ['inbound'],
        customParameters: opts.customParameters ?? {},
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    }),
    media: (payload: Buffer = Buffer.alloc(160, 0xff)): TwilioFrameInput => {
      chunk += 1;
      return {
        event: 'media',
        sequenceNumber: next(),
        streamSid,
        media: {
          track: 'inbound',
          chunk: String(chunk),
          timestamp: String((chunk - 1) * 20),
          payload: payload.toString('base64'),
        },
      };
    },
    mark: (name: string): TwilioFrameInput => ({ event: 'mark', sequenceNumber: next(), streamSid, mark: { name } }),
    dtmf: (digit: string): TwilioFrameInput => ({
      event: 'dtmf',
      sequenceNumber: next(),
      streamSid,
      dtmf: { track: 'inbound_track', digit },
    }),
    stop: (): TwilioFrameInput => ({
      event: 'stop',
      sequenceNumber: next(),
      streamSid,
      stop: { accountSid: ACCOUNT_SID, callSid },
    }),
  };
  return { streamSid, callSid, ...frames, json: (f: TwilioFrameInput) => JSON.stringify(f) };
}

/** Sends a WebSocket upgrade on a raw TCP socket to 127.0.0.1:`port` and returns the response's status line. */
export function rawUpgrade(port: number, path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => {
      const lines = [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      sock.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    let data = '';
    sock.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\r\n')) {
        sock.destroy();
        resolve(data.split('\r\n')[0]!);
      }
    });
    sock.on('error', reject);
  });
}
