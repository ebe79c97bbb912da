import { describe, expect, it } from 'vitest';
import {
  generatePassphrase,
  passphraseEntropyBits,
  passphraseFormatOf,
  passphraseGroups,
  PassphraseFormatError,
} from '../../src/passphrase.js';

describe('generatePassphrase', () => {
  it('defaults to 12 digits, and the original numeric argument still sets the digit count', () => {
    expect(generatePassphrase()).toMatch(/^[0-9]{12}$/);
    expect(generatePassphrase(12)).toMatch(/^[0-9]{12}$/);
    expect(generatePassphrase(6)).toMatch(/^[0-9]{6}$/);
    expect(generatePassphrase({ format: 'digits' })).toMatch(/^[0-9]{12}$/);
    expect(() => generatePassphrase(0)).toThrow(RangeError);
  });

  it('letters format is 9 lower-case letters using the whole alphabet', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const p = generatePassphrase({ format: 'letters' });
      expect(p).toMatch(/^[a-z]{9}$/);
      for (const c of p) seen.add(c);
    }
    expect(seen.size).toBe(26); // 2,700 draws miss a given letter with probability ~1e-45
  });

  it('does not repeat itself (randomness, not a fixed value)', () => {
    const many = new Set(Array.from({ length: 200 }, () => generatePassphrase()));
    expect(many.size).toBe(200);
  });

  it('both formats carry about 40 bits or more', () => {
    expect(passphraseEntropyBits('digits')).toBeCloseTo(39.86, 1);
    expect(passphraseEntropyBits('letters')).toBeGreaterThanOrEqual(passphraseEntropyBits('digits'));
  });
});

describe('passphraseGroups', () => {
  it('splits digits and letters into groups of three', () => {
    expect(passphraseGroups('123456789012')).toEqual(['123', '456', '789', '012']);
    expect(passphraseGroups('abcdefghi')).toEqual(['abc', 'def', 'ghi']);
    expect(passphraseGroups('12345')).toEqual(['123', '45']);
  });

  it('refuses mixed, upper-case or empty passphrases without echoing them', () => {
    for (const bad of ['12ab34', 'ABCdef', '', 'abc def']) {
      expect(() => passphraseGroups(bad)).toThrow(PassphraseFormatError);
    }
    let message = '';
    try {
      passphraseFormatOf('SECRETVALUE1');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/all digits or all lower-case letters/);
    expect(message).not.toContain('SECRETVALUE1');
  });
});
