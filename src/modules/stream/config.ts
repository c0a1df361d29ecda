import { join } from "node:path";

import {
  expectObject,
  readAdapterEntry,
  readInteger,
  readOptionalString,
  readRedisUrl,
  readString,
  rejectUnknownKeys,
} from "../../config/schema.ts";
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

export const STREAM_MODULE_CLASS = "modules::stream::StreamModule";
export const KV_STORE_ADAPTER_CLASS = "modules::stream::adapters::KvStore";
export const REDIS_ADAPTER_CLASS = "modules::stream::adapters::RedisAdapter";
export const STREAM_ADAPTER_CLASSES = [KV_STORE_ADAPTER_CLASS, REDIS_ADAPTER_CLASS] as const;

import { DEFAULT_REDIS_URL } from "../../storage/redis-defaults.ts";
export const STREAM_DEFAULTS = {
  host: "127.0.0.1",
  port: 3112,
  // A client that stops reading is cut off once this many bytes wait in its send buffer.
  maxSendBufferBytes: 16 * 1024 * 1024,
  maxConnections: 10_000,
} as const;

/** Backend that stores stream items and carries events between engines. */
export type StreamAdapterConfig =
  | { type: "kv_store"; store: KvStoreOptions }
  | { type: "redis"; redisUrl: string; keyPrefix: string };

export interface StreamConfig {
  host: string;
  port: number;
  /** Function called before each WebSocket upgrade; its result's `context` stays with the connection. */
  authFunction: string | undefined;
  maxSendBufferBytes: number;
  maxConnections: number;
  adapter: StreamAdapterConfig;
}

const MODULE_KEYS = ["port", "host", "auth_function", "adapter", "max_send_buffer_bytes", "max_connections"];
// `channel_size` sized an in-process broadcast queue elsewhere; it is accepted so such configs load, and unused.
const KV_STORE_KEYS = [STORE_METHOD_KEY, FILE_PATH_KEY, SAVE_INTERVAL_MS_KEY, "channel_size"];
const REDIS_KEYS = ["redis_url", "key_prefix"];

/**
 * Validates the `StreamModule` config block; unknown keys are an error.
 *
 * - `host` (127.0.0.1) and `port` (3112): the WebSocket listener.
 * - `auth_function`: function id called before each upgrade.
 * - `max_send_buffer_bytes` (16 MiB, at least 1024): a client with more bytes
 *   than this waiting in its send buffer is disconnected with close code 1013.
 * - `max_connections` (10000): further upgrade requests get 503.
 * - `adapter`: `modules::stream::adapters::KvStore` with `store_method`,
 *   `file_path`, `save_interval_ms` (and `channel_size`, accepted and unused),
 *   or `modules::stream::adapters::RedisAdapter` with `redis_url` and
 *   `key_prefix` (prepended to hash keys and to the event channel).
 *
 * Without `store_method`, items are kept in memory, or on disk under
 * `<dataDir>/stream` for the default module set.
 */
export function parseStreamConfig(raw: unknown, path: string, dataDir: string, defaultSet = false): StreamConfig {
  const config = expectObject(raw, path);
  rejectMisplacedStoreKeys(config, path);
  rejectUnknownKeys(config, MODULE_KEYS, path);

  return {
    host: readString(config, "host", path, STREAM_DEFAULTS.host),
    port: readInteger(config, "port", path, { fallback: STREAM_DEFAULTS.port, max: 65535 }),
    authFunction: readOptionalString(config, "auth_function", path) || undefined,
    maxSendBufferBytes: readInteger(config, "max_send_buffer_bytes", path, {
      fallback: STREAM_DEFAULTS.maxSendBufferBytes,
      min: 1024,
    }),
    maxConnections: readInteger(config, "max_connections", path, { fallback: STREAM_DEFAULTS.maxConnections, min: 1 }),
    adapter: parseAdapter(config, path, dataDir, defaultSet),
  };
}

function parseAdapter(config: Record<string, unknown>, path: string, dataDir: string, defaultSet: boolean): StreamAdapterConfig {
  const entry = readAdapterEntry(config, path, STREAM_ADAPTER_CLASSES, KV_STORE_ADAPTER_CLASS);
  if (entry.className === REDIS_ADAPTER_CLASS) {
    rejectUnknownKeys(entry.config, REDIS_KEYS, entry.path);
    return {
      type: "redis",
      redisUrl: readRedisUrl(entry.config, "redis_url", entry.path, DEFAULT_REDIS_URL),
      keyPrefix: readString(entry.config, "key_prefix", entry.path, ""),
    };
  }

  rejectUnknownKeys(entry.config, KV_STORE_KEYS, entry.path);
  readInteger(entry.config, "channel_size", entry.path, { fallback: 256, min: 1 });
  const store = parseKvStoreOptions(entry.config, entry.path, { method: defaultStoreMethod(defaultSet), filePath: join(dataDir, "stream") }, createLogger("stream"));
  return { type: "kv_store", store };
}
