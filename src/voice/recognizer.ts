// Streaming clip recogniser for the sandbox: the simulated caller uses it to know which clips it heard, and the fake
// Deepgram to know which caller words it was sent. It is exact, not acoustic: it fingerprints each 160-byte frame
// and reports a clip when all of the clip's frames arrive consecutively, in order.
//
// It relies on what the composer and clip sets guarantee (src/voice/compose.ts, src/voice/clips.ts): every clip is
// whole frames, no clip starts with a silent frame, no two clips start with the same frame, and a sender that cuts
// the concatenated audio into 160-byte frames (or any multiple of them) keeps every clip on a frame boundary.
// Frames that belong to no clip (pauses, keep-alive silence, noise) are ignored. A clip cut short (a Twilio `clear`,
// a dropped frame) is not reported.
import { createHash } from 'node:crypto';
import type { ClipSet } from './types.js';
import { FRAME_BYTES } from './types.js';

export interface ClipRecognizer {
  /**
   * One frame of exactly FRAME_BYTES, in the order it was played or received. Returns the clips this frame
   * completed (usually none or one).
   */
  feed(frame: Uint8Array): string[];
  /** Any number of bytes of the same stream; whole frames are fed as they fill up, a remainder waits for more. */
  write(bytes: Uint8Array): string[];
  /** Drops partial matches and any buffered remainder (e.g. after a gap the stream could not account for). */
  reset(): void;
}

export interface ClipRecognizerOptions {
  /** Recognise only these clips (default: every clip of the set). */
  names?: readonly string[];
  /** Called for each clip heard, in order (in addition to feed/write's return value). */
  onClip?: (name: string) => void;
}

interface Pattern {
  name: string;
  frames: string[];
}

interface Candidate {
  pattern: Pattern;
  next: number;
}

function fingerprint(frame: Uint8Array): string {
  return createHash('sha1').update(frame).digest('base64');
}

export function createClipRecognizer(clips: ClipSet, opts: ClipRecognizerOptions = {}): ClipRecognizer {
  const byFirstFrame = new Map<string, Pattern[]>();
  for (const name of opts.names ?? clips.names()) {
    const { audio } = clips.get(name);
    if (audio.length === 0 || audio.length % FRAME_BYTES !== 0) {
      throw new RangeError(`clip "${name}" is not whole ${FRAME_BYTES}-byte frames; it cannot be recognised`);
    }
    const frames: string[] = [];
    for (let i = 0; i < audio.length; i += FRAME_BYTES) frames.push(fingerprint(audio.subarray(i, i + FRAME_BYTES)));
    const first = frames[0] as string;
    const list = byFirstFrame.get(first) ?? [];
    list.push({ name, frames });
    byFirstFrame.set(first, list);
  }

  let candidates: Candidate[] = [];
  let pending: Buffer = Buffer.alloc(0);

  const feed = (frame: Uint8Array): string[] => {
    if (frame.length !== FRAME_BYTES) {
      throw new RangeError(`a frame is ${FRAME_BYTES} bytes, got ${frame.length}; use write() for other lengths`);
    }
    const print = fingerprint(frame);
    const heard: string[] = [];
    const still: Candidate[] = [];
    for (const c of candidates) {
      if (c.pattern.frames[c.next] !== print) continue;
      c.next++;
      if (c.next === c.pattern.frames.length) heard.push(c.pattern.name);
      else still.push(c);
    }
    for (const pattern of byFirstFrame.get(print) ?? []) {
      if (pattern.frames.length === 1) heard.push(pattern.name);
      else still.push({ pattern, next: 1 });
    }
    candidates = still;
    for (const name of heard) opts.onClip?.(name);
    return heard;
  };

  return {
    feed,
    write(bytes) {
      const heard: string[] = [];
      const data = pending.length ? Buffer.concat([pending, bytes]) : Buffer.from(bytes);
      let offset = 0;
      for (; offset + FRAME_BYTES <= data.length; offset += FRAME_BYTES)
        heard.push(...feed(data.subarray(offset, offset + FRAME_BYTES)));
      pending = Buffer.from(data.subarray(offset));
      return heard;
    },
    reset() {
      candidates = [];
      pending = Buffer.alloc(0);
    },
  };
}
