// Link lifetimes in words, for people: the one place a TTL becomes text (Temporal UI's summary and details, and the
// caller's SMS). Pure, so the workflow and the activities share it.

/**
 * `short`, for technicians (exact): "1 d", "36 h", "90 s". `long`, for the caller's SMS (rounded to the hour, as
 * a person would say it): "2 days", "24 hours", "1 hour", "less than an hour".
 */
export function ttlText(seconds: number, style: 'short' | 'long' = 'short'): string {
  if (style === 'long') {
    const hours = Math.round(seconds / 3_600);
    if (hours >= 48) return `${Math.round(hours / 24)} days`;
    if (hours >= 1) return `${hours} hour${hours === 1 ? '' : 's'}`;
    return 'less than an hour';
  }
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  return `${seconds} s`;
}
