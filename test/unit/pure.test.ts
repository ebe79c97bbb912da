import { describe, expect, it } from 'vitest';
import { DEFAULT_POLL_INTERVALS_TEXT } from '../../src/config.js';
import { advanceSmsStatus, maskRecipient, nextPollDelayMs } from '../../workflows/pure.js';

describe('maskRecipient', () => {
  it('masks phone numbers and emails', () => {
    expect(maskRecipient('+15551230001')).toBe('+155*****001');
    expect(maskRecipient('pat.smith@example.com')).toBe('p***@e***.com');
  });
});

describe('SMS status ranking', () => {
  it('keeps the most advanced status when callbacks arrive out of order', () => {
    let s = advanceSmsStatus(undefined, 'sent');
    s = advanceSmsStatus(s, 'queued');
    expect(s).toBe('sent');
    s = advanceSmsStatus(s, 'delivered');
    s = advanceSmsStatus(s, 'sending');
    expect(s).toBe('delivered');
  });
  it('a terminal status is not replaced by another terminal one, but read follows delivered', () => {
    expect(advanceSmsStatus('undelivered', 'delivered')).toBe('undelivered');
    expect(advanceSmsStatus('delivered', 'failed')).toBe('delivered');
    expect(advanceSmsStatus('delivered', 'read')).toBe('read');
    expect(advanceSmsStatus('sent', 'failed')).toBe('failed');
  });
});

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
