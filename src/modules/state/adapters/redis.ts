import { escapeRedisGlob, RedisConnection, RedisJsonHash } from "../../../storage/redis.ts";
import type { UpdateOp, UpdateResult } from "../../../storage/index.ts";
import type { Logger } from "../../../telemetry/logger.ts";
import type { JsonValue } from "../../../util/json.ts";
import type { StateAdapter } from "../adapter.ts";

export interface RedisStateAdapterOptions {
  redisUrl: string;
  /** Prepended to every Redis key, so several deployments or tests can share one server. */
  keyPrefix: string;
  logger: Logger;
}

/**
 * Keeps state in Redis: one hash `<key_prefix>state:<scope>` per scope, field =
 * key, value = JSON text. Commands fail at once while Redis is unreachable, and
 * ioredis reconnects in the background.
 */
export class RedisStateAdapter implements StateAdapter {
  readonly #options: RedisStateAdapterOptions;
  readonly #connection: RedisConnection;
  readonly #hashes: RedisJsonHash;

  constructor(options: RedisStateAdapterOptions) {
    this.#options = options;
    this.#connection = new RedisConnection(options.redisUrl, options.logger, "state adapter");
    this.#hashes = new RedisJsonHash(this.#connection, options.logger);
  }

  open(): Promise<void> {
    return this.#connection.connect();
  }

  set(scope: string, key: string, value: JsonValue): Promise<JsonValue | null> {
    return this.#hashes.set(this.#hashKey(scope), key, value);
  }

  get(scope: string, key: string): Promise<JsonValue | undefined> {
    return this.#hashes.get(this.#hashKey(scope), key);
  }

  delete(scope: string, key: string): Promise<JsonValue | undefined> {
    return this.#hashes.delete(this.#hashKey(scope), key);
  }

  update(scope: string, key: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    return this.#hashes.update(this.#hashKey(scope), key, ops);
  }

  list(scope: string): Promise<JsonValue[]> {
    return this.#hashes.values(this.#hashKey(scope));
  }

  async listGroups(): Promise<string[]> {
    const prefix = this.#hashKey("");
    const keys = await this.#connection.scanKeys(`${escapeRedisGlob(prefix)}*`);
    return keys.map((key) => key.slice(prefix.length)).sort();
  }

  close(): Promise<void> {
    return this.#connection.close();
  }

  #hashKey(scope: string): string {
    return `${this.#options.keyPrefix}state:${scope}`;
  }
}
