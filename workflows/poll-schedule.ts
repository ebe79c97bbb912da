// When the workflow next checks the receipt: durable timers on a schedule that thins out as the link ages
// (OTS_POLL_INTERVALS), so a link nobody opens costs few calls. See docs/onetime-secret.md ("Batched receipt
// checks").

/**
 * The shortest poll interval a hand-off accepts (seconds), in OTS_POLL_INTERVALS and in a workflow's input: a floor
 * against a schedule that would poll Onetime Secret in a tight loop. (The sandbox's tests poll every 0.3 s.)
 */
export const MIN_POLL_INTERVAL_SECONDS = 0.25;
/** The most entries a poll schedule may have. */
export const MAX_POLL_SCHEDULE_LENGTH = 200;

/**
 * Milliseconds to wait before poll number `polls` (0-based): the schedule's entry, the last one repeating, but
 * never past the expiry (plus a small grace so the server has marked it expired when we look).
 */
export function nextPollDelayMs(
  schedule: readonly number[],
  polls: number,
  nowMs: number,
  expiresAtMs: number,
): number {
  const sec = schedule[Math.min(polls, schedule.length - 1)] ?? 60;
  const untilExpiry = expiresAtMs + 1_000 - nowMs;
  // Never 0: if the server still says "new" after expiry (clock skew), keep a floor instead of a tight loop.
  const floor = Math.min(sec, 5) * 1000;
  return Math.max(floor, Math.min(sec * 1000, untilExpiry));
}
