// Admission control for the agent API's calls to Temporal. A burst of requests (1,000 share requests at once) sent
// straight to the Temporal frontend piled up there until their deadlines ran out, and the server answered some of
// them with errors: the agent got 503 "unreachable" and 500s for a server that was only busy. Here at most
// `maxInFlight` calls run at a time per process; the rest wait their turn (each then gets the whole Temporal
// deadline), and a request that cannot get a turn within `maxWaitMs`, or finds `maxQueued` already waiting, is
// answered 503 "busy" with Retry-After (src/http/app.ts), which the agent retries with the same Idempotency-Key.

/** Thrown when a request could not get a turn: nothing was sent to Temporal, so nothing was started or changed. */
export class TemporalBusyError extends Error {
  readonly code = 'TEMPORAL_BUSY';
  constructor(message: string) {
    super(message);
    this.name = 'TemporalBusyError';
  }
}

export interface Admission {
  /** Runs `fn` when a slot is free. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Calls running and waiting, for tests and metrics. */
  readonly inFlight: number;
  readonly queued: number;
}

export function createAdmission(opts: { maxInFlight: number; maxQueued: number; maxWaitMs: number }): Admission {
  let inFlight = 0;
  const waiting: { admit(): void }[] = [];

  const release = () => {
    const next = waiting.shift();
    // The slot passes straight to the next in line, so a newcomer never overtakes those waiting.
    if (next) next.admit();
    else inFlight -= 1;
  };

  const turn = (): Promise<void> => {
    if (inFlight < opts.maxInFlight) {
      inFlight += 1;
      return Promise.resolve();
    }
    if (waiting.length >= opts.maxQueued) {
      return Promise.reject(new TemporalBusyError(`${waiting.length} requests are already waiting for Temporal`));
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        admit: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(entry), 1);
        reject(new TemporalBusyError(`no turn to reach Temporal within ${opts.maxWaitMs} ms`));
      }, opts.maxWaitMs);
      waiting.push(entry);
    });
  };

  return {
    async run(fn) {
      await turn();
      try {
        return await fn();
      } finally {
        release();
      }
    },
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return waiting.length;
    },
  };
}
