// The messages Twilio sends on a bidirectional Media Stream, built as Twilio puts them on the wire: `connected`, then
// `start`, then a `media` frame every 20 ms, with `dtmf`, `mark` echoes and a final `stop`. One running
// sequenceNumber covers every message after `connected`; media carries its own chunk and timestamp; all three are
// JSON strings of digits, not numbers. Documented at https://www.twilio.com/docs/voice/media-streams/websocket-messages
// and in docs/twilio.md ("Media streams"); src/voice/frames.ts holds the schemas the service parses them with.
//
// The one builder of these frames: the simulated caller sends them to the service, and the voice tests play
// Twilio's side of a stream with them (test/helpers/twilio-stream.ts).
import type { TwilioFrameInput } from '../voice/frames.js';
import { FRAME_MS, SAMPLE_RATE } from '../voice/types.js';

export interface InboundStreamIds {
  streamSid: string;
  accountSid: string;
  callSid: string;
  /** The `<Parameter>`s of the TwiML `<Stream>`, delivered in `start`; default none. */
  customParameters?: Record<string, string>;
}

export interface InboundFrames {
  connected(): TwilioFrameInput;
  /** `customParameters` overrides the ones given when the builder was made. */
  start(customParameters?: Record<string, string>): TwilioFrameInput;
  /** One media message of the inbound track (160 bytes of μ-law per 20 ms frame). */
  media(payload: Buffer): TwilioFrameInput;
  /** The echo of a mark the server sent, once its audio has played (or at once on `clear`). */
  mark(name: string): TwilioFrameInput;
  dtmf(digit: string): TwilioFrameInput;
  stop(): TwilioFrameInput;
}

/** A stream's frames with the running counters Twilio keeps: one builder per stream. */
export function inboundFrames(ids: InboundStreamIds): InboundFrames {
  const { streamSid, accountSid, callSid } = ids;
  let seq = 0;
  let chunk = 0;
  const next = () => String(++seq);
  return {
    connected: () => ({ event: 'connected', protocol: 'Call', version: '1.0.0' }),
    start: (customParameters = ids.customParameters ?? {}) => ({
      event: 'start',
      sequenceNumber: next(),
      streamSid,
      start: {
        streamSid,
        accountSid,
        callSid,
        tracks: ['inbound'],
        customParameters,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: SAMPLE_RATE, channels: 1 },
      },
    }),
    media: (payload) => {
      chunk += 1;
      return {
        event: 'media',
        sequenceNumber: next(),
        streamSid,
        media: {
          track: 'inbound',
          chunk: String(chunk),
          timestamp: String((chunk - 1) * FRAME_MS),
          payload: payload.toString('base64'),
        },
      };
    },
    mark: (name) => ({ event: 'mark', sequenceNumber: next(), streamSid, mark: { name } }),
    dtmf: (digit) => ({ event: 'dtmf', sequenceNumber: next(), streamSid, dtmf: { track: 'inbound_track', digit } }),
    stop: () => ({ event: 'stop', sequenceNumber: next(), streamSid, stop: { accountSid, callSid } }),
  };
}
