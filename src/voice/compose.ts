// Composes the spoken passphrase from clips, locally: the passphrase text never reaches a TTS engine, Twilio or
// Deepgram. The reading (docs/voice.md, "Passphrase audio"): announce the format, read in groups with pauses,
// "Again.", read once more, then offer a repeat ("Press 1 to hear it again…").
//
// CONFIDENTIALITY: a reading IS the passphrase. Segment names are the passphrase's characters in order, and the
// audio says them. Never log segments, their names, readingText() or the audio, and never put them in an error,
// a Temporal payload or a response; hand them only to the media-stream sender.
import { passphraseFormatOf, passphraseGroups, PASSPHRASE_FORMATS, PassphraseFormatError } from '../passphrase.js';
import { silenceMs } from './mulaw.js';
import type { ClipSet, Segment } from './types.js';

export const PACE_MIN = 0.5;
export const PACE_MAX = 2;

/** Pauses at pace 1, in ms (each is rounded to whole 20 ms frames after scaling). */
export const BASE_PAUSES_MS = {
  afterIntro: 700,
  betweenCharacters: 240,
  betweenGroups: 900,
  beforeAgain: 1000,
  afterAgain: 500,
  beforeRepeatPrompt: 1000,
} as const;

export interface ComposeOptions {
  /** 0.5…2; 1 is normal, larger is slower (every pause is multiplied by it; the clips themselves are not stretched). */
  pace: number;
}

export const PAUSE = 'pause';

function pause(ms: number, pace: number): Segment {
  return { name: PAUSE, audio: silenceMs(ms * pace) };
}

function clipSegment(clips: ClipSet, name: string): Segment {
  const { audio } = clips.get(name);
  return { name, audio };
}

/**
 * The segments of one passphrase reading: intro prompt, the groups, "Again.", the groups once more, then the repeat
 * prompt. Every segment's audio is whole 160-byte frames (clips are stored that way; pauses are whole frames), so the
 * concatenation can be sent in 160-byte frames with every clip starting on a frame boundary.
 *
 * Throws PassphraseFormatError unless the passphrase has exactly the shape its intro announces (12 digits or 9
 * lower-case letters), RangeError for a pace outside 0.5…2, and ClipSetError if the set lacks a clip.
 */
export function composeReading(passphrase: string, clips: ClipSet, opts: ComposeOptions): Segment[] {
  const { pace } = opts;
  if (!Number.isFinite(pace) || pace < PACE_MIN || pace > PACE_MAX) {
    throw new RangeError(`pace must be between ${PACE_MIN} and ${PACE_MAX} (1 is normal, larger is slower)`);
  }
  const format = passphraseFormatOf(passphrase);
  const spec = PASSPHRASE_FORMATS[format];
  if (passphrase.length !== spec.length) {
    // The intro prompt says "twelve digits" / "nine letters": never read a passphrase the prompt misdescribes.
    throw new PassphraseFormatError(`a ${format} passphrase read aloud must be ${spec.length} characters long`);
  }
  const groups = passphraseGroups(passphrase);
  const readGroups = (): Segment[] => {
    const out: Segment[] = [];
    groups.forEach((group, g) => {
      if (g > 0) out.push(pause(BASE_PAUSES_MS.betweenGroups, pace));
      [...group].forEach((char, c) => {
        if (c > 0) out.push(pause(BASE_PAUSES_MS.betweenCharacters, pace));
        out.push(clipSegment(clips, char));
      });
    });
    return out;
  };
  return [
    clipSegment(clips, format === 'digits' ? 'prompt-intro-digits' : 'prompt-intro-letters'),
    pause(BASE_PAUSES_MS.afterIntro, pace),
    ...readGroups(),
    pause(BASE_PAUSES_MS.beforeAgain, pace),
    clipSegment(clips, 'prompt-again'),
    pause(BASE_PAUSES_MS.afterAgain, pace),
    ...readGroups(),
    pause(BASE_PAUSES_MS.beforeRepeatPrompt, pace),
    clipSegment(clips, 'prompt-repeat'),
  ];
}

/** One prompt on its own ("prompt-goodbye", "prompt-slower"…), as segments. */
export function composePrompt(name: string, clips: ClipSet): Segment[] {
  return [clipSegment(clips, name)];
}

/** The clip names of a reading in order, pauses left out (for tests; it spells the passphrase: never log it). */
export function readingText(segments: readonly Segment[]): string[] {
  return segments.filter((s) => s.name !== PAUSE).map((s) => s.name);
}

/** All segments' audio in one buffer, ready to be cut into 160-byte frames. */
export function concatSegments(segments: readonly Segment[]): Buffer {
  return Buffer.concat(segments.map((s) => s.audio));
}
