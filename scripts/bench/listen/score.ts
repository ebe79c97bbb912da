// Scoring what the bench's listener heard (scripts/bench/listen/index.ts): a transcript is turned into the characters
// a caller would write down, aligned with the passphrase, and counted. Pure functions, unit-tested in
// test/unit/listen.test.ts.
//
// What counts as a character: the words the clips say (src/voice/vocabulary.ts), numerals ("584" is three digits),
// and, for digits, the words a person writing digits down would take for the same sound ("oh" 0, "won" 1, "to"/"too"
// 2, "for" 4, "ate" 8). For letters, the ICAO spellings ("Alfa", "Juliett"), "Juliette", "whisky" and "x ray". Anything else is
// ignored: an unknown word is a character missed, and the alignment counts it as such.
import type { PassphraseFormat } from '../../../src/passphrase.js';
import { DIGIT_WORDS, NATO_WORDS } from '../../../src/voice/vocabulary.js';

const invert = (words: Record<string, string>) =>
  Object.fromEntries(Object.entries(words).map(([ch, word]) => [word.toLowerCase().replace(/[^a-z]/g, ''), ch]));

const DIGIT_BY_WORD: Record<string, string> = {
  ...invert(DIGIT_WORDS),
  oh: '0',
  o: '0',
  won: '1',
  to: '2',
  too: '2',
  for: '4',
  fore: '4',
  ate: '8',
};

const LETTER_BY_WORD: Record<string, string> = {
  ...invert(NATO_WORDS),
  alfa: 'a',
  juliett: 'j',
  juliette: 'j',
  whisky: 'w',
  xray: 'x',
};

const wordsOf = (transcript: string) =>
  transcript
    .toLowerCase()
    .replace(/x[\s-]+ray/g, 'xray')
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

/** The characters a transcript spells in a format, in order. */
export function heardCharacters(transcript: string, format: PassphraseFormat): string {
  return charactersOf(wordsOf(transcript), format);
}

/**
 * The two reads of one reading as the listener wrote them down: the characters before and after the word "again"
 * (the reading says "Again." between its reads). When the listener did not hear "again", the characters are split
 * after the passphrase's length, as a caller who knows it is read twice would.
 */
export function heardReads(transcript: string, format: PassphraseFormat, length: number): [string, string] {
  const words = wordsOf(transcript);
  const again = words.lastIndexOf('again');
  if (again >= 0) return [charactersOf(words.slice(0, again), format), charactersOf(words.slice(again + 1), format)];
  const all = charactersOf(words, format);
  return [all.slice(0, length), all.slice(length)];
}

function charactersOf(words: readonly string[], format: PassphraseFormat): string {
  let out = '';
  for (const word of words) {
    if (format === 'digits') {
      if (/^[0-9]+$/.test(word)) out += word;
      else if (DIGIT_BY_WORD[word] !== undefined) out += DIGIT_BY_WORD[word];
    } else if (LETTER_BY_WORD[word] !== undefined) {
      out += LETTER_BY_WORD[word];
    }
  }
  return out;
}

/**
 * How many characters of `expected` were heard right, net of any heard in excess: on a minimum-edit-distance
 * alignment of `heard` with `expected` (so a dropped or an extra character shifts nothing after it), the matches
 * minus the insertions, never below 0. Over a whole passphrase that is 1 − the character error rate, (N − S − D − I)
 * / N: a listener that stutters "one one two two" is not scored right for the extras.
 */
export function charactersRight(expected: string, heard: string): number {
  const m = expected.length;
  const n = heard.length;
  // cost[i][j]: edits to turn expected[0..i) into heard[0..j); ties broken towards more matches.
  const cost: number[][] = Array.from({ length: m + 1 }, (_, i) =>
    Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  // right[i][j]: matches minus insertions on that alignment.
  const right: number[][] = Array.from({ length: m + 1 }, (_, i) =>
    Array.from({ length: n + 1 }, (_, j) => (i === 0 ? -j : 0)),
  );
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const same = expected[i - 1] === heard[j - 1];
      const options: [number, number][] = [
        [cost[i - 1]![j - 1]! + (same ? 0 : 1), right[i - 1]![j - 1]! + (same ? 1 : 0)],
        [cost[i - 1]![j]! + 1, right[i - 1]![j]!],
        [cost[i]![j - 1]! + 1, right[i]![j - 1]! - 1],
      ];
      options.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
      cost[i]![j] = options[0]![0];
      right[i]![j] = options[0]![1];
    }
  }
  return Math.max(0, right[m]![n]!);
}

export interface ReadingHeard {
  passphrase: string;
  /** What the listener heard of the reading's two reads and the "Again." between them. */
  transcript: string;
}

export interface Intelligibility {
  readings: number;
  reads: number;
  /** Share of the passphrase's characters heard right, over every read. */
  charactersRight: number;
  /** Share of reads heard exactly (every character, nothing extra). */
  readsExact: number;
  /** Share of readings with at least one read heard exactly. */
  readingsWithExactRead: number;
}

export function score(format: PassphraseFormat, heard: readonly ReadingHeard[]): Intelligibility {
  let chars = 0;
  let right = 0;
  let reads = 0;
  let exact = 0;
  let readingsOk = 0;
  for (const { passphrase, transcript } of heard) {
    let any = false;
    for (const got of heardReads(transcript, format, passphrase.length)) {
      reads++;
      chars += passphrase.length;
      right += charactersRight(passphrase, got);
      if (got === passphrase) {
        exact++;
        any = true;
      }
    }
    if (any) readingsOk++;
  }
  return {
    readings: heard.length,
    reads,
    charactersRight: chars ? right / chars : NaN,
    readsExact: reads ? exact / reads : NaN,
    readingsWithExactRead: heard.length ? readingsOk / heard.length : NaN,
  };
}
