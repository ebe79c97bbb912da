import { describe, expect, it } from 'vitest';
import { DEFAULT_POLL_INTERVALS_TEXT } from '../../src/config.js';
import { nextPollDelayMs } from '../../workflows/poll-schedule.js';

describe('poll schedule', () => {
  it('follows the schedule, repeats the last value and never waits past expiry', () => {
    const now = 1_000_000;
    expect(nextPollDelayMs([10, 20], 0, now, now + 3_600_000)).toBe(10_000);
    expect(nextPollDelayMs([10, 20], 5, now, now + 3_600_000)).toBe(20_000);
    expect(nextPollDelayMs([10, 20], 5, now, now + 5_000)).toBe(6_000);
    // past expiry: a floor of min(interval, 5 s), never a tight loop
    expect(nextPollDelayMs([10, 20], 5, now, now - 5_000)).toBe(5_000);
    expect(nextPollDelayMs([0.3], 5, now, now - 5_000)).toBe(300);
  });

  it('the default schedule checks a never-opened 24 h link far less than naive 30 s polling', () => {
    const schedule = DEFAULT_POLL_INTERVALS_TEXT.split(',').map(Number);
    const expiry = 24 * 3600 * 1000;
    let t = 0;
    let polls = 0;
    while (t <= expiry) {
      t += nextPollDelayMs(schedule, polls, t, expiry);
      polls += 1;
      if (polls > 2880) break;
    }
    expect(polls).toBeLessThanOrEqual(29);
    // while a caller is likely still on the phone (first 10 minutes), every gap is at most a minute
    let at = 0;
    for (let i = 0; at < 600_000; i++) {
      const d = nextPollDelayMs(schedule, i, at, expiry);
      expect(d).toBeLessThanOrEqual(60_000);
      at += d;
    }
  });
});
