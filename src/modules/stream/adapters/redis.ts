import Redis from "ioredis";

import { EngineError, ErrorCode } from "../../../core/errors.ts";
import { applyUpdateOps, type UpdateOp, type UpdateResult } from "../../../storage/index.ts";
import type { Logger } from "../../../telemetry/logger.ts";
import { parseJson, stringifyJson, type JsonValue } from "../../../util/json.ts";
import type { StreamAdapter, StreamEventListener, StreamSummary } from "../adapter.ts";
import { parseStreamEvent, type StreamEvent } from "../events.ts";
import { GROUP_KEY_PREFIX, compareCodeUnits, groupKey, summarizeGroupKeys } from "./index-names.ts";

export interface RedisStreamAdapterOptions {
  redisUrl: string;
  /** Prepended to every Redis key and to the event channel, so tests and deployments can share a server. */
  keyPrefix: string;
  logger: Logger;
}

/** Redis pub/sub channel that carries every stream event between engines. */
export const EVENTS_CHANNEL = "stream::events";

const MAX_UPDATE_ATTEMPTS = 100;
const SCAN_BATCH_SIZE = 500;
const CONNECT_TIMEOUT_MS = 5_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

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

/**
 * Keeps items in Redis hashes `<key_prefix>stream:<stream>:<group>` (field =
 * item id, value = JSON text) and publishes events on the channel
 * `<key_prefix>stream::events`, which every engine on the same Redis forwards
 * to its own sockets. Commands fail at once while Redis is unreachable, and
 * ioredis reconnects (and resubscribes) in the background.
 */
export class RedisStreamAdapter implements StreamAdapter {
  readonly #options: RedisStreamAdapterOptions;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #displayUrl: string;
  readonly #channel: string;
  readonly #updateQueues = new Map<string, Promise<unknown>>();
  #listener: StreamEventListener | null = null;
  #connected = false;
  #closed = false;

  constructor(options: RedisStreamAdapterOptions) {
    this.#options = options;
    this.#displayUrl = redactRedisUrl(options.redisUrl);
    this.#channel = `${options.keyPrefix}${EVENTS_CHANNEL}`;
    const connection = {
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    };
    this.#redis = new Redis(options.redisUrl, { ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    // The subscriber queues its SUBSCRIBE until connected and repeats it after every reconnect.
    this.#subscriber = new Redis(options.redisUrl, { ...connection, autoResubscribe: true });

    this.#redis.on("ready", () => this.#onReady());
    this.#redis.on("close", () => this.#onClose());
    // Without error listeners ioredis prints every failed reconnect; the close handler logs an outage once.
    this.#redis.on("error", (error: Error) => options.logger.debug(`redis at '${this.#displayUrl}': ${error.message}`));
    this.#subscriber.on("error", (error: Error) => options.logger.debug(`redis subscriber at '${this.#displayUrl}': ${error.message}`));
    this.#subscriber.on("message", (channel: string, text: string) => this.#onMessage(channel, text));
  }

  async open(listener: StreamEventListener): Promise<void> {
    try {
      await this.#redis.connect();
      await this.#subscriber.connect();
      await this.#subscriber.subscribe(this.#channel);
    } catch (error) {
      this.#redis.disconnect();
      this.#subscriber.disconnect();
      throw new EngineError(
        ErrorCode.backendUnavailable,
        `cannot connect to redis at '${this.#displayUrl}': ${messageOf(error)}; start Redis or fix 'redis_url'`,
        { cause: error },
      );
    }
    this.#listener = listener;
  }

  async set(stream: string, group: string, id: string, value: JsonValue): Promise<JsonValue | null> {
    const key = this.#hashKey(stream, group);
    const previous = await this.#command("HSET", () => this.#redis.eval(SET_SCRIPT, 1, key, id, stringifyJson(value)));
    return previous === null ? null : decode(previous as string, key, id);
  }

  async get(stream: string, group: string, id: string): Promise<JsonValue | undefined> {
    const key = this.#hashKey(stream, group);
    const text = await this.#command("HGET", () => this.#redis.hget(key, id));
    return text === null ? undefined : decode(text, key, id);
  }

