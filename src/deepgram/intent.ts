// What a caller's words ask for while a passphrase is read to them: "repeat", "slower" or "got it".
// Deliberately a short list of whole-word phrases, not fuzzy matching: a false "got it" ends the reading early and a
// false "repeat" reads the passphrase once more, so a miss (the caller can press 1) beats a wrong guess.
// Pure: no logging here or anywhere near the transcript: transcripts are never logged, since a caller may say
// anything, digits included (docs/deepgram.md, "Live transcription").
import type { CallerIntent } from '../voice/types.js';

/** Negations that undo a phrase when they occur shortly before it: "I haven't got it", "don't repeat it". */
const NEGATIONS = new Set([
  'not',
  'dont',
  'didnt',
  'havent',
  'hasnt',
  'cant',
  'cannot',
  'never',
  'wasnt',
  'isnt',
  'aint',
  'doesnt',
  'wont',
  'without',
  'almost',
  'nearly',
  'barely',
]);
/** How many words before a phrase a negation still applies to ("I don't think I got it": 3). */
const NEGATION_WINDOW = 3;

interface Trigger {
  phrase: string[];
  /** When false, a negation before it does not cancel it ("didn't catch that" is itself the request). */
  negatable: boolean;
  /** Only when the utterance is at most this many words ("what?", "sorry, what?", but not "what a day"). */
  maxWords?: number;
}

const t = (phrase: string, negatable = true, maxWords?: number): Trigger => ({
  phrase: phrase.split(' '),
  negatable,
  ...(maxWords ? { maxWords } : {}),
});

// In priority order: "say it again slower" asks for a slower reading, "thanks, could you repeat that" for a repeat.
const TRIGGERS: ReadonlyArray<readonly [CallerIntent, readonly Trigger[]]> = [
  ['slower', [t('slower'), t('slow down'), t('slowly'), t('too fast')]],
  [
    'repeat',
    [
      t('repeat'),
      t('again'),
      t('one more time'),
      t('pardon'),
      t('come again'),
      t('didnt catch', false),
      t('didnt get that', false),
      t('didnt hear', false),
      t('couldnt hear', false),
      t('missed that', false),
      t('missed it', false),
      t('what was that', false),
      t('what did you say', false),
      t('whats that', false, 3),
      t('what', false, 2),
      t('sorry', false, 1),
      t('huh', false, 2),
      // The prompt says "press 1"; some callers say the digit instead.
      t('one', false, 1),
      t('1', false, 1),
      t('press one', false, 2),
      t('press 1', false, 2),
    ],
  ],
  [
    'got_it',
    [
      t('got it'),
      t('gotcha'),
      t('got that'),
      t('thanks'),
      t('thank you'),
      t('i have it'),
      t('ive got it'),
      // "done" alone or nearly ("done", "okay done"), not "are you done".
      t('done', true, 2),
      t('im done'),
      t('all done'),
      t('all set'),
      t('understood'),
    ],
  ],
];

/** Utterances that decline a repeat outright ("no need to say it again", "you don't need to repeat"). */
const DECLINES_REPEAT = [
  ['no', 'need'],
  ['dont', 'need'],
  ['not', 'necessary'],
];

/** Lower case, apostrophes dropped ("didn't" → "didnt"), everything else not a letter or digit splits words. */
export function wordsOf(transcript: string): string[] {
  return transcript
    .toLowerCase()
    .replace(/['’]/g, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

function indexesOf(words: string[], phrase: string[]): number[] {
  const found: number[] = [];
  for (let i = 0; i + phrase.length <= words.length; i++) {
    if (phrase.every((p, j) => words[i + j] === p)) found.push(i);
  }
  return found;
}

function negatedAt(words: string[], i: number): boolean {
  return words.slice(Math.max(0, i - NEGATION_WINDOW), i).some((w) => NEGATIONS.has(w));
}

function matches(words: string[], trig: Trigger): boolean {
  if (trig.maxWords !== undefined && words.length > trig.maxWords) return false;
  return indexesOf(words, trig.phrase).some((i) => !trig.negatable || !negatedAt(words, i));
}

/** The intent a transcript (interim or final) expresses, or undefined when it asks for nothing we act on. */
export function intentOf(transcript: string): CallerIntent | undefined {
  const words = wordsOf(transcript);
  if (words.length === 0) return undefined;
  const declinesRepeat = DECLINES_REPEAT.some((p) => indexesOf(words, p).length > 0);
  for (const [intent, triggers] of TRIGGERS) {
    if (declinesRepeat && intent !== 'got_it') continue;
    if (triggers.some((trig) => matches(words, trig))) return intent;
  }
  return undefined;
}
