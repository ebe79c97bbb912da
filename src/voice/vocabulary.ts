// The fixed vocabulary the passphrase is spoken from (docs/voice.md, "Passphrase audio"). Each entry is a clip name and
// the text a TTS engine is given to make it. Only this text ever reaches a TTS engine (scripts/voice/make-clips.ts on
// a maintainer's machine for the committed set, Deepgram TTS once for the cached set); a passphrase is composed from
// the clips.
//
// Names: digits "0"…"9" and letters "a"…"z" are the characters themselves (the composer looks them up by character);
// everything else is lower-case words joined by "-", so a name is always a safe file name.
import type { CallerIntent } from './types.js';

/**
 * Digits are read one by one, as words, never as a number: "5 8 4 2" rather than "5842"
 * (https://www.infobip.com/docs/tutorials/send-one-time-pins; docs/voice.md, "Passphrase audio").
 */
export const DIGIT_WORDS: Record<string, string> = {
  '0': 'zero',
  '1': 'one',
  '2': 'two',
  '3': 'three',
  '4': 'four',
  '5': 'five',
  '6': 'six',
  '7': 'seven',
  '8': 'eight',
  '9': 'nine',
};

/**
 * ICAO/NATO spelling alphabet. "Alfa" and "Juliett" are the ICAO spellings meant for human readers; a TTS engine says
 * the ordinary spellings "Alpha" and "Juliet" correctly (docs/voice.md, "Passphrase audio").
 */
export const NATO_WORDS: Record<string, string> = {
  a: 'Alpha',
  b: 'Bravo',
  c: 'Charlie',
  d: 'Delta',
  e: 'Echo',
  f: 'Foxtrot',
  g: 'Golf',
  h: 'Hotel',
  i: 'India',
  j: 'Juliet',
  k: 'Kilo',
  l: 'Lima',
  m: 'Mike',
  n: 'November',
  o: 'Oscar',
  p: 'Papa',
  q: 'Quebec',
  r: 'Romeo',
  s: 'Sierra',
  t: 'Tango',
  u: 'Uniform',
  v: 'Victor',
  w: 'Whiskey',
  x: 'X-ray',
  y: 'Yankee',
  z: 'Zulu',
};

/**
 * What the service says around the passphrase. The intros state the exact shape of the two passphrase formats
 * (src/passphrase.ts PASSPHRASE_FORMATS); the composer refuses a passphrase of another shape, so they never lie.
 */
export const PROMPTS = {
  'prompt-intro-digits': "Your passphrase is twelve digits, in four groups of three. I'll read it twice.",
  'prompt-intro-letters':
    "Your passphrase is nine letters, all lower case, in three groups of three. I'll read it twice.",
  'prompt-again': 'Again.',
  'prompt-repeat': 'Press 1 to hear it again. Press 2 when you have it.',
  'prompt-slower': "All right, I'll read it more slowly.",
  'prompt-goodbye': 'Thank you. Goodbye.',
} as const satisfies Record<string, string>;

export type PromptName = keyof typeof PROMPTS;

/**
 * Words the SIMULATED caller speaks (sandbox and tests only): the simulated caller sends these clips as inbound
 * audio and the fake Deepgram recognises them by fingerprint and answers with the text below as the transcript.
 */
export const CALLER_WORDS = {
  'caller-repeat': 'Repeat.',
  'caller-got-it': 'Got it.',
  'caller-slower': 'Slower, please.',
  'caller-say-again': 'Say again.',
} as const satisfies Record<string, string>;

export type CallerWordName = keyof typeof CALLER_WORDS;

/** What each caller word asks for (the fake Deepgram transcribes; the service maps transcripts to intents itself). */
export const CALLER_WORD_INTENTS: Record<CallerWordName, CallerIntent> = {
  'caller-repeat': 'repeat',
  'caller-say-again': 'repeat',
  'caller-slower': 'slower',
  'caller-got-it': 'got_it',
};

/** Every clip name and the text a TTS engine should say for it. */
export const CLIP_VOCABULARY: Record<string, string> = {
  ...DIGIT_WORDS,
  ...NATO_WORDS,
  ...PROMPTS,
  ...CALLER_WORDS,
};

/** The clips the service itself speaks (everything but the simulated caller's words). */
export const SERVICE_CLIP_NAMES: readonly string[] = Object.keys(CLIP_VOCABULARY).filter((n) => !(n in CALLER_WORDS));

/** A clip name: a digit, a letter, or lower-case words joined by "-" (so it is also a safe file name). */
export const CLIP_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
