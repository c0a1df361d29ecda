import { escapeRedisGlob, RedisConnection, RedisJsonHash } from "../../../storage/redis.ts";
import type { UpdateOp, UpdateResult } from "../../../storage/index.ts";
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

/**
 * Keeps items in Redis hashes `<key_prefix>stream:<stream>:<group>` (field =
 * item id, value = JSON text) and publishes events on the channel
 * `<key_prefix>stream::events`, which every engine on the same Redis forwards
 * to its own sockets. Commands fail at once while Redis is unreachable, and
 * ioredis reconnects (and resubscribes) in the background.
 */
export class RedisStreamAdapter implements StreamAdapter {
  readonly #options: RedisStreamAdapterOptions;
  readonly #connection: RedisConnection;
  readonly #subscriber: RedisConnection;
  readonly #hashes: RedisJsonHash;
  readonly #channel: string;
  #listener: StreamEventListener | null = null;

  constructor(options: RedisStreamAdapterOptions) {
    this.#options = options;
    this.#channel = `${options.keyPrefix}${EVENTS_CHANNEL}`;
    this.#connection = new RedisConnection(options.redisUrl, options.logger, "stream adapter");
    this.#hashes = new RedisJsonHash(this.#connection, options.logger);
    // The subscriber queues its SUBSCRIBE until connected and repeats it after every reconnect.
    this.#subscriber = new RedisConnection(options.redisUrl, options.logger, "stream event subscriber", {
      enableOfflineQueue: true,
      autoResubscribe: true,
      maxRetriesPerRequest: null,
    });
    this.#subscriber.client.on("message", (channel: string, text: string) => this.#onMessage(channel, text));
  }

  async open(listener: StreamEventListener): Promise<void> {
    try {
      await this.#connection.connect();
      await this.#subscriber.connect();
      // While Redis is down the SUBSCRIBE waits in the subscriber's offline queue, which
      // sends it once Redis is reachable, so start-up does not wait for it.
      const subscribing = this.#subscriber.command("SUBSCRIBE", (client) => client.subscribe(this.#channel));
      if (this.#subscriber.client.status === "ready") {
        await subscribing;
      } else {
        // A rejection after close() is the shutdown itself, not a lost subscription.
        subscribing.catch((error: unknown) => {
          if (this.#listener !== null) this.#options.logger.warn(`stream events from redis are not subscribed: ${String(error)}`);
        });
      }
    } catch (error) {
      await this.close();
      throw error;
    }
    this.#listener = listener;
  }

  set(stream: string, group: string, id: string, value: JsonValue): Promise<JsonValue | null> {
    return this.#hashes.set(this.#hashKey(stream, group), id, value);
  }

  get(stream: string, group: string, id: string): Promise<JsonValue | undefined> {
    return this.#hashes.get(this.#hashKey(stream, group), id);
  }

  delete(stream: string, group: string, id: string): Promise<JsonValue | undefined> {
    return this.#hashes.delete(this.#hashKey(stream, group), id);
  }

  update(stream: string, group: string, id: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    return this.#hashes.update(this.#hashKey(stream, group), id, ops);
  }

  list(stream: string, group: string): Promise<JsonValue[]> {
    return this.#hashes.values(this.#hashKey(stream, group));
  }

  async listGroups(stream: string): Promise<string[]> {
    const prefix = this.#hashKey(stream, "");
    const keys = await this.#connection.scanKeys(`${escapeRedisGlob(prefix)}*`);
    return keys.map((key) => key.slice(prefix.length)).sort(compareCodeUnits);
  }

  async listAll(): Promise<StreamSummary[]> {
    const prefix = this.#options.keyPrefix;
    const keys = await this.#connection.scanKeys(`${escapeRedisGlob(prefix + GROUP_KEY_PREFIX)}*`);
    return summarizeGroupKeys(keys.map((key) => key.slice(prefix.length)));
  }

  async publish(event: StreamEvent): Promise<void> {
    const text = stringifyJson(event);
    await this.#connection.command("PUBLISH", (client) => client.publish(this.#channel, text));
  }

  async close(): Promise<void> {
    this.#listener = null;
    await Promise.all([this.#subscriber.close(), this.#connection.close()]);
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
}
