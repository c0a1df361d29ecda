import type { UpdateOp, UpdateResult } from "../../storage/index.ts";
import type { JsonValue } from "../../util/json.ts";
import type { StreamEvent } from "./events.ts";

/** One stream and the groups that hold items in it, as `stream::list_all` reports it. */
export interface StreamSummary {
  id: string;
  groups: string[];
}

/**
 * Receives every stream event meant for this engine's sockets: the envelope
 * and its JSON text, which is sent to sockets as is.
 */
export type StreamEventListener = (event: StreamEvent, text: string) => void;

/**
 * Storage for stream items (`stream -> group -> item id -> JSON value`) and
 * the path by which events reach the sockets of every engine sharing the backend. Every method
 * throws an `EngineError` when the backend fails; a backend that cannot be
 * reached fails at once with `backend_unavailable` instead of waiting.
 */
export interface StreamAdapter {
  /** Opens the store or connections and starts passing events to `listener`. */
  open(listener: StreamEventListener): Promise<void>;

  /** Stores `value` and returns the previous value, or null when the item was missing. */
  set(stream: string, group: string, id: string, value: JsonValue): Promise<JsonValue | null>;

  /** Returns the stored value, or undefined when the item is missing. */
  get(stream: string, group: string, id: string): Promise<JsonValue | undefined>;

  /** Removes an item and returns its previous value, or undefined when it was missing. */
  delete(stream: string, group: string, id: string): Promise<JsonValue | undefined>;

  /** Applies `ops` to one item atomically (a missing item starts as `{}`) and stores the result. */
  update(stream: string, group: string, id: string, ops: readonly UpdateOp[]): Promise<UpdateResult>;

  /** Items of a group; empty for an unknown group. */
  list(stream: string, group: string): Promise<JsonValue[]>;

  /** Ids of the groups of a stream that hold at least one item, sorted ascending. */
  listGroups(stream: string): Promise<string[]>;

  /** Every stream with its groups, both sorted ascending. */
  listAll(): Promise<StreamSummary[]>;

  /**
   * Sends an event to the listener of every engine on this backend, this one
   * included. Resolves once the backend accepted it, not once sockets received it.
   */
  publish(event: StreamEvent): Promise<void>;

  /** Stops passing events, then flushes and releases the backend; safe to call twice. */
  close(): Promise<void>;
}
