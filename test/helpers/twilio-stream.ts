// Twilio's side of a Media Stream for the voice tests: the frames come from the one builder the simulated caller
// uses too (src/sandbox/inbound-frames.ts), with fixed test SIDs and a default media payload of μ-law silence.
import { connect } from 'node:net';
import { inboundFrames } from '../../src/sandbox/index.js';
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
  const frames = inboundFrames({
    streamSid,
    callSid,
    accountSid: ACCOUNT_SID,
    customParameters: opts.customParameters,
  });
  return {
    streamSid,
    callSid,
    connected: () => frames.connected(),
    start: () => frames.start(),
    media: (payload: Buffer = Buffer.alloc(160, 0xff)) => frames.media(payload),
    mark: (name: string) => frames.mark(name),
    dtmf: (digit: string) => frames.dtmf(digit),
    stop: () => frames.stop(),
    json: (f: TwilioFrameInput) => JSON.stringify(f),
  };
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
