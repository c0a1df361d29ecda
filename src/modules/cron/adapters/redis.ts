import Redis from "ioredis";

import { EngineError, ErrorCode } from "../../../core/errors.ts";
import type { Logger } from "../../../telemetry/logger.ts";
import type { CronLockAdapter } from "../adapter.ts";
import type { RedisCronAdapterConfig } from "../config.ts";

const CONNECT_TIMEOUT_MS = 5_000;
const MAX_RECONNECT_DELAY_MS = 5_000;

/**
 * Cron locks in Redis: `SET <prefix>cron_lock:<trigger id>:<tick ms> <instance id> NX PX <ttl>`.
 * Every engine that uses the same server and key prefix runs each tick once, as long as
 * their clocks differ by less than the TTL. While Redis is unreachable no lock can be
 * taken, so ticks are skipped rather than run twice.
 */
export class RedisCronAdapter implements CronLockAdapter {
  readonly #config: RedisCronAdapterConfig;
  readonly #instanceId: string;
  readonly #client: Redis;
  readonly #safeUrl: string;
  #closed = false;

  private constructor(config: RedisCronAdapterConfig, instanceId: string, client: Redis) {
    this.#config = config;
    this.#instanceId = instanceId;
    this.#client = client;
    this.#safeUrl = redactUrl(config.redisUrl);
  }

  /**
   * Connects to Redis. When the server cannot be reached, logs a warning and keeps
   * reconnecting in the background instead of failing the engine start.
   */
  static async open(config: RedisCronAdapterConfig, instanceId: string, logger: Logger): Promise<RedisCronAdapter> {
    const client = new Redis(config.redisUrl, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
    });
    const adapter = new RedisCronAdapter(config, instanceId, client);
    adapter.#watchConnection(logger);

    try {
      await client.connect();
      logger.debug(`cron locks use redis at '${adapter.#safeUrl}'`);
    } catch (error) {
      // The error listener has already logged the outage; ioredis keeps reconnecting.
      logger.debug(`first connection to redis at '${adapter.#safeUrl}' failed: ${(error as Error).message}`);
    }
    return adapter;
  }

  async tryAcquire(triggerId: string, scheduledMs: number): Promise<boolean> {
    const key = `${this.#config.keyPrefix}cron_lock:${triggerId}:${scheduledMs}`;
    try {
      const reply = await this.#client.set(key, this.#instanceId, "PX", this.#config.lockTtlMs, "NX");
      return reply === "OK";
    } catch (error) {
      throw new EngineError(
        ErrorCode.backendUnavailable,
        `redis at '${this.#safeUrl}' did not take the cron lock for trigger '${triggerId}': ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;

    if (this.#client.status !== "ready") {
      this.#client.disconnect();
      return;
    }
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  /** Logs the first error of an outage as a warning and the rest at debug, so an outage is not logged per retry. */
  #watchConnection(logger: Logger): void {
    let failing = false;
    this.#client.on("error", (error: Error) => {
      if (failing) {
        logger.debug(`redis at '${this.#safeUrl}' for cron locks: ${error.message}`);
        return;
      }
      failing = true;
      logger.warn(`redis for cron locks at '${this.#safeUrl}' is unreachable; ticks are skipped while it reconnects`, error);
    });
    this.#client.on("ready", () => {
      if (failing) logger.info(`redis connection for cron locks at '${this.#safeUrl}' is back`);
      failing = false;
    });
  }
}

/** Removes the user name and password from a URL, for messages. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "(unparseable redis url)";
  }
}
