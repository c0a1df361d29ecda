import type { Logger } from "../../../telemetry/logger.ts";
import type { JsonValue } from "../../../util/json.ts";
import type { MessageHandler, PubSubAdapter } from "../adapter.ts";
import { SubscriberTable } from "../subscriber-table.ts";

/** Delivers messages within this engine only. */
export class LocalPubSubAdapter implements PubSubAdapter {
  readonly #logger: Logger;
  readonly #subscribers = new SubscriberTable();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  async open(): Promise<void> {}

  async publish(topic: string, data: JsonValue): Promise<void> {
    this.#subscribers.deliver(topic, data, (error) => this.#logger.error(`subscriber of topic '${topic}' failed`, error));
  }

  async subscribe(topic: string, subscriptionId: string, handler: MessageHandler): Promise<void> {
    this.#subscribers.add(topic, subscriptionId, handler);
  }

  async unsubscribe(topic: string, subscriptionId: string): Promise<void> {
    this.#subscribers.remove(topic, subscriptionId);
  }

  async close(): Promise<void> {
    this.#subscribers.clear();
  }
}
