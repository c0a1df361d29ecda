import type { Logger } from "../../telemetry/logger.ts";

/** One warning per key per interval; later repeats are counted and reported with the next warning. */
export class RateLimitedWarning {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #state = new Map<string, { lastAt: number; suppressed: number }>();

  constructor(logger: Logger, intervalMs: number, now: () => number = Date.now) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  warn(key: string, message: string): void {
    const now = this.#now();
    const state = this.#state.get(key);
    if (state && now - state.lastAt < this.#intervalMs) {
      state.suppressed++;
      return;
    }
    const repeats = state && state.suppressed > 0 ? ` (${state.suppressed} similar warnings suppressed)` : "";
    this.#logger.warn(`${message}${repeats}`);
    this.#state.set(key, { lastAt: now, suppressed: 0 });
    if (this.#state.size > 1000) this.#state.delete(this.#state.keys().next().value!);
  }
}
