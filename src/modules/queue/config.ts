import { join } from "node:path";
import {
  expectObject,
  readAdapterEntry,
  readEnum,
  readInteger,
  readRedisUrl,
  readString,
  rejectUnknownKeys,
  type ConfigObject,
} from "../../config/schema.ts";
import { FILE_PATH_KEY, SAVE_INTERVAL_MS_KEY, STORE_METHOD_KEY, parseKvStoreOptions, type KvStoreOptions } from "../../storage/index.ts";
import type { QueueDefaults } from "./subscription-config.ts";

export const BUILTIN_ADAPTER_CLASS = "modules::queue::BuiltinQueueAdapter";
export const REDIS_ADAPTER_CLASS = "modules::queue::RedisAdapter";
export const ADAPTER_CLASSES: readonly string[] = [BUILTIN_ADAPTER_CLASS, REDIS_ADAPTER_CLASS];

export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_BACKOFF_MS = 1000;
export const DEFAULT_CONCURRENCY = 10;
export const DEFAULT_POLL_INTERVAL_MS = 100;
import { DEFAULT_REDIS_URL } from "../../storage/redis-defaults.ts";
export const DEFAULT_VISIBILITY_TIMEOUT_MS = 30_000;

const MODES = ["concurrent", "fifo"] as const;
const RETRY_KEYS = ["max_attempts", "backoff_ms", "concurrency", "mode"];
// `channel_size` sized an in-process channel elsewhere; it is accepted so such configs load, and unused.
const BUILTIN_KEYS = [...RETRY_KEYS, "poll_interval_ms", "channel_size", STORE_METHOD_KEY, FILE_PATH_KEY, SAVE_INTERVAL_MS_KEY];
const REDIS_KEYS = [...RETRY_KEYS, "redis_url", "key_prefix", "visibility_timeout_ms"];

export interface BuiltinAdapterConfig {
  className: typeof BUILTIN_ADAPTER_CLASS;
  defaults: QueueDefaults;
  /** Interval of the sweep that moves due retries to waiting, in case a timer was missed. */
  pollIntervalMs: number;
  store: KvStoreOptions;
}

export interface RedisAdapterConfig {
  className: typeof REDIS_ADAPTER_CLASS;
  defaults: QueueDefaults;
  redisUrl: string;
  /** Prepended to every key, so tests and tenants can share one Redis. */
  keyPrefix: string;
  /** A job whose engine stopped renewing its lock for this long goes back to waiting. */
  visibilityTimeoutMs: number;
}

export type QueueAdapterConfig = BuiltinAdapterConfig | RedisAdapterConfig;

export interface QueueModuleConfig {
  adapter: QueueAdapterConfig;
}

/**
 * Validates the queue module's config (only `adapter` is allowed). Without
 * `store_method`, the built-in adapter keeps its jobs in files under `<dataDir>/queue`,
 * also when a config file lists the module, because a queue that loses its jobs on
 * restart is rarely what a user expects.
 */
export function parseQueueConfig(config: unknown, path: string, dataDir: string): QueueModuleConfig {
  const object = expectObject(config, path);
  rejectUnknownKeys(object, ["adapter"], path);
  const entry = readAdapterEntry(object, path, ADAPTER_CLASSES, BUILTIN_ADAPTER_CLASS);

  if (entry.className === REDIS_ADAPTER_CLASS) return { adapter: parseRedisConfig(entry.config, entry.path) };
  return { adapter: parseBuiltinConfig(entry.config, entry.path, dataDir) };
}

function parseBuiltinConfig(config: ConfigObject, path: string, dataDir: string): BuiltinAdapterConfig {
  rejectUnknownKeys(config, BUILTIN_KEYS, path);
  readInteger(config, "channel_size", path, { fallback: 256, min: 1 });

  return {
    className: BUILTIN_ADAPTER_CLASS,
    defaults: parseDefaults(config, path),
    pollIntervalMs: readInteger(config, "poll_interval_ms", path, { fallback: DEFAULT_POLL_INTERVAL_MS, min: 1 }),
    store: parseKvStoreOptions(config, path, { method: "file_based", filePath: join(dataDir, "queue") }),
  };
}

function parseRedisConfig(config: ConfigObject, path: string): RedisAdapterConfig {
  rejectUnknownKeys(config, REDIS_KEYS, path);

  return {
    className: REDIS_ADAPTER_CLASS,
    defaults: parseDefaults(config, path),
    redisUrl: readRedisUrl(config, "redis_url", path, DEFAULT_REDIS_URL),
    keyPrefix: readString(config, "key_prefix", path, ""),
    visibilityTimeoutMs: readInteger(config, "visibility_timeout_ms", path, {
      fallback: DEFAULT_VISIBILITY_TIMEOUT_MS,
      min: 1000,
    }),
  };
}

function parseDefaults(config: ConfigObject, path: string): QueueDefaults {
  return {
    maxAttempts: readInteger(config, "max_attempts", path, { fallback: DEFAULT_MAX_ATTEMPTS, min: 1 }),
    backoffMs: readInteger(config, "backoff_ms", path, { fallback: DEFAULT_BACKOFF_MS }),
    concurrency: readInteger(config, "concurrency", path, { fallback: DEFAULT_CONCURRENCY, min: 1 }),
    fifo: readEnum(config, "mode", path, MODES, "concurrent") === "fifo",
  };
}
