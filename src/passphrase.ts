// Passphrases are made to be easy to say and type on a phone: 12 digits (about 40 bits), read in groups of three.
import { randomInt } from 'node:crypto';

export function generatePassphrase(digits = 12): string {
  let out = '';
  for (let i = 0; i < digits; i++) out += String(randomInt(10));
  return out;
}
