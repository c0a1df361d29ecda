/**
 * Source of time and timers for the cron scheduler. Tests pass a fake so that ticks
 * fire when the test advances time, without waiting for the wall clock.
 */
export interface CronClock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Calls `callback` once after about `delayMs` milliseconds and returns a function
   * that cancels the call. The callback may run early or late; callers compare
   * `now()` with their deadline and wait again when woken early.
   */
  setTimer(callback: () => void, delayMs: number): () => void;
}

/** The wall clock and the runtime's timers. */
export const SYSTEM_CLOCK: CronClock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    return () => clearTimeout(timer);
  },
};
