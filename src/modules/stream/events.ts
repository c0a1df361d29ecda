import { isJsonObject, type JsonValue } from "../../util/json.ts";

/** Change to an item or group; type `event` carries a custom type and data from `stream::send`. */
export type StreamEventBody =
  | { type: "create"; data: JsonValue }
  | { type: "update"; data: JsonValue }
  | { type: "delete"; data: JsonValue }
  | { type: "sync"; data: JsonValue }
  | { type: "unauthorized" }
  | { type: "error"; error: { code: string; message: string } }
  | { type: "event"; event: { type: string; data: JsonValue } };

/**
 * The envelope pushed to stream sockets and handed to `stream` triggers. `id`
 * is the item id, or null for an event about a whole group.
 */
export interface StreamEvent {
  type: "stream";
  timestamp: number;
  streamName: string;
  groupId: string;
  id: string | null;
  event: StreamEventBody;
}

export function createStreamEvent(streamName: string, groupId: string, id: string | null, event: StreamEventBody): StreamEvent {
  return { type: "stream", timestamp: Date.now(), streamName, groupId, id, event };
}

/**
 * Checks the routing fields of an envelope received from another engine.
 * Returns null when the value is not an envelope, so the caller skips it.
 */
export function parseStreamEvent(value: JsonValue): StreamEvent | null {
  if (!isJsonObject(value) || value.type !== "stream") return null;

  const { streamName, groupId, id, event } = value;
  if (typeof streamName !== "string" || typeof groupId !== "string") return null;
  if (id !== null && id !== undefined && typeof id !== "string") return null;
  if (!isJsonObject(event) || typeof event.type !== "string") return null;

  const envelope = value as unknown as StreamEvent;
  return id === undefined ? { ...envelope, id: null } : envelope;
}

/** Topic of the sockets that follow a whole group. */
export function groupTopic(streamName: string, groupId: string): string {
  return `g\u0000${streamName}\u0000${groupId}`;
}

/** Topic of the sockets that follow one item of a group. */
export function itemTopic(streamName: string, groupId: string, id: string): string {
  return `i\u0000${streamName}\u0000${groupId}\u0000${id}`;
}
