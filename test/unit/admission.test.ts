// Admission control of the agent API's Temporal calls (src/http/admission.ts): a bounded number run at once, the
// rest wait in order, and a request that cannot get a turn is refused as busy without reaching Temporal.
import { describe, expect, it } from 'vitest';
import { createAdmission, TemporalBusyError } from '../../src/http/admission.js';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

describe('admission control', () => {
  it('runs at most maxInFlight calls at once and admits the waiting ones in arrival order', async () => {
    const admission = createAdmission({ maxInFlight: 2, maxQueued: 10, maxWaitMs: 5_000 });
    const gates = Array.from({ length: 5 }, gate);
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      admission.run(async () => {
        started.push(i);
        await g.opened;
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    expect([admission.inFlight, admission.queued]).toEqual([2, 3]);
    gates[1]!.open();
    await runs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect([admission.inFlight, admission.queued]).toEqual([0, 0]);
  });

  it('frees the slot when a call fails', async () => {
    const admission = createAdmission({ maxInFlight: 1, maxQueued: 1, maxWaitMs: 5_000 });
    await expect(admission.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await admission.run(async () => 'next')).toBe('next');
    expect(admission.inFlight).toBe(0);
  });

  it('refuses as busy, without running the call, when the queue is full', async () => {
    const admission = createAdmission({ maxInFlight: 1, maxQueued: 1, maxWaitMs: 5_000 });
    const g = gate();
    const first = admission.run(() => g.opened);
    const second = admission.run(async () => 'second');
    let ran = false;
    await expect(
      admission.run(async () => {
        ran = true;
      }),
    ).rejects.toBeInstanceOf(TemporalBusyError);
    expect(ran).toBe(false);
    g.open();
    await first;
    expect(await second).toBe('second');
  });

  it('refuses as busy a call that waited longer than maxWaitMs, and forgets it', async () => {
    const admission = createAdmission({ maxInFlight: 1, maxQueued: 5, maxWaitMs: 50 });
    const g = gate();
    const first = admission.run(() => g.opened);
    let ran = false;
    await expect(
      admission.run(async () => {
        ran = true;
      }),
    ).rejects.toMatchObject({ code: 'TEMPORAL_BUSY', message: expect.stringMatching(/within 50 ms/) });
    expect([ran, admission.queued]).toEqual([false, 0]);
    g.open();
    await first;
    expect(admission.inFlight).toBe(0);
  });
});
