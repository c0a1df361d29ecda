import Redis from "ioredis";

import { EngineError, ErrorCode } from "../../../core/errors.ts";
import { applyUpdateOps, type UpdateOp, type UpdateResult } from "../../../storage/index.ts";
import type { Logger } from "../../../telemetry/logger.ts";
import { parseJson, stringifyJson, type JsonValue } from "../../../util/json.ts";
import type { StateAdapter } from "../adapter.ts";

export interface RedisStateAdapterOptions {
  redisUrl: string;
  /** Prepended to every Redis key, so several deployments or tests can share one server. */
  keyPrefix: string;
  logger: Logger;
}

// Optimistic updates retry when another engine wrote the same item between
// the read and the write; updates from this engine are queued per key first.
const MAX_UPDATE_ATTEMPTS = 100;
const SCAN_BATCH_SIZE = 500;
const CONNECT_TIMEOUT_MS = 5_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

// Each script runs atomically on the server, so the previous value returned
// is exactly the one the write replaced.
const SET_SCRIPT = `
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return previous`;

const DELETE_SCRIPT = `
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous then redis.call('HDEL', KEYS[1], ARGV[1]) end
return previous`;

// Writes ARGV[2] only if the field still contains ARGV[4] (ARGV[3] = '1') or
// is still missing (ARGV[3] = '0'). Returns 1 when it wrote, 0 otherwise.
const COMPARE_AND_SET_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == '1' then
  if current ~= ARGV[4] then return 0 end
elseif current then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/**
 * Keeps state in Redis: one hash `<key_prefix>state:<scope>` per scope, field =
 * key, value = JSON text. Commands fail at once while Redis is unreachable, and
 * ioredis reconnects in the background.
 */
export class RedisStateAdapter implements StateAdapter {
  readonly #options: RedisStateAdapterOptions;
  readonly #redis: Redis;
  readonly #displayUrl: string;
  readonly #updateQueues = new Map<string, Promise<unknown>>();
  #connected = false;
  #closed = false;

  constructor(options: RedisStateAdapterOptions) {
    this.#options = options;
    this.#displayUrl = redactRedisUrl(options.redisUrl);
    this.#redis = new Redis(options.redisUrl, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    });
    this.#redis.on("ready", () => this.#onReady());
    this.#redis.on("close", () => this.#onClose());
    // Without a listener ioredis prints every failed reconnect; the close handler logs the outage once.
    this.#redis.on("error", (error: Error) => this.#options.logger.debug(`redis at '${this.#displayUrl}': ${error.message}`));
  }

  async open(): Promise<void> {
    try {
      await this.#redis.connect();
    } catch (error) {
      this.#redis.disconnect();
      throw new EngineError(
        ErrorCode.backendUnavailable,
        `cannot connect to redis at '${this.#displayUrl}': ${messageOf(error)}; start Redis or fix 'redis_url'`,
        { cause: error },
      );
    }
  }

  async set(scope: string, key: string, value: JsonValue): Promise<JsonValue | null> {
    const previous = await this.#command("HSET", () => this.#redis.eval(SET_SCRIPT, 1, this.#hashKey(scope), key, stringifyJson(value)));
    return typeof previous === "string" ? decode(previous, scope, key) : null;
  }

  async get(scope: string, key: string): Promise<JsonValue | undefined> {
    const text = await this.#command("HGET", () => this.#redis.hget(this.#hashKey(scope), key));
    return text === null ? undefined : decode(text, scope, key);
  }

  async delete(scope: string, key: string): Promise<JsonValue | undefined> {
    const previous = await this.#command("HDEL", () => this.#redis.eval(DELETE_SCRIPT, 1, this.#hashKey(scope), key));
    return typeof previous === "string" ? decode(previous, scope, key) : undefined;
  }

  async update(scope: string, key: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    const queueKey = `${scope}\u0000${key}`;
    const previous = this.#updateQueues.get(queueKey) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.#updateWithRetry(scope, key, ops));
    this.#updateQueues.set(queueKey, run);

    try {
      return await run;
    } finally {
      if (this.#updateQueues.get(queueKey) === run) this.#updateQueues.delete(queueKey);
    }
  }

  async list(scope: string): Promise<JsonValue[]> {
    // NOTE: values come in Redis hash order, not insertion order as with the embedded store.
    const texts = await this.#command("HGETALL", () => this.#redis.hgetall(this.#hashKey(scope)));
    return Object.entries(texts).map(([key, text]) => decode(text, scope, key));
  }

  async listGroups(): Promise<string[]> {
    const prefix = this.#hashKey("");
    const pattern = `${escapeGlob(prefix)}*`;
    const groups = new Set<string>();
    let cursor = "0";

    do {
      const [next, keys] = await this.#command("SCAN", () => this.#redis.scan(cursor, "MATCH", pattern, "COUNT", SCAN_BATCH_SIZE));
      for (const key of keys) groups.add(key.slice(prefix.length));
      cursor = next;
    } while (cursor !== "0");

    return Array.from(groups).sort();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;

    if (this.#redis.status === "ready") {
      await this.#redis.quit().catch(() => this.#redis.disconnect());
      return;
    }
    this.#redis.disconnect();
  }

  async #updateWithRetry(scope: string, key: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    const hashKey = this.#hashKey(scope);

    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const currentText = await this.#command("HGET", () => this.#redis.hget(hashKey, key));
      const current = currentText === null ? undefined : decode(currentText, scope, key);
      const result = applyUpdateOps(current, ops, (reason) =>
        this.#options.logger.debug(`update of '${key}' in scope '${scope}': ${reason}`),
      );

      const expected = currentText === null ? ["0", ""] : ["1", currentText];
      const written = await this.#command("HSET", () =>
        this.#redis.eval(COMPARE_AND_SET_SCRIPT, 1, hashKey, key, stringifyJson(result.newValue), ...expected),
      );
      if (written === 1) return result;
    }

    throw new EngineError(
      ErrorCode.backendUnavailable,
      `update of key '${key}' in scope '${scope}' conflicted with other writers ${MAX_UPDATE_ATTEMPTS} times; retry the call`,
    );
  }

  #hashKey(scope: string): string {
    return `${this.#options.keyPrefix}state:${scope}`;
  }

  async #command<T>(name: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof EngineError) throw error;
      if (this.#redis.status !== "ready") {
        throw new EngineError(
          ErrorCode.backendUnavailable,
          `redis at '${this.#displayUrl}' is unavailable (connection ${this.#redis.status}); calls fail until it reconnects`,
          { cause: error },
        );
      }
      throw new EngineError(ErrorCode.backendUnavailable, `redis command ${name} at '${this.#displayUrl}' failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  #onReady(): void {
    if (this.#connected) return;
    this.#connected = true;
    this.#options.logger.info(`connected to redis at '${this.#displayUrl}'`);
  }

  #onClose(): void {
    if (!this.#connected || this.#closed) return;
    this.#connected = false;
    this.#options.logger.warn(`lost the connection to redis at '${this.#displayUrl}'; reconnecting`);
  }
}

/** Hides the user name and password of a Redis URL, so it can go into messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === "" && parsed.password === "") return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "<invalid redis url>";
  }
}

function decode(text: string, scope: string, key: string): JsonValue {
  try {
    return parseJson(text);
  } catch (error) {
    throw new EngineError("JSON_ERROR", `value of key '${key}' in scope '${scope}' is not valid JSON; overwrite or delete it`, {
      cause: error,
    });
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
