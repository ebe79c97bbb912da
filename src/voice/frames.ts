// Twilio Media Streams wire format, both directions (docs/twilio.md, "Media streams", from
// https://www.twilio.com/docs/voice/media-streams/websocket-messages). These schemas are the single source of truth:
// the media session parses with them, the simulated caller builds what they accept.
//
// Twilio quirks this encodes:
// - `sequenceNumber`, `media.chunk` and `media.timestamp` are JSON strings of decimal digits, not numbers.
// - Twilio adds fields without notice, so objects are not strict (unknown keys are stripped), and an unknown
//   `event` is "ignored", not an error.
// - What we send must be a text frame of valid JSON with the right streamSid (warnings 31950/31951).
import { z } from 'zod';

/** A decimal counter sent as a string ("1", "20"); at most 15 digits so it stays an exact JS number. */
const decimalString = z.string().regex(/^(0|[1-9][0-9]{0,14})$/, 'expected a decimal string');
/** Twilio SIDs (MZ…, CA…, AC…): letters and digits only, so a SID can never smuggle markup or newlines into a log. */
const sid = z.string().regex(/^[A-Za-z0-9]{2,64}$/, 'expected a Twilio SID');
/**
 * A stream's SID: Twilio documents `MZ` + 32 hex (a SID as above), and streams have also been seen with a UUID in its
 * place, so that is accepted too (hex digits and hyphens only: still nothing that could carry markup or a newline
 * into a log).
 */
