import Redis, { type RedisOptions } from "ioredis";

import { EngineError, ErrorCode } from "../core/errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import { parseJson, stringifyJson, type JsonValue } from "../util/json.ts";
import { applyUpdateOps, type UpdateOp, type UpdateResult } from "./update-ops.ts";

export type { Redis as RedisClient } from "ioredis";

export { DEFAULT_REDIS_URL } from "./redis-defaults.ts";

const CONNECT_TIMEOUT_MS = 5_000;
const MAX_RECONNECT_DELAY_MS = 2_000;
const SCAN_BATCH_SIZE = 500;

/**
 * Creates an ioredis client that connects on demand and fails commands at once
 * while disconnected (no offline queue, no per-command retries), reconnecting in
 * the background. `overrides` adjust this for subscribers and blocking clients.
 */
export function createRedisClient(url: string, overrides: Partial<RedisOptions> = {}): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    ...overrides,
  });
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

/** Escapes the glob characters of a key prefix for `SCAN ... MATCH`. */
export function escapeRedisGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/**
 * One Redis client with uniform outage handling: the first failure of an outage
 * is logged as a warning and the rest at debug, the recovery at info, and every
 * failed command becomes a `backend_unavailable` error naming the URL without
 * credentials.
 */
export class RedisConnection {
  readonly client: Redis;
  readonly displayUrl: string;
  readonly #logger: Logger;
  readonly #label: string;
  #everReady = false;
  #failing = false;
  #quietUntilReady = true;
  #closed = false;
  #lastError: Error | null = null;

