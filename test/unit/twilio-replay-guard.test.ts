import { EventEmitter } from 'node:events';
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { twilioReplayGuard } from '../../src/twilio/replay-guard.js';

/** Runs the guard on a request with this signature; `finish` ends it with that status. */
function call(guard: ReturnType<typeof twilioReplayGuard>, signature: string, finish = 204): number | 'next' {
  const res = Object.assign(new EventEmitter(), {
    statusCode: 200,
    status(code: number) {
      this.statusCode = code;
      return this;
    },
    json() {
      return this;
    },
  });
  const req = {
    get: (h: string) => (h.toLowerCase() === 'x-twilio-signature' ? signature : undefined),
    originalUrl: '/twilio/sms-status?share=x',
    path: '/twilio/sms-status',
  };
  let passed = false;
  guard(req as unknown as Request, res as unknown as Response, () => (passed = true));
  if (!passed) return res.statusCode;
  res.statusCode = finish;
  res.emit('finish');
  return 'next';
}

describe('twilioReplayGuard', () => {
  it('lets a signature through once and refuses it again with 403, telling onReject', () => {
    const rejected: string[] = [];
    const guard = twilioReplayGuard({ onReject: ({ path }) => rejected.push(path) });
    expect(call(guard, 'sig-a')).toBe('next');
    expect(call(guard, 'sig-b')).toBe('next');
    expect(call(guard, 'sig-a')).toBe(403);
    expect(rejected).toEqual(['/twilio/sms-status']);
  });

  it('forgets a request that failed with a 5xx, so the sender can retry it', () => {
    const guard = twilioReplayGuard();
    expect(call(guard, 'sig-a', 503)).toBe('next');
    expect(call(guard, 'sig-a')).toBe('next');
    expect(call(guard, 'sig-a')).toBe(403);
  });

  it('remembers for ttlMs and at most max signatures, oldest dropped first', () => {
    let t = 0;
    const guard = twilioReplayGuard({ ttlMs: 1_000, max: 2, now: () => t });
    call(guard, 'a');
    t = 500;
    call(guard, 'b');
    call(guard, 'c'); // over max: a goes
    expect(call(guard, 'a')).toBe('next');
    t = 1_600; // everything stored at t = 500 or before is now older than ttlMs
    expect(call(guard, 'b')).toBe('next');
    expect(call(guard, 'b')).toBe(403);
  });
});
