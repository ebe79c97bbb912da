// The one check for the 32-byte keys an operator supplies (SEAL_KEY, each PAYLOAD_KEYS entry) and the sandbox keeps
// in .data/: canonical base64 of exactly 32 bytes, and random-looking. A typed phrase decodes to 32 bytes when it
// happens to be 43 letters long, and an all-zero key decodes fine: both are refused. 32 random bytes have about 30
// distinct values; fewer than 16 happens by chance with a probability of about 3e-17, so it means a made-up key.

const MIN_DISTINCT_BYTES = 16;

/** How to make a good key, for error messages. */
export const KEY_HINT = 'openssl rand -base64 32';

/** The key's bytes, or a message saying what is wrong with it (never the value). */
export function parseKey32(b64: string): { key: Buffer } | { problem: string } {
  const key = Buffer.from(b64, 'base64');
  if (key.length !== 32 || key.toString('base64') !== b64) {
    return { problem: `must be 32 bytes in canonical base64, 44 characters ending in "=" (${KEY_HINT})` };
  }
  // Lower-case letters only: a typed phrase (a generated key looks like that with a probability of about 1e-17).
  if (new Set(key).size < MIN_DISTINCT_BYTES || /^[a-z]+=?$/.test(b64)) {
    return { problem: `is not random: too few distinct bytes for a generated key (make one with ${KEY_HINT})` };
  }
  return { key };
}
