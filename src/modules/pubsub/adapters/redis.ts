import Redis from "ioredis";

import { EngineError, ErrorCode } from "../../../core/errors.ts";
import type { Logger } from "../../../telemetry/logger.ts";
import { parseJson, stringifyJson, type JsonValue } from "../../../util/json.ts";
import type { MessageHandler, PubSubAdapter } from "../adapter.ts";
import { SubscriberTable } from "../subscriber-table.ts";

export interface RedisPubSubAdapterOptions {
  redisUrl: string;
  /** Prepended to every channel name, so several deployments or tests can share one server. */
  keyPrefix: string;
  logger: Logger;
}

const CONNECT_TIMEOUT_MS = 5_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * Publishes through Redis channels named `<key_prefix><topic>`, so every engine
 * sharing the server gets each message. An engine subscribes to a channel once,
 * however many triggers use the topic, and hands each message to every one of
 * them. After a reconnect it subscribes again to every topic still in use;
 * messages published while it was disconnected are lost.
 */
export class RedisPubSubAdapter implements PubSubAdapter {
  readonly #options: RedisPubSubAdapterOptions;
  readonly #displayUrl: string;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #subscribers = new SubscriberTable();
  readonly #pendingSubscribes = new Map<string, Promise<void>>();
  #connected = false;
  #closed = false;

  constructor(options: RedisPubSubAdapterOptions) {
    this.#options = options;
    this.#displayUrl = redactRedisUrl(options.redisUrl);
    this.#publisher = createClient(options.redisUrl, options.logger, this.#displayUrl);
    this.#subscriber = createClient(options.redisUrl, options.logger, this.#displayUrl);
    this.#subscriber.on("message", (channel: string, message: string) => this.#onMessage(channel, message));
    this.#subscriber.on("ready", () => this.#onSubscriberReady());
    this.#subscriber.on("close", () => this.#onSubscriberClose());
  }

  async open(): Promise<void> {
    try {
      await Promise.all([this.#publisher.connect(), this.#subscriber.connect()]);
    } catch (error) {
      this.#publisher.disconnect();
      this.#subscriber.disconnect();
      throw new EngineError(
        ErrorCode.backendUnavailable,
        `cannot connect to redis at '${this.#displayUrl}': ${messageOf(error)}; start Redis or fix 'redis_url'`,
        { cause: error },
      );
    }
  }

  async publish(topic: string, data: JsonValue): Promise<void> {
    await this.#command(this.#publisher, "PUBLISH", () => this.#publisher.publish(this.#channel(topic), stringifyJson(data)));
  }

  async subscribe(topic: string, subscriptionId: string, handler: MessageHandler): Promise<void> {
    const isFirst = this.#subscribers.add(topic, subscriptionId, handler);
    const pending = isFirst ? this.#startSubscribe(topic) : this.#pendingSubscribes.get(topic);

    try {
      await pending;
    } catch (error) {
      this.#subscribers.remove(topic, subscriptionId);
      throw error;
    }
  }

  async unsubscribe(topic: string, subscriptionId: string): Promise<void> {
    if (!this.#subscribers.remove(topic, subscriptionId)) return;

    // Unsubscribing while disconnected is moot: topics without subscribers are not subscribed again.
    if (this.#subscriber.status !== "ready") return;
    await this.#command(this.#subscriber, "UNSUBSCRIBE", () => this.#subscriber.unsubscribe(this.#channel(topic)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscribers.clear();

    await Promise.all([quit(this.#subscriber), quit(this.#publisher)]);
  }

  #startSubscribe(topic: string): Promise<void> {
    const pending = this.#command(this.#subscriber, "SUBSCRIBE", () => this.#subscriber.subscribe(this.#channel(topic))).then(
      () => undefined,
    );
    this.#pendingSubscribes.set(topic, pending);
    void pending
      .finally(() => {
        if (this.#pendingSubscribes.get(topic) === pending) this.#pendingSubscribes.delete(topic);
      })
      .catch(() => undefined);
    return pending;
  }

  #channel(topic: string): string {
    return `${this.#options.keyPrefix}${topic}`;
  }

  #onMessage(channel: string, message: string): void {
    if (!channel.startsWith(this.#options.keyPrefix)) return;
    const topic = channel.slice(this.#options.keyPrefix.length);

    let data;
    try {
      data = parseJson(message);
    } catch (error) {
      this.#options.logger.warn(`dropped a message on topic '${topic}' that is not valid JSON (${message.length} bytes)`, error);
      return;
    }
    this.#subscribers.deliver(topic, data, (error) => this.#options.logger.error(`subscriber of topic '${topic}' failed`, error));
  }

  // Subscriptions do not survive a reconnect, so every topic still in use is subscribed again.
  #onSubscriberReady(): void {
    const reconnected = !this.#connected && this.#subscribers.topics().length > 0;
    this.#connected = true;
    if (!reconnected) return;

    const channels = this.#subscribers.topics().map((topic) => this.#channel(topic));
    this.#subscriber.subscribe(...channels).then(
      () => this.#options.logger.info(`resubscribed to ${channels.length} topics on redis at '${this.#displayUrl}'`),
      (error: unknown) => this.#options.logger.error(`resubscribing to ${channels.length} topics on redis failed`, error),
    );
  }

  #onSubscriberClose(): void {
    if (!this.#connected || this.#closed) return;
    this.#connected = false;
    this.#options.logger.warn(`lost the connection to redis at '${this.#displayUrl}'; reconnecting`);
  }

  async #command<T>(client: Redis, name: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (client.status !== "ready") {
        throw new EngineError(
          ErrorCode.backendUnavailable,
          `redis at '${this.#displayUrl}' is unavailable (connection ${client.status}); calls fail until it reconnects`,
          { cause: error },
        );
      }
      throw new EngineError(ErrorCode.backendUnavailable, `redis command ${name} at '${this.#displayUrl}' failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
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

function createClient(url: string, logger: Logger, displayUrl: string): Redis {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResubscribe: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
  });
  // Without a listener ioredis prints every failed reconnect; the close handler logs the outage once.
  client.on("error", (error: Error) => logger.debug(`redis at '${displayUrl}': ${error.message}`));
  return client;
}

async function quit(client: Redis): Promise<void> {
  if (client.status !== "ready") {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
