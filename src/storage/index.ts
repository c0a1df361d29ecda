export { DEFAULT_COMPACTION_MIN_BYTES, KvStore } from "./kv-store";
export {
  DEFAULT_SAVE_INTERVAL_MS,
  FILE_PATH_KEY,
  SAVE_INTERVAL_MS_KEY,
  SILENT_LOGGER,
  STORE_METHOD_KEY,
  defaultStoreMethod,
  parseKvStoreOptions,
  rejectMisplacedStoreKeys,
  type KvStoreDefaults,
  type KvStoreLogger,
  type KvStoreMethod,
  type KvStoreOptions,
} from "./kv-store-options";
export { FORBIDDEN_KEYS, applyUpdateOps, parseUpdateOps, type UpdateOp, type UpdateResult } from "./update-ops";
export { createRedisClient, escapeRedisGlob, redactRedisUrl, RedisConnection, RedisJsonHash, type RedisClient } from "./redis";
