import { resolve } from "node:path";

import { KvStore, type KvStoreOptions } from "../../../storage/index.ts";

/** One use of a store that other cron modules in this process may share; `release` is safe to call twice. */
export interface SharedKvStore {
  readonly store: KvStore;
  release(): Promise<void>;
}

interface OpenStore {
  store: Promise<KvStore>;
  users: number;
}

// Cron lock stores open in this process, by location. Engines in one process
// share them so that their locks coordinate, as a file store cannot be opened twice.
const openStores = new Map<string, OpenStore>();

/**
 * Opens the store that `options` names, or shares the one already open in this
 * process: every in-memory user gets the same store, and file users the same
 * directory's store. The first opener's options win. The last release closes it.
 */
export async function openSharedKvStore(options: KvStoreOptions): Promise<SharedKvStore> {
  const location = options.method === "in_memory" ? "in_memory" : `file:${resolve(options.filePath)}`;

  let entry = openStores.get(location);
  if (!entry) {
    entry = { store: KvStore.open(options), users: 0 };
    openStores.set(location, entry);
  }
  entry.users++;
  const opened = entry;

  let store: KvStore;
  try {
    store = await opened.store;
  } catch (error) {
    releaseUse(location, opened);
    throw error;
  }

  let released = false;
  return {
    store,
    async release() {
      if (released) return;
      released = true;
      if (releaseUse(location, opened)) await store.close();
    },
  };
}

/** Drops one use; returns true when it was the last one. */
function releaseUse(location: string, entry: OpenStore): boolean {
  entry.users--;
  if (entry.users > 0) return false;

  if (openStores.get(location) === entry) openStores.delete(location);
  return true;
}
