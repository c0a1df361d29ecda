import { join } from "node:path";

import {
  expectObject,
  readAdapterEntry,
  readInteger,
  readRedisUrl,
  readString,
  rejectUnknownKeys,
  type AdapterEntry,
} from "../../config/schema.ts";
import { ConfigError } from "../../core/errors.ts";
import {
  FILE_PATH_KEY,
  SAVE_INTERVAL_MS_KEY,
  STORE_METHOD_KEY,
  defaultStoreMethod,
  parseKvStoreOptions,
  type KvStoreLogger,
  type KvStoreOptions,
} from "../../storage/index.ts";
import { DEFAULT_REDIS_URL } from "../../storage/redis-defaults.ts";

export const KV_CRON_ADAPTER = "modules::cron::KvCronAdapter";
export const REDIS_CRON_ADAPTER = "modules::cron::RedisCronAdapter";
export const CRON_ADAPTER_CLASSES = [KV_CRON_ADAPTER, REDIS_CRON_ADAPTER] as const;

export const CRON_DEFAULTS = {
  lockTtlMs: 30_000,
  lockIndex: "cron_locks",
  redisUrl: DEFAULT_REDIS_URL,
  keyPrefix: "",
  /** Folder name under the data directory for the default module set's lock store. */
  storeFolder: "cron",
} as const;

/** Locks in an embedded store: they coordinate the engines of one process only. */
export interface KvCronAdapterConfig {
  className: typeof KV_CRON_ADAPTER;
  lockTtlMs: number;
  lockIndex: string;
  store: KvStoreOptions;
}

/** Locks in Redis: they coordinate every engine that uses the same server and key prefix. */
export interface RedisCronAdapterConfig {
  className: typeof REDIS_CRON_ADAPTER;
  lockTtlMs: number;
  redisUrl: string;
  keyPrefix: string;
}

export type CronAdapterConfig = KvCronAdapterConfig | RedisCronAdapterConfig;

export interface CronModuleConfig {
  adapter: CronAdapterConfig;
}

/** Inputs of the config parser besides the YAML. */
export interface CronConfigEnvironment {
  dataDir: string;
  /** True when the module belongs to the default set loaded without a config file. */
  defaultSet?: boolean;
  logger: KvStoreLogger;
}

/**
 * Validates the `CronModule` config block; unknown keys are an error. Without
 * `store_method`, locks are kept in memory, or in a file store under `<dataDir>/cron`
 * for the default module set.
 */
export function parseCronConfig(raw: unknown, path: string, environment: CronConfigEnvironment): CronModuleConfig {
  const config = expectObject(raw, path);
  rejectUnknownKeys(config, ["adapter"], path);

  const entry = readAdapterEntry(config, path, CRON_ADAPTER_CLASSES, KV_CRON_ADAPTER);
  if (entry.className === REDIS_CRON_ADAPTER) return { adapter: parseRedisConfig(entry) };
  return { adapter: parseKvConfig(entry, environment) };
}

const KV_KEYS = ["lock_ttl_ms", "lock_index", STORE_METHOD_KEY, FILE_PATH_KEY, SAVE_INTERVAL_MS_KEY] as const;
const REDIS_KEYS = ["redis_url", "key_prefix", "lock_ttl_ms"] as const;

function parseKvConfig(entry: AdapterEntry, environment: CronConfigEnvironment): KvCronAdapterConfig {
  rejectUnknownKeys(entry.config, KV_KEYS, entry.path);

  const store = parseKvStoreOptions(
    entry.config,
    entry.path,
    { method: defaultStoreMethod(environment.defaultSet ?? false), filePath: join(environment.dataDir, CRON_DEFAULTS.storeFolder) },
    environment.logger,
  );

  const lockIndex = readString(entry.config, "lock_index", entry.path, CRON_DEFAULTS.lockIndex);
  if (lockIndex === "") throw new ConfigError(`${entry.path}.lock_index: expected a non-empty index name such as 'cron_locks'`);

  return {
    className: KV_CRON_ADAPTER,
    lockTtlMs: readLockTtl(entry),
    lockIndex,
    store,
  };
}

function parseRedisConfig(entry: AdapterEntry): RedisCronAdapterConfig {
  rejectUnknownKeys(entry.config, REDIS_KEYS, entry.path);

  return {
    className: REDIS_CRON_ADAPTER,
    lockTtlMs: readLockTtl(entry),
    redisUrl: readRedisUrl(entry.config, "redis_url", entry.path, CRON_DEFAULTS.redisUrl),
    keyPrefix: readString(entry.config, "key_prefix", entry.path, CRON_DEFAULTS.keyPrefix),
  };
}

function readLockTtl(entry: AdapterEntry): number {
  return readInteger(entry.config, "lock_ttl_ms", entry.path, { fallback: CRON_DEFAULTS.lockTtlMs, min: 1 });
}
