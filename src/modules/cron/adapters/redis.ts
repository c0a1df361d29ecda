import { RedisConnection } from "../../../storage/redis.ts";
import type { Logger } from "../../../telemetry/logger.ts";
import type { CronLockAdapter } from "../adapter.ts";
import type { RedisCronAdapterConfig } from "../config.ts";

/**
 * Cron locks in Redis: `SET <prefix>cron_lock:<trigger id>:<tick ms> <instance id> NX PX <ttl>`.
 * Every engine that uses the same server and key prefix runs each tick once, as long as
 * their clocks differ by less than the TTL. While Redis is unreachable no lock can be
 * taken, so ticks are skipped rather than run twice.
 */
export class RedisCronAdapter implements CronLockAdapter {
  readonly #config: RedisCronAdapterConfig;
  readonly #instanceId: string;
  readonly #connection: RedisConnection;

  private constructor(config: RedisCronAdapterConfig, instanceId: string, connection: RedisConnection) {
    this.#config = config;
    this.#instanceId = instanceId;
    this.#connection = connection;
  }

  /**
   * Connects to Redis. When the server cannot be reached, logs a warning and keeps
   * reconnecting in the background instead of failing the engine start.
   */
  static async open(config: RedisCronAdapterConfig, instanceId: string, logger: Logger): Promise<RedisCronAdapter> {
    const connection = new RedisConnection(config.redisUrl, logger, "cron lock adapter", { maxRetriesPerRequest: 1 });
    await connection.connect({ required: false });
    return new RedisCronAdapter(config, instanceId, connection);
  }

  async tryAcquire(triggerId: string, scheduledMs: number): Promise<boolean> {
    const key = `${this.#config.keyPrefix}cron_lock:${triggerId}:${scheduledMs}`;
    const reply = await this.#connection.command("SET", (client) => client.set(key, this.#instanceId, "PX", this.#config.lockTtlMs, "NX"));
    return reply === "OK";
  }

  close(): Promise<void> {
    return this.#connection.close();
  }
}
