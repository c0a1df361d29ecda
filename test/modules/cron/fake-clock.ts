import type { CronClock } from "../../../src/modules/cron/index.ts";

interface PendingTimer {
  dueMs: number;
  callback: () => void;
}

/**
 * A clock that moves only when the test advances it. `earlyWakeFraction` makes every
 * timer fire early by that fraction of its delay (at least 1 ms after it was set),
 * as real timers sometimes do.
 */
export class FakeClock implements CronClock {
  #nowMs: number;
  readonly #earlyWakeFraction: number;
  readonly #timers = new Map<number, PendingTimer>();
  #nextTimerId = 0;

  constructor(start: Date | string, options: { earlyWakeFraction?: number } = {}) {
    this.#nowMs = new Date(start).getTime();
    this.#earlyWakeFraction = options.earlyWakeFraction ?? 0;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimer(callback: () => void, delayMs: number): () => void {
    const id = this.#nextTimerId++;
    const earlyMs = Math.floor(delayMs * this.#earlyWakeFraction);
    const waitMs = earlyMs > 0 ? Math.max(1, delayMs - earlyMs) : Math.max(0, delayMs);
    this.#timers.set(id, { dueMs: this.#nowMs + waitMs, callback });
    return () => this.#timers.delete(id);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time to `target`, firing due timers in order and letting woken code run after each. */
  async advanceTo(target: Date | string): Promise<void> {
    const targetMs = new Date(target).getTime();

    for (;;) {
      await settle();
      const next = this.#earliestDue(targetMs);
      if (!next) break;

      this.#timers.delete(next[0]);
      this.#nowMs = Math.max(this.#nowMs, next[1].dueMs);
      next[1].callback();
    }

    this.#nowMs = Math.max(this.#nowMs, targetMs);
    await settle();
  }

  advanceBy(ms: number): Promise<void> {
    return this.advanceTo(new Date(this.#nowMs + ms));
  }

  #earliestDue(limitMs: number): [number, PendingTimer] | undefined {
    let earliest: [number, PendingTimer] | undefined;
    for (const entry of this.#timers) {
      if (entry[1].dueMs > limitMs) continue;
      if (!earliest || entry[1].dueMs < earliest[1].dueMs) earliest = entry;
    }
    return earliest;
  }
}

/** Lets promise chains woken by a timer run to their next wait. */
async function settle(): Promise<void> {
  for (let round = 0; round < 3; round++) await new Promise((resolve) => setTimeout(resolve, 0));
}
