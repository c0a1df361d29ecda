import type { Logger } from "../../telemetry/logger.ts";
import type { CronClock } from "./clock.ts";
import type { CronSchedule } from "./expression.ts";

// Timers cannot wait longer than 2^31-1 ms, and a long wait would miss a clock change.
// So the job wakes at least this often and sleeps again until its tick is due.
const MAX_SLEEP_MS = 60 * 60 * 1000;
// Counting missed ticks stops here, and the log line then reports "at least" this many.
const MAX_COUNTED_SKIPS = 1000;

export interface CronJobOptions {
  triggerId: string;
  schedule: CronSchedule;
  clock: CronClock;
  logger: Logger;
  /** Runs one tick and resolves when its handler has finished; must not reject. */
  runTick(scheduledMs: number): Promise<void>;
  /** Finishes when the run of an earlier job with the same trigger id ends, so the two never overlap. */
  previous?: Promise<void>;
}

/**
 * The schedule of one trigger. It sleeps until the next tick, runs it and waits for
 * the handler before computing the following tick, so runs never overlap. Ticks that
 * pass while a run is still going are skipped and counted in a debug log line. Each
 * tick comes from the schedule and fires once, at or after its scheduled time.
 */
export class CronJob {
  readonly #options: CronJobOptions;
  #stopped = false;
  #cancelSleep: (() => void) | null = null;
  #done: Promise<void> = Promise.resolve();
  #skippedTicks = 0;

  constructor(options: CronJobOptions) {
    this.#options = options;
  }

  /** Resolves when the job has stopped and its last run has finished. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Ticks passed over so far because a run was still going when they came. */
  get skippedTicks(): number {
    return this.#skippedTicks;
  }

  start(): void {
    this.#done = this.#loop().catch((error: unknown) => {
      this.#options.logger.error(`cron trigger '${this.#options.triggerId}' stopped after an unexpected error`, error);
    });
  }

  /** Cancels the sleep and ends the loop; a run in progress finishes first. Safe to call twice. */
  stop(): void {
    this.#stopped = true;
    this.#cancelSleep?.();
  }

  async #loop(): Promise<void> {
    const { schedule, clock, logger, triggerId } = this.#options;
    await this.#options.previous;

    let cursorMs = clock.now();
    while (!this.#stopped) {
      const next = schedule.nextAfter(new Date(cursorMs));
      if (next === null) {
        logger.debug(`cron trigger '${triggerId}' has no fire times left`);
        return;
      }

      const tickMs = next.getTime();
      if (!(await this.#sleepUntil(tickMs))) return;
      await this.#options.runTick(tickMs);

      cursorMs = Math.max(clock.now(), tickMs);
      this.#logSkippedTicks(tickMs, cursorMs);
    }
  }

  /** Resolves true once the clock has reached `targetMs`, or false when the job was stopped first. */
  async #sleepUntil(targetMs: number): Promise<boolean> {
    const { clock } = this.#options;

    while (!this.#stopped) {
      const remainingMs = targetMs - clock.now();
      if (remainingMs <= 0) return true;

      await new Promise<void>((resolve) => {
        const cancelTimer = clock.setTimer(resolve, Math.min(remainingMs, MAX_SLEEP_MS));
        this.#cancelSleep = () => {
          cancelTimer();
          resolve();
        };
      });
      this.#cancelSleep = null;
    }
    return false;
  }

  #logSkippedTicks(firedMs: number, untilMs: number): void {
    const { schedule, logger, triggerId } = this.#options;

    let skipped = 0;
    let next = schedule.nextAfter(new Date(firedMs));
    while (next !== null && next.getTime() <= untilMs && skipped < MAX_COUNTED_SKIPS) {
      skipped++;
      next = schedule.nextAfter(next);
    }
    if (skipped === 0) return;
    this.#skippedTicks += skipped;

    const count = skipped === MAX_COUNTED_SKIPS ? `at least ${skipped}` : String(skipped);
    logger.debug(`cron trigger '${triggerId}' skipped ${count} ticks because the run for ${new Date(firedMs).toISOString()} was still going`);
  }
}
