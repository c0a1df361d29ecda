import { EngineError, ErrorCode } from "../../../core/errors.ts";
import { RedisConnection } from "../../../storage/redis.ts";
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

/**
 * Publishes through Redis channels named `<key_prefix><topic>`, so every engine
 * sharing the server gets each message. An engine subscribes to a channel once,
 * however many triggers use the topic, and hands each message to every one of
 * them. After a reconnect it subscribes again to every topic still in use;
 * messages published while it was disconnected are lost.
 */
export class RedisPubSubAdapter implements PubSubAdapter {
  readonly #options: RedisPubSubAdapterOptions;
  readonly #publisher: RedisConnection;
  readonly #subscriber: RedisConnection;
  readonly #subscribers = new SubscriberTable();
  readonly #pendingSubscribes = new Map<string, Promise<void>>();
  #connected = false;

  constructor(options: RedisPubSubAdapterOptions) {
    this.#options = options;
    this.#publisher = new RedisConnection(options.redisUrl, options.logger, "pubsub publisher");
    // Subscriptions are renewed by hand after a reconnect, for the topics still in use only.
    this.#subscriber = new RedisConnection(options.redisUrl, options.logger, "pubsub subscriber", { autoResubscribe: false });
    this.#subscriber.client.on("message", (channel: string, message: string) => this.#onMessage(channel, message));
    this.#subscriber.client.on("ready", () => this.#onSubscriberReady());
    this.#subscriber.client.on("close", () => {
      this.#connected = false;
    });
  }

  async open(): Promise<void> {
    try {
      await Promise.all([this.#publisher.connect(), this.#subscriber.connect()]);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async publish(topic: string, data: JsonValue): Promise<void> {
    await this.#publisher.command("PUBLISH", (client) => client.publish(this.#channel(topic), stringifyJson(data)));
  }

  async subscribe(topic: string, subscriptionId: string, handler: MessageHandler): Promise<void> {
    const isFirst = this.#subscribers.add(topic, subscriptionId, handler);
    const pending = isFirst && this.#subscriber.client.status === "ready" ? this.#startSubscribe(topic) : this.#pendingSubscribes.get(topic);

    let waiting = isFirst && pending === undefined;
    try {
      await pending;
    } catch (error) {
      // A failed connection keeps the subscription, because the subscriber's next "ready" subscribes every topic in use.
      if (!(error instanceof EngineError) || error.code !== ErrorCode.backendUnavailable) {
        this.#subscribers.remove(topic, subscriptionId);
        throw error;
      }
      waiting = isFirst;
    }
    if (waiting) {
      this.#options.logger.warn(`subscription to topic '${topic}' waits for redis at '${this.#subscriber.displayUrl}'; it starts once redis is reachable`);
    }
  }

  async unsubscribe(topic: string, subscriptionId: string): Promise<void> {
    if (!this.#subscribers.remove(topic, subscriptionId)) return;

    // Unsubscribing while disconnected is moot: topics without subscribers are not subscribed again.
    if (this.#subscriber.client.status !== "ready") return;
    await this.#subscriber.command("UNSUBSCRIBE", (client) => client.unsubscribe(this.#channel(topic)));
  }

  async close(): Promise<void> {
    this.#subscribers.clear();
    await Promise.all([this.#subscriber.close(), this.#publisher.close()]);
  }

  #startSubscribe(topic: string): Promise<void> {
    const pending = this.#subscriber.command("SUBSCRIBE", (client) => client.subscribe(this.#channel(topic))).then(() => undefined);
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
    this.#subscriber.client.subscribe(...channels).then(
      () => this.#options.logger.info(`resubscribed to ${channels.length} topics on redis at '${this.#subscriber.displayUrl}'`),
      (error: unknown) => this.#options.logger.error(`resubscribing to ${channels.length} topics on redis failed`, error),
    );
  }
}
