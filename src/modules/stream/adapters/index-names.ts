import type { StreamSummary } from "../adapter.ts";

/** Prefix of the index (KvStore) or hash key (Redis) that contains a group's items. */
export const GROUP_KEY_PREFIX = "stream:";

/** Index or hash name of a group: `stream:<stream>:<group>`. */
export function groupKey(stream: string, group: string): string {
  return `${GROUP_KEY_PREFIX}${stream}:${group}`;
}

/**
 * Groups `stream:<stream>:<group>` names by stream, both levels sorted
 * ascending. Names without a second colon are skipped.
 */
export function summarizeGroupKeys(names: Iterable<string>): StreamSummary[] {
  const streams = new Map<string, Set<string>>();

  for (const name of names) {
    if (!name.startsWith(GROUP_KEY_PREFIX)) continue;
    const rest = name.slice(GROUP_KEY_PREFIX.length);
    // NOTE: a stream name containing ':' is split at its first colon, so it is reported under a shorter name
    const colon = rest.indexOf(":");
    if (colon < 0) continue;

    const stream = rest.slice(0, colon);
    const groups = streams.get(stream) ?? new Set<string>();
    groups.add(rest.slice(colon + 1));
    streams.set(stream, groups);
  }

  return [...streams.keys()].sort(compareCodeUnits).map((id) => ({ id, groups: [...streams.get(id)!].sort(compareCodeUnits) }));
}

export function compareCodeUnits(left: string, right: string): number {
  if (left === right) return 0;
  return left < right ? -1 : 1;
}
