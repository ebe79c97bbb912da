// G.711 μ-law (Twilio Media Streams' only format: 8 kHz mono, one byte a sample; docs/voice.md, "G.711 μ-law") and
// the small buffer helpers clips and pauses need: silence, padding to whole 20 ms frames, trimming near-silence.
//
// The codec follows the ITU-T G.711 reference as implemented in Sun's public-domain g711.c (also CPython's audioop):
// 16-bit linear is first truncated to 14 bits, biased by 33, and coded as sign, 3-bit segment and 4-bit mantissa,
// all bits inverted. So 0 codes as 0xFF and 0xFF/0x7F both decode to 0.
import { FRAME_BYTES, MULAW_SILENCE, SAMPLE_RATE } from './types.js';

const BIAS = 0x84; // 132 = 33 << 2
const CLIP = 8159; // largest 14-bit magnitude the code can carry
const SEGMENT_ENDS = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];

/** One 16-bit linear sample (clamped to the int16 range) to its μ-law byte. */
export function linearToMulaw(sample: number): number {
  let pcm = Math.max(-32768, Math.min(32767, Math.trunc(sample))) >> 2;
  let mask = 0xff;
  if (pcm < 0) {
    pcm = -pcm;
    mask = 0x7f;
  }
  if (pcm > CLIP) pcm = CLIP;
  pcm += BIAS >> 2;
  let segment = 0;
  while (segment < 8 && pcm > (SEGMENT_ENDS[segment] as number)) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  return ((segment << 4) | ((pcm >> (segment + 1)) & 0x0f)) ^ mask;
}

/** One μ-law byte to its 16-bit linear sample. */
export function mulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  let t = ((u & 0x0f) << 3) + BIAS;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? BIAS - t : t - BIAS;
}

// A 256-entry decode table: decoding runs per byte in trimming and in tests; encoding runs only when clips are made.
const DECODE = Int16Array.from({ length: 256 }, (_, b) => mulawToLinear(b));

/** 16-bit linear samples to μ-law bytes. */
export function encodeMulaw(samples: Int16Array | readonly number[]): Buffer {
  const out = Buffer.alloc(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = linearToMulaw(samples[i] as number);
  return out;
}

/** μ-law bytes to 16-bit linear samples. */
export function decodeMulaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = DECODE[bytes[i] as number] as number;
  return out;
}

/** Whole frames covering `ms` of audio (rounded to the nearest frame, at least 0). */
export function framesForMs(ms: number): number {
  return Math.max(0, Math.round(ms / ((1000 * FRAME_BYTES) / SAMPLE_RATE)));
}

/** `frames` frames of μ-law silence (FRAME_BYTES bytes of MULAW_SILENCE each). */
export function silenceFrames(frames: number): Buffer {
  return Buffer.alloc(Math.max(0, Math.trunc(frames)) * FRAME_BYTES, MULAW_SILENCE);
}

/** About `ms` of silence, rounded to whole 20 ms frames so it can sit between frame-aligned clips. */
export function silenceMs(ms: number): Buffer {
  return silenceFrames(framesForMs(ms));
}

/** `audio` followed by silence up to the next multiple of FRAME_BYTES (a copy; already aligned audio is copied as is). */
export function padToFrame(audio: Uint8Array): Buffer {
  const padded = Math.ceil(audio.length / FRAME_BYTES) * FRAME_BYTES;
  const out = Buffer.alloc(padded, MULAW_SILENCE);
  out.set(audio, 0);
  return out;
}

/** `audio` split into FRAME_BYTES views; throws if its length is not a whole number of frames. */
export function splitFrames(audio: Buffer): Buffer[] {
  if (audio.length % FRAME_BYTES !== 0) {
    throw new RangeError(`audio of ${audio.length} bytes is not a whole number of ${FRAME_BYTES}-byte frames`);
  }
  const frames: Buffer[] = [];
  for (let i = 0; i < audio.length; i += FRAME_BYTES) frames.push(audio.subarray(i, i + FRAME_BYTES));
  return frames;
}
