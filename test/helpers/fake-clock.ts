// A fake monotonic clock and timer for the voice pacing tests: minutes of audio run instantly, and timers can be
// made to fire late (as Node's do under load) to prove the pacer does not drift.
import type { Clock } from '../../src/voice/pacer.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];

  /** `lateness()` is added to every timer's due time (default: timers fire exactly on time). */
  constructor(private readonly lateness: () => number = () => 0) {}

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms) + this.lateness(), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time on without running any timer, as a blocked event loop does; they fire late on the next advance. */
  stall(ms: number): void {
    this.t += ms;
  }

  /** Runs every timer due within `ms`, in time order, synchronously. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let next = this.nextDue(end); next; next = this.nextDue(end)) {
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }

  /** As advance, but lets promise callbacks run between timers (for code that awaits). */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (let next = this.nextDue(end); next; next = this.nextDue(end)) {
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }

  private nextDue(end: number): Timer | undefined {
    let best: Timer | undefined;
    for (const x of this.timers)
      if (x.at <= end && (!best || x.at < best.at || (x.at === best.at && x.id < best.id))) best = x;
    return best;
  }
}

/** Lets pending promise callbacks (and their follow-ups) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Deterministic PRNG (mulberry32) so "random" timer lateness is the same on every run. */
export { seededRandom } from '../../scripts/bench/stats.js';
