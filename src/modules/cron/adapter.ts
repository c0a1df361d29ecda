/**
 * Claims cron ticks so that engines sharing a backend run each tick of a trigger
 * once. A claim is keyed by trigger id and scheduled tick time, so engines whose
 * clocks differ slightly still compete for the same key.
 */
export interface CronLockAdapter {
  /**
   * Claims tick `scheduledMs` (epoch milliseconds) of trigger `triggerId` and resolves
   * true, or false when another claim on that tick has not yet expired. A claim is never
   * released early: it lasts its TTL, so a slower engine cannot claim the tick after
   * the run. Rejects with `backend_unavailable` when the backend cannot be reached.
   */
  tryAcquire(triggerId: string, scheduledMs: number): Promise<boolean>;

  /** Releases the connection or store; safe to call twice. Claims already made stay until they expire. */
  close(): Promise<void>;
}