const streamSid = z
  .string()
  .regex(
    /^([A-Za-z0-9]{2,64}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/,
    'expected a stream SID (MZ + 32 hex, or a UUID)',
  );
/** Base64 μ-law audio; 64 KiB is the socket's maxPayload, so nothing longer could have arrived anyway. */
const base64 = z
  .string()
  .max(64 * 1024)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');

export const connectedFrameSchema = z.object({
  event: z.literal('connected'),
  protocol: z.string().max(64),
  version: z.string().max(64),
});

export const startFrameSchema = z.object({
  event: z.literal('start'),
  sequenceNumber: decimalString,
  streamSid,
  start: z.object({
    streamSid,
    accountSid: sid,
    callSid: sid,
    tracks: z.array(z.string().max(32)).max(4),
    // <Parameter name value> children of <Stream>; values are strings. Bounded: Twilio documents no limit
    // (https://www.twilio.com/docs/voice/twiml/stream).
    customParameters: z
      .record(z.string().max(256), z.string().max(1024))
      .refine((p) => Object.keys(p).length <= 32, 'too many custom parameters')
      .default({}),
    // "always" audio/x-mulaw, 8000 Hz, mono per Twilio's doc; anything else could not be played or recognised.
    mediaFormat: z.object({
      encoding: z.literal('audio/x-mulaw'),
      sampleRate: z.literal(8000),
      channels: z.literal(1),
    }),
  }),
});

export const mediaFrameSchema = z.object({
  event: z.literal('media'),
  sequenceNumber: decimalString,
  streamSid,
  media: z.object({
    track: z.string().max(32),
    chunk: decimalString,
    timestamp: decimalString,
    payload: base64,
  }),
});

export const markFrameSchema = z.object({
  event: z.literal('mark'),
  sequenceNumber: decimalString,
  streamSid,
  mark: z.object({ name: z.string().max(256) }),
});

export const dtmfFrameSchema = z.object({
  event: z.literal('dtmf'),
  sequenceNumber: decimalString,
  streamSid,
  dtmf: z.object({
    track: z.string().max(32),
    digit: z.string().regex(/^[0-9*#A-D]$/, 'expected one DTMF key'),
  }),
});

export const stopFrameSchema = z.object({
  event: z.literal('stop'),
  sequenceNumber: decimalString,
  streamSid,
  stop: z.object({ accountSid: sid, callSid: sid }),
});

/** Every message Twilio sends on a bidirectional stream. */
export const twilioFrameSchema = z.discriminatedUnion('event', [
  connectedFrameSchema,
  startFrameSchema,
  mediaFrameSchema,
  markFrameSchema,
  dtmfFrameSchema,
  stopFrameSchema,
]);

export type TwilioFrame = z.infer<typeof twilioFrameSchema>;
/** The JSON shape as Twilio puts it on the wire (what a fake must send). */
export type TwilioFrameInput = z.input<typeof twilioFrameSchema>;
export type StartFrame = z.infer<typeof startFrameSchema>;
export type MediaFrame = z.infer<typeof mediaFrameSchema>;
export type TwilioEvent = TwilioFrame['event'];

const KNOWN_EVENTS: ReadonlySet<string> = new Set<TwilioEvent>(['connected', 'start', 'media', 'mark', 'dtmf', 'stop']);

export type FrameParseResult =
  | { ok: true; frame: TwilioFrame }
  /** `ignored`: a well-formed message with an event we do not know (Twilio may add some); not a fault. */
  | { ok: false; ignored: boolean; reason: string };

/**
 * Parses one WebSocket message from Twilio. Never throws; `reason` names what was wrong (the event and the field
 * paths) and never carries the frame's content, so it is safe to log.
 */
export function parseTwilioFrame(data: string | Buffer, isBinary: boolean): FrameParseResult {
  if (isBinary) return fail('binary frame');
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return fail('not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('not a JSON object');
  const event = (json as { event?: unknown }).event;
  if (typeof event !== 'string') return fail('no event name');
  if (!KNOWN_EVENTS.has(event)) return { ok: false, ignored: true, reason: `unknown event ${plainWord(event)}` };
  const parsed = twilioFrameSchema.safeParse(json);
  if (parsed.success) return { ok: true, frame: parsed.data };
  return fail(`bad ${event} frame at ${issuePaths(parsed.error)}`);
}

function fail(reason: string): FrameParseResult {
  return { ok: false, ignored: false, reason };
}

/** Field paths only (no values, no messages quoting input); segments that are not plain words (a customParameters key) are masked. */
function issuePaths(error: z.ZodError): string {
  const paths = new Set(
    error.issues.map((i) =>
      i.path.length === 0
        ? '(root)'
        : i.path.map((p) => (typeof p === 'number' ? String(p) : plainWord(String(p)))).join('.'),
    ),
  );
  return [...paths].slice(0, 4).join(', ');
}

function plainWord(s: string): string {
  return /^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(s) ? s : '(name withheld)';
}

// ---- Outbound (what we send; bidirectional streams only) --------------------------------------------------------

export const outboundMediaSchema = z.object({
  event: z.literal('media'),
  streamSid,
  media: z.object({ payload: base64 }),
});
export const outboundMarkSchema = z.object({
  event: z.literal('mark'),
  streamSid,
  mark: z.object({ name: z.string().min(1).max(256) }),
});
export const outboundClearSchema = z.object({ event: z.literal('clear'), streamSid });
/** What Twilio accepts from us (the simulated caller parses our frames with this, as Twilio would). */
export const outboundFrameSchema = z.discriminatedUnion('event', [
  outboundMediaSchema,
  outboundMarkSchema,
  outboundClearSchema,
]);
export type OutboundFrame = z.infer<typeof outboundFrameSchema>;

/** Raw μ-law 8 kHz, base64: no WAV header, which would be heard as a click (twilio-labs/call-gpt#33). */
export function mediaFrame(streamSid: string, payload: Buffer): string {
  return JSON.stringify({ event: 'media', streamSid, media: { payload: payload.toString('base64') } });
}

/** Twilio echoes the mark once the audio queued before it has played, or at once when a `clear` drops it. */
export function markFrame(streamSid: string, name: string): string {
  return JSON.stringify({ event: 'mark', streamSid, mark: { name } });
}

/** Empties Twilio's buffered audio; every pending mark then comes back at once (it does not mean "played"). */
export function clearFrame(streamSid: string): string {
  return JSON.stringify({ event: 'clear', streamSid });
}