  /** `label` names the user in logs, such as "state adapter". */
  constructor(url: string, logger: Logger, label: string, overrides: Partial<RedisOptions> = {}) {
    this.client = createRedisClient(url, overrides);
    this.displayUrl = redactRedisUrl(url);
    this.#logger = logger;
    this.#label = label;
    this.client.on("ready", () => this.#onReady());
    this.client.on("error", (error: Error) => this.#onError(error));
  }

  /**
   * Connects. With `required` a failure throws `backend_unavailable`. Without it (the
   * default) the failure is logged once and ioredis keeps reconnecting in the background,
   * so the engine can start before Redis does and calls fail until Redis is reachable.
   */
  async connect(options: { required?: boolean } = {}): Promise<void> {
    const required = options.required ?? false;
    this.#quietUntilReady = true;
    try {
      await this.client.connect();
    } catch (error) {
      const reason = messageOf(this.#lastError ?? error);
      if (!required) {
        this.#failing = true;
        this.#logger.warn(
          `${this.#label} cannot connect to redis at '${this.displayUrl}' (${reason}); calls fail until it is reachable. Start Redis or fix 'redis_url'`,
        );
        return;
      }
      this.client.disconnect();
      throw new EngineError(ErrorCode.backendUnavailable, `cannot connect to redis at '${this.displayUrl}' (${reason}); start Redis or fix 'redis_url'`, {
        cause: error,
      });
    }
  }

  /** Runs one command; any failure becomes `backend_unavailable` with the connection state. */
  async command<T>(name: string, run: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await run(this.client);
    } catch (error) {
      if (error instanceof EngineError) throw error;
      if (this.client.status !== "ready") {
        throw new EngineError(
          ErrorCode.backendUnavailable,
          `redis at '${this.displayUrl}' is unavailable (connection ${this.client.status}); calls fail until it reconnects`,
          { cause: error },
        );
      }
      throw new EngineError(ErrorCode.backendUnavailable, `redis command ${name} at '${this.displayUrl}' failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  /** Lists every key matching a `SCAN` pattern, without duplicates. */
  async scanKeys(pattern: string): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const [next, batch] = await this.command("SCAN", (client) => client.scan(cursor, "MATCH", pattern, "COUNT", SCAN_BATCH_SIZE));
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== "0");
    return [...keys];
  }

  /** Closes the client; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.client.status !== "ready") {
      this.client.disconnect();
      return;
    }
    await this.client.quit().catch(() => this.client.disconnect());
  }

  #onReady(): void {
    if (this.#failing) this.#logger.info(`${this.#label} ${this.#everReady ? "reconnected" : "connected"} to redis at '${this.displayUrl}'`);
    else if (!this.#everReady) this.#logger.debug(`${this.#label} connected to redis at '${this.displayUrl}'`);
    this.#everReady = true;
    this.#failing = false;
  }

  #onError(error: Error): void {
    this.#lastError = error;
    // Without a listener ioredis prints every failed reconnect; one warning per outage is enough.
    const quiet = this.#failing || this.#closed || (!this.#everReady && this.#quietUntilReady);
    if (quiet) {
      this.#logger.debug(`${this.#label}: redis at '${this.displayUrl}': ${error.message}`);
      return;
    }
    this.#failing = true;
    this.#logger.warn(`${this.#label} lost redis at '${this.displayUrl}' (${error.message}); calls fail while it reconnects`);
  }
}

// Each script runs atomically on the server, so the previous value it returns
// is exactly the one the write replaced, even with several engines writing.
const SET_SCRIPT = `
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return previous`;

const DELETE_SCRIPT = `
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous then redis.call('HDEL', KEYS[1], ARGV[1]) end
return previous`;

// Writes ARGV[2] only while the field still contains ARGV[4] (ARGV[3] = '1')
// or is still missing (ARGV[3] = '0'). Returns 1 when it wrote.
const COMPARE_AND_SET_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == '1' then
  if current ~= ARGV[4] then return 0 end
elseif current then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

const HASH_SET_COMMAND = "iiiHashSet";
const HASH_DELETE_COMMAND = "iiiHashDelete";
const HASH_COMPARE_AND_SET_COMMAND = "iiiHashCompareAndSet";

/** Returns the client typed with the commands `defineCommand` added, which ioredis types do not declare. */
function scripted(client: Redis): Record<string, (...args: string[]) => Promise<unknown>> {
  return client as unknown as Record<string, (...args: string[]) => Promise<unknown>>;
}

// Optimistic updates retry when another engine wrote the same field between
// the read and the write; updates from this engine are queued per field first.
const MAX_UPDATE_ATTEMPTS = 100;

/**
 * JSON values in Redis hash fields (key = hash, field = item), with atomic set
 * and delete that return the replaced value, and update operations applied with
 * `applyUpdateOps` and a compare-and-set, so results match the embedded store.
 */
export class RedisJsonHash {
  readonly #connection: RedisConnection;
  readonly #logger: Logger;
  readonly #updateQueues = new Map<string, Promise<unknown>>();

  constructor(connection: RedisConnection, logger: Logger) {
    this.#connection = connection;
    this.#logger = logger;
    // Defined commands run by EVALSHA, so each call sends the script's hash, not its text.
    connection.client.defineCommand(HASH_SET_COMMAND, { numberOfKeys: 1, lua: SET_SCRIPT });
    connection.client.defineCommand(HASH_DELETE_COMMAND, { numberOfKeys: 1, lua: DELETE_SCRIPT });
    connection.client.defineCommand(HASH_COMPARE_AND_SET_COMMAND, { numberOfKeys: 1, lua: COMPARE_AND_SET_SCRIPT });
  }

  async set(key: string, field: string, value: JsonValue): Promise<JsonValue | null> {
    const previous = await this.#connection.command("HSET", (client) => scripted(client)[HASH_SET_COMMAND](key, field, stringifyJson(value)));
    return typeof previous === "string" ? decode(previous, key, field) : null;
  }

  async get(key: string, field: string): Promise<JsonValue | undefined> {
    const text = await this.#connection.command("HGET", (client) => client.hget(key, field));
    return text === null ? undefined : decode(text, key, field);
  }

  async delete(key: string, field: string): Promise<JsonValue | undefined> {
    const previous = await this.#connection.command("HDEL", (client) => scripted(client)[HASH_DELETE_COMMAND](key, field));
    return typeof previous === "string" ? decode(previous, key, field) : undefined;
  }

  async update(key: string, field: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    const queueKey = `${key}\u0000${field}`;
    const previous = this.#updateQueues.get(queueKey) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.#updateWithRetry(key, field, ops));
    this.#updateQueues.set(queueKey, run);

    try {
      return await run;
    } finally {
      if (this.#updateQueues.get(queueKey) === run) this.#updateQueues.delete(queueKey);
    }
  }

  /** Returns every value of a hash. NOTE: in Redis hash order, not insertion order as with the embedded store. */
  async values(key: string): Promise<JsonValue[]> {
    const texts = await this.#connection.command("HGETALL", (client) => client.hgetall(key));
    return Object.entries(texts).map(([field, text]) => decode(text, key, field));
  }

  async #updateWithRetry(key: string, field: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const currentText = await this.#connection.command("HGET", (client) => client.hget(key, field));
      const current = currentText === null ? undefined : decode(currentText, key, field);
      const result = applyUpdateOps(current, ops, (reason) => this.#logger.debug(`update of '${field}' in '${key}': ${reason}`));

      const expected = currentText === null ? ["0", ""] : ["1", currentText];
      const written = await this.#connection.command("HSET", (client) =>
        scripted(client)[HASH_COMPARE_AND_SET_COMMAND](key, field, stringifyJson(result.newValue), ...expected),
      );
      if (written === 1) return result;
    }

    throw new EngineError(
      ErrorCode.backendUnavailable,
      `update of '${field}' in redis hash '${key}' conflicted with other writers ${MAX_UPDATE_ATTEMPTS} times; retry the call`,
    );
  }
}

function decode(text: string, key: string, field: string): JsonValue {
  try {
    return parseJson(text);
  } catch (error) {
    throw new EngineError("JSON_ERROR", `value of '${field}' in redis hash '${key}' is not valid JSON; overwrite or delete it`, {
      cause: error,
    });
  }
}

/** Returns an error's message without a final period, so it reads well inside a sentence. */
function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\.$/, "");
}
