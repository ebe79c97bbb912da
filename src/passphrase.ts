// Passphrases are made to be easy to say and type on a phone, and are read aloud in groups of three
// (docs/voice.md, "Passphrase audio"). Two formats:
//
// - 'digits' (default): 12 decimal digits, 12 × log2(10) ≈ 39.9 bits. Digits are the easiest thing to type on any
//   phone and need no case or spelling.
// - 'letters': 9 lower-case letters a–z, 9 × log2(26) ≈ 42.3 bits, at least as strong as the digits. All 26 letters
//   stay in: each is read as its NATO word ("Kilo", "Lima"), which removes the by-ear ambiguity that would justify
//   dropping letters, and with no digits in the format there is no l/1 or o/0 to confuse when typing. One case only
//   (OTS compares passphrases exactly); the intro prompt tells the caller "all lower case". 9 rather than 8 letters
//   (37.6 bits) so the format is not weaker than the default; groups of three keep a group of NATO words to about
//   two seconds.
//
// Why about 40 bits is enough: the passphrase is a second factor on a one-time link that already carries a random
// key, and guessing it is online only, through OTS, under its rate limit (OTS_RATE_LIMIT_PER_MINUTE, 100 by default)
// and within the secret's lifetime (at most 7 days): 100/min × 7 days ≈ 1.0 × 10⁶ tries against 2⁴⁰ ≈ 1.1 × 10¹²
// possibilities, under one chance in a million, before counting that a secret is gone once opened.
//
// Every character comes from crypto.randomInt (uniform, no modulo bias).
import { randomInt } from 'node:crypto';

export type PassphraseFormat = 'digits' | 'letters';

export interface PassphraseFormatSpec {
  alphabet: string;
  length: number;
  groupSize: number;
}

export const PASSPHRASE_FORMATS: Readonly<Record<PassphraseFormat, PassphraseFormatSpec>> = {
  digits: { alphabet: '0123456789', length: 12, groupSize: 3 },
  letters: { alphabet: 'abcdefghijklmnopqrstuvwxyz', length: 9, groupSize: 3 },
};

/** Bits of entropy of a format: length × log2(alphabet size). */
export function passphraseEntropyBits(format: PassphraseFormat): number {
  const spec = PASSPHRASE_FORMATS[format];
  return spec.length * Math.log2(spec.alphabet.length);
}

/** A passphrase that is neither all digits nor all lower-case letters. The message never carries the passphrase. */
export class PassphraseFormatError extends Error {
  readonly code = 'PASSPHRASE_FORMAT';
  constructor(message: string) {
    super(message);
    this.name = 'PassphraseFormatError';
  }
}

/**
 * `generatePassphrase()` / `generatePassphrase({ format: 'digits' })`: 12 digits; `{ format: 'letters' }`: 9 lower-case
 * letters. `generatePassphrase(n)` (the original signature) gives n digits.
 */
export function generatePassphrase(digitsOrOptions: number | { format?: PassphraseFormat } = 12): string {
  const { alphabet, length } =
    typeof digitsOrOptions === 'number'
      ? { alphabet: PASSPHRASE_FORMATS.digits.alphabet, length: digitsOrOptions }
      : PASSPHRASE_FORMATS[digitsOrOptions.format ?? 'digits'];
  if (!Number.isInteger(length) || length < 1) throw new RangeError('passphrase length must be a positive integer');
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** Which format a passphrase is written in; throws PassphraseFormatError for anything else. */
export function passphraseFormatOf(passphrase: string): PassphraseFormat {
  if (/^[0-9]+$/.test(passphrase)) return 'digits';
  if (/^[a-z]+$/.test(passphrase)) return 'letters';
  throw new PassphraseFormatError('a passphrase must be all digits or all lower-case letters a-z');
}

/** The groups a passphrase is read in: threes, the last group shorter when the length is not a multiple of three. */
export function passphraseGroups(passphrase: string): string[] {
  const { groupSize } = PASSPHRASE_FORMATS[passphraseFormatOf(passphrase)];
  const groups: string[] = [];
  for (let i = 0; i < passphrase.length; i += groupSize) groups.push(passphrase.slice(i, i + groupSize));
  return groups;
}
