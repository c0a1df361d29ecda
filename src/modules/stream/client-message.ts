import { isJsonObject, parseJson, type JsonValue } from "../../util/json.ts";

/** Subscription named by a join or leave frame; `id` null means the whole group. */
export interface SubscriptionRequest {
  subscriptionId: string | null;
  streamName: string | null;
  groupId: string | null;
  id: string | null;
}

/** A decoded client frame; `ignored` carries the reason for the debug log. */
export type ClientMessage =
  | { type: "join"; request: SubscriptionRequest }
  | { type: "leave"; request: SubscriptionRequest }
  | { type: "ignored"; reason: string };

/**
 * Decodes `{"type":"join"|"leave","data":{subscriptionId, streamName, groupId, id?}}`
 * from a text or binary frame. Keys inside `data` that are missing or not
 * strings come back as null, so the caller decides what a join without them means.
 */
export function parseClientMessage(message: string | Buffer): ClientMessage {
  const text = typeof message === "string" ? message : message.toString("utf8");

  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch {
    return { type: "ignored", reason: `frame of ${text.length} characters is not JSON` };
  }
  if (!isJsonObject(value)) return { type: "ignored", reason: "frame is not a JSON object" };
  if (value.type !== "join" && value.type !== "leave") return { type: "ignored", reason: "frame type is neither 'join' nor 'leave'" };
  if (!isJsonObject(value.data)) return { type: "ignored", reason: `${value.type} frame has no 'data' object` };

  const data = value.data;
  return {
    type: value.type,
    request: {
      subscriptionId: stringOrNull(data.subscriptionId),
      streamName: stringOrNull(data.streamName),
      groupId: stringOrNull(data.groupId),
      id: stringOrNull(data.id),
    },
  };
}

function stringOrNull(value: JsonValue | undefined): string | null {
  return typeof value === "string" ? value : null;
}
