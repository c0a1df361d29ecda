import type { JsonValue } from "../../util/json.ts";

/** Receives one published message; it must return quickly and not throw. */
export type MessageHandler = (data: JsonValue) => void;

/**
 * Carries published messages to subscribers. Each subscription, named by its
 * id, receives every message published on its topic after `subscribe` resolved,
 * exactly once. Methods throw an `EngineError` when the backend fails, at once
 * with `backend_unavailable` while it cannot be reached.
 */
export interface PubSubAdapter {
  /** Opens connections; throws `backend_unavailable` when the backend cannot be reached. */
  open(): Promise<void>;

  /** Sends `data` to every subscription of `topic`; resolves once the backend accepted it. */
  publish(topic: string, data: JsonValue): Promise<void>;

  /** Adds a subscription; resolves when messages published from then on will reach it. */
  subscribe(topic: string, subscriptionId: string, handler: MessageHandler): Promise<void>;

  /** Removes only that subscription; unknown ids are ignored. */
  unsubscribe(topic: string, subscriptionId: string): Promise<void>;

  /** Drops every subscription and closes connections; safe to call twice. */
  close(): Promise<void>;
}
