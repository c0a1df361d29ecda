import type { JsonValue } from "../../util/json.ts";
import type { MessageHandler } from "./adapter.ts";

/** Subscriptions per topic, each handler keyed by its subscription id. */
export class SubscriberTable {
  readonly #topics = new Map<string, Map<string, MessageHandler>>();

  /** Adds a subscription; returns true when it is the first one of its topic. */
  add(topic: string, subscriptionId: string, handler: MessageHandler): boolean {
    const handlers = this.#topics.get(topic);
    if (handlers) {
      handlers.set(subscriptionId, handler);
      return false;
    }

    this.#topics.set(topic, new Map([[subscriptionId, handler]]));
    return true;
  }

  /** Removes a subscription; returns true when its topic has no subscriptions left. */
  remove(topic: string, subscriptionId: string): boolean {
    const handlers = this.#topics.get(topic);
    if (!handlers?.delete(subscriptionId)) return false;
    if (handlers.size > 0) return false;

    this.#topics.delete(topic);
    return true;
  }

  has(topic: string): boolean {
    return this.#topics.has(topic);
  }

  topics(): string[] {
    return Array.from(this.#topics.keys());
  }

  /** Hands `data` to every handler of `topic`; a handler that throws does not stop the others. */
  deliver(topic: string, data: JsonValue, onError: (error: unknown) => void): void {
    const handlers = this.#topics.get(topic);
    if (!handlers) return;

    for (const handler of Array.from(handlers.values())) {
      try {
        handler(data);
      } catch (error) {
        onError(error);
      }
    }
  }

  clear(): void {
    this.#topics.clear();
  }
}
