import type { UpdateOp, UpdateResult } from "../../storage/index.ts";
import type { JsonValue } from "../../util/json.ts";

/**
 * Storage backend for state, shaped `scope -> key -> JSON value`. Every method
 * throws an `EngineError` when the backend fails. While the backend cannot be
 * reached, calls fail at once with `backend_unavailable` instead of waiting.
 */
export interface StateAdapter {
  /** Opens the store or connection; throws `backend_unavailable` when the backend cannot be reached. */
  open(): Promise<void>;

  /** Stores `value` and returns the previous value, or null when the key was missing. */
  set(scope: string, key: string, value: JsonValue): Promise<JsonValue | null>;

  /** Returns the stored value, or undefined when the key is missing. */
  get(scope: string, key: string): Promise<JsonValue | undefined>;

  /** Removes a key and returns its previous value, or undefined when it was missing. */
  delete(scope: string, key: string): Promise<JsonValue | undefined>;

  /** Applies `ops` to one item atomically (a missing item starts as `{}`) and stores the result. */
  update(scope: string, key: string, ops: readonly UpdateOp[]): Promise<UpdateResult>;

  /** Values of a scope; empty for an unknown scope. */
  list(scope: string): Promise<JsonValue[]>;

  /** Names of the scopes holding at least one key, sorted ascending. */
  listGroups(): Promise<string[]>;

  /** Flushes and releases the backend; safe to call twice. */
  close(): Promise<void>;
}
