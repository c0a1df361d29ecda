import { join } from "node:path";

import { expectObject, readAdapterEntry, readRedisUrl, readString, rejectUnknownKeys } from "../../config/schema.ts";
import { createLogger } from "../../telemetry/logger.ts";
import {
  FILE_PATH_KEY,
  SAVE_INTERVAL_MS_KEY,
  STORE_METHOD_KEY,
  defaultStoreMethod,
  parseKvStoreOptions,
  rejectMisplacedStoreKeys,
  type KvStoreOptions,
} from "../../storage/index.ts";

export const STATE_MODULE_CLASS = "modules::state::StateModule";
export const KV_STORE_ADAPTER_CLASS = "modules::state::adapters::KvStore";
export const REDIS_ADAPTER_CLASS = "modules::state::adapters::RedisAdapter";
export const STATE_ADAPTER_CLASSES = [KV_STORE_ADAPTER_CLASS, REDIS_ADAPTER_CLASS] as const;

import { DEFAULT_REDIS_URL } from "../../storage/redis-defaults.ts";
/** State backend choice and its settings. */
export type StateAdapterConfig =
  | { type: "kv_store"; store: KvStoreOptions }
  | { type: "redis"; redisUrl: string; keyPrefix: string };

export interface StateConfig {
  adapter: StateAdapterConfig;
}

const KV_STORE_KEYS = [STORE_METHOD_KEY, FILE_PATH_KEY, SAVE_INTERVAL_MS_KEY];
const REDIS_KEYS = ["redis_url", "key_prefix"];

/**
 * Validates the `StateModule` config block (only `adapter` is allowed). Without
 * `store_method`, state is kept in memory, or on disk under `<dataDir>/state` for
 * the default module set.
 */
export function parseStateConfig(raw: unknown, path: string, dataDir: string, defaultSet = false): StateConfig {
  const config = expectObject(raw, path);
  rejectMisplacedStoreKeys(config, path);
  rejectUnknownKeys(config, ["adapter"], path);

  const entry = readAdapterEntry(config, path, STATE_ADAPTER_CLASSES, KV_STORE_ADAPTER_CLASS);
  if (entry.className === REDIS_ADAPTER_CLASS) {
    rejectUnknownKeys(entry.config, REDIS_KEYS, entry.path);
    return {
      adapter: {
        type: "redis",
        redisUrl: readRedisUrl(entry.config, "redis_url", entry.path, DEFAULT_REDIS_URL),
        keyPrefix: readString(entry.config, "key_prefix", entry.path, ""),
      },
    };
  }

  rejectUnknownKeys(entry.config, KV_STORE_KEYS, entry.path);
  const store = parseKvStoreOptions(entry.config, entry.path, { method: defaultStoreMethod(defaultSet), filePath: join(dataDir, "state") }, createLogger("state"));
  return { adapter: { type: "kv_store", store } };
}
