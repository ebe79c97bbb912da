// What smoke made and has not yet burned, and the Ctrl-C that may stop it midway. Every step that makes something
// registers it here at once (before printing anything), and the run ends with `burnAll`: on success, on a failed step
// and on SIGINT/SIGTERM alike, so nothing smoke made stays live longer than the run.
import { errorText, type Output } from './output.js';

export interface Made {
  /** How the output names it: "secret 0a1b2c…", "hand-off shr_…". */
  what: string;
  /** A receipt key, or a share id: what steps that burn it themselves mark as burned. */
  key: string;
  /** When it would stop opening on its own, for the message when it cannot be burned. */
  expiresAt: Date;
  burned: boolean;
  /** Burns it; resolves with how ("burned", "already burned"), throws when it could not. */
  burn(): Promise<string>;
}

export class Ledger {
  readonly items: Made[] = [];

  add(item: Omit<Made, 'burned'>): Made {
    const made = { ...item, burned: false };
    this.items.push(made);
    return made;
  }

  /** A step burned it itself: the cleanup has nothing left to do for it. */
  markBurned(key: string): void {
    for (const m of this.items) if (m.key === key) m.burned = true;
  }

  get made(): number {
    return this.items.length;
  }

  get burned(): number {
    return this.items.filter((m) => m.burned).length;
  }

  /** Burns whatever is still live, one by one, each bounded by its own client's deadline. True when all are gone. */
  async burnAll(out: Output): Promise<boolean> {
    let ok = true;
    for (const m of this.items.filter((i) => !i.burned)) {
      try {
        const how = await m.burn();
        m.burned = true;
        out.say(`Cleanup: ${m.what} ${how}`);
      } catch (err) {
        ok = false;
        out.warn(
          `Cleanup: could NOT burn ${m.what}: ${errorText(err)}. It stops opening by itself at ${m.expiresAt.toISOString()}; burn it sooner in the Onetime Secret account (receipt list) or with POST /v1/shares/:id/burn.`,
        );
      }
    }
    return ok;
  }
}

export class Interrupted extends Error {
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

/**
 * SIGINT/SIGTERM as a promise: steps race it (`guard`) so a Ctrl-C stops the step at once, while the cleanup that
 * follows does not, and runs to its end.
 */
export class Interrupt {
  #signal: string | undefined;
  #reject: ((err: Interrupted) => void) | undefined;
  readonly #fired: Promise<never>;

  constructor() {
    this.#fired = new Promise<never>((_resolve, reject) => {
      this.#reject = reject;
    });
    this.#fired.catch(() => undefined);
  }

  get signal(): string | undefined {
    return this.#signal;
  }

  trigger(signal: string): void {
    if (this.#signal) return;
    this.#signal = signal;
    this.#reject?.(new Interrupted(signal));
  }

  /** `p`, unless the run is interrupted first. */
  guard<T>(p: Promise<T>): Promise<T> {
    if (this.#signal) return Promise.reject(new Interrupted(this.#signal));
    p.catch(() => undefined); // a step abandoned by Ctrl-C may still fail later: nobody waits for it then
    return Promise.race([p, this.#fired]);
  }

  /** A pause that a Ctrl-C ends at once. */
  sleep(ms: number): Promise<void> {
    return this.guard(new Promise((resolve) => setTimeout(resolve, ms)));
  }
}
