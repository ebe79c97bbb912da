// Link lifetimes as the agent API accepts them: a preset or a whole number of seconds. The bounds are the real
// server's: v1 and v2 clamp ttl to [60 s, 30 days] (docs/onetime-secret.md, "TTL bounds"); we reject instead of
// letting OTS clamp silently, so a caller never gets a link that lives longer or shorter than it asked for.
import { z } from 'zod';

export const MIN_TTL_SECONDS = 60;
export const MAX_TTL_SECONDS = 30 * 24 * 3600; // 2,592,000

export const TTL_PRESETS = { '1h': 3600, '24h': 86_400, '7d': 604_800 } as const;
export type TtlPreset = keyof typeof TTL_PRESETS;

export const ttlSchema = z.union([
  z.enum(Object.keys(TTL_PRESETS) as [TtlPreset, ...TtlPreset[]]),
  z
    .number()
    .int('must be a whole number of seconds')
    .min(MIN_TTL_SECONDS, `must be at least ${MIN_TTL_SECONDS} seconds (Onetime Secret's minimum)`)
    .max(MAX_TTL_SECONDS, `must be at most ${MAX_TTL_SECONDS} seconds (30 days)`),
]);
export type Ttl = z.infer<typeof ttlSchema>;

/** Seconds for a preset or a number of seconds; `undefined` gives `defaultTtl`. Throws RangeError when out of bounds. */
export function parseTtl(input: TtlPreset | number | undefined, defaultTtl: number = TTL_PRESETS['24h']): number {
  const value = input ?? defaultTtl;
  if (typeof value === 'string') {
    const seconds = (TTL_PRESETS as Record<string, number>)[value];
    if (seconds === undefined)
      throw new RangeError(`TTL "${String(value)}" is not one of 1h, 24h, 7d or a number of seconds`);
    return seconds;
  }
  if (!Number.isInteger(value) || value < MIN_TTL_SECONDS || value > MAX_TTL_SECONDS) {
    throw new RangeError(
      `TTL ${value} is out of range: use a whole number of seconds from ${MIN_TTL_SECONDS} (Onetime Secret's minimum) to ${MAX_TTL_SECONDS} (30 days), or 1h, 24h, 7d`,
    );
  }
  return value;
}
