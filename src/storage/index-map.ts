import type { JsonValue } from "../util/json";
import type { EntryRecord } from "./log-format";

/** Index name to its keys in insertion order; an index with no keys is absent. */
export type IndexMap = Map<string, Map<string, JsonValue>>;

/**
 * Applies one set or delete. `Map` keeps a key's position when it is
 * overwritten and appends it when it is added again after a delete.
 */
export function applyEntry(data: IndexMap, entry: EntryRecord): void {
  if (entry.op === "set") {
    let keys = data.get(entry.index);
    if (keys === undefined) {
      keys = new Map();
      data.set(entry.index, keys);
    }
    keys.set(entry.key, entry.value);
    return;
  }

  const keys = data.get(entry.index);
  if (keys === undefined) return;
  keys.delete(entry.key);
  if (keys.size === 0) data.delete(entry.index);
}