  async delete(stream: string, group: string, id: string): Promise<JsonValue | undefined> {
    const key = this.#hashKey(stream, group);
    const previous = await this.#command("HDEL", () => this.#redis.eval(DELETE_SCRIPT, 1, key, id));
    return previous === null ? undefined : decode(previous as string, key, id);
  }

  async update(stream: string, group: string, id: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    const key = this.#hashKey(stream, group);
    const queueKey = `${key}\u0000${id}`;
    // Updates from this engine wait for each other; the compare-and-set only has to resolve races between engines.
    const previous = this.#updateQueues.get(queueKey) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.#updateWithRetry(key, id, ops));
    this.#updateQueues.set(queueKey, run);

    try {
      return await run;
    } finally {
      if (this.#updateQueues.get(queueKey) === run) this.#updateQueues.delete(queueKey);
    }
  }

  async list(stream: string, group: string): Promise<JsonValue[]> {
    const key = this.#hashKey(stream, group);
    const texts = await this.#command("HGETALL", () => this.#redis.hgetall(key));
    return Object.entries(texts).map(([id, text]) => decode(text, key, id));
  }

  async listGroups(stream: string): Promise<string[]> {
    const prefix = this.#hashKey(stream, "");
    const keys = await this.#scan(`${escapeGlob(prefix)}*`);
    return keys.map((key) => key.slice(prefix.length)).sort(compareCodeUnits);
  }

  async listAll(): Promise<StreamSummary[]> {
    const prefix = this.#options.keyPrefix;
    const keys = await this.#scan(`${escapeGlob(prefix + GROUP_KEY_PREFIX)}*`);
    return summarizeGroupKeys(keys.map((key) => key.slice(prefix.length)));
  }

  async publish(event: StreamEvent): Promise<void> {
    const text = stringifyJson(event);
    await this.#command("PUBLISH", () => this.#redis.publish(this.#channel, text));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener = null;

    await Promise.all([quit(this.#subscriber), quit(this.#redis)]);
  }

  async #updateWithRetry(key: string, id: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const currentText = await this.#command("HGET", () => this.#redis.hget(key, id));
      const current = currentText === null ? undefined : decode(currentText, key, id);
      const result = applyUpdateOps(current, ops, (reason) => this.#options.logger.debug(`update of '${id}' in '${key}': ${reason}`));

      const expected = currentText === null ? ["0", ""] : ["1", currentText];
      const written = await this.#command("HSET", () =>
        this.#redis.eval(COMPARE_AND_SET_SCRIPT, 1, key, id, stringifyJson(result.newValue), ...expected),
      );
      if (written === 1) return result;
    }

    throw new EngineError(
      ErrorCode.backendUnavailable,
      `update of item '${id}' in '${key}' conflicted with other writers ${MAX_UPDATE_ATTEMPTS} times; retry the call`,
    );
  }

  async #scan(pattern: string): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = "0";

    do {
      const [next, batch] = await this.#command("SCAN", () => this.#redis.scan(cursor, "MATCH", pattern, "COUNT", SCAN_BATCH_SIZE));
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== "0");

    return [...keys];
  }

  #hashKey(stream: string, group: string): string {
    return `${this.#options.keyPrefix}${groupKey(stream, group)}`;
  }

  #onMessage(channel: string, text: string): void {
    if (channel !== this.#channel || this.#listener === null) return;

    let event: StreamEvent | null = null;
    try {
      event = parseStreamEvent(parseJson(text));
    } catch {
      event = null;
    }
    if (event === null) {
      this.#options.logger.debug(`skipped a message on redis channel '${channel}' that is not a stream event (${text.length} bytes)`);
      return;
    }
    this.#listener(event, text);
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
    this.#options.logger.info(`stream adapter connected to redis at '${this.#displayUrl}'`);
  }

  #onClose(): void {
    if (!this.#connected || this.#closed) return;
    this.#connected = false;
    this.#options.logger.warn(`stream adapter lost the connection to redis at '${this.#displayUrl}'; reconnecting`);
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

async function quit(redis: Redis): Promise<void> {
  if (redis.status !== "ready") {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}

function decode(text: string, key: string, id: string): JsonValue {
  try {
    return parseJson(text);
  } catch (error) {
    throw new EngineError("JSON_ERROR", `value of item '${id}' in '${key}' is not valid JSON; overwrite or delete it`, { cause: error });
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
