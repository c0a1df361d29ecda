import type { Logger } from "../../../telemetry/logger.ts";
import type { JsonValue } from "../../../util/json.ts";
import { isJsonObject } from "../../../util/json.ts";
import type { CronLockAdapter } from "../adapter.ts";
import type { CronClock } from "../clock.ts";
import type { KvCronAdapterConfig } from "../config.ts";
import { openSharedKvStore, type SharedKvStore } from "./shared-kv-store.ts";

/**
 * Cron locks in the embedded store, as `{owner, expires_at_ms}` under index
 * `lock_index`, key `<trigger id>:<tick ms>`. Every cron module in this process
 * shares the store, so engines in one process run each tick once. Engines in
 * other processes do not see these locks.
 */
export class KvCronAdapter implements CronLockAdapter {
  readonly #config: KvCronAdapterConfig;
  readonly #instanceId: string;
  readonly #clock: CronClock;
  readonly #shared: SharedKvStore;
  #nextSweepMs = 0;

  private constructor(config: KvCronAdapterConfig, instanceId: string, clock: CronClock, shared: SharedKvStore) {
    this.#config = config;
    this.#instanceId = instanceId;
    this.#clock = clock;
    this.#shared = shared;
  }

  /** Opens (or shares) the lock store; a file store that another process holds rejects with `backend_unavailable`. */
  static async open(config: KvCronAdapterConfig, instanceId: string, clock: CronClock, logger: Logger): Promise<KvCronAdapter> {
    const shared = await openSharedKvStore(config.store);
    logger.info(
      "cron locks are process-local: engines in other processes may run the same tick; use modules::cron::RedisCronAdapter to run each tick once across processes",
    );
    return new KvCronAdapter(config, instanceId, clock, shared);
  }

  async tryAcquire(triggerId: string, scheduledMs: number): Promise<boolean> {
    const { store } = this.#shared;
    const now = this.#clock.now();
    this.#sweepExpired(now);

    const key = `${triggerId}:${scheduledMs}`;
    if (isLive(store.get(this.#config.lockIndex, key), now)) return false;

    store.set(this.#config.lockIndex, key, { owner: this.#instanceId, expires_at_ms: now + this.#config.lockTtlMs });
    return true;
  }

  close(): Promise<void> {
    return this.#shared.release();
  }

  /** Deletes expired locks at most once per TTL, so the index holds only recent ticks. */
  #sweepExpired(now: number): void {
    if (now < this.#nextSweepMs) return;
    this.#nextSweepMs = now + this.#config.lockTtlMs;

    const { store } = this.#shared;
    for (const [key, value] of store.entries(this.#config.lockIndex)) {
      if (!isLive(value, now)) store.delete(this.#config.lockIndex, key);
    }
  }
}

/** A lock entry that cannot be read counts as expired, so a damaged entry never blocks a tick. */
function isLive(value: JsonValue | undefined, now: number): boolean {
  if (!isJsonObject(value)) return false;
  const expiresAt = value.expires_at_ms;
  return typeof expiresAt === "number" && expiresAt > now;
}
