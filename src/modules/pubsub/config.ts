import { expectObject, readAdapterEntry, readRedisUrl, readString, rejectUnknownKeys } from "../../config/schema.ts";

export const PUBSUB_MODULE_CLASS = "modules::pubsub::PubSubModule";
export const LOCAL_ADAPTER_CLASS = "modules::pubsub::LocalAdapter";
export const REDIS_ADAPTER_CLASS = "modules::pubsub::RedisAdapter";
export const PUBSUB_ADAPTER_CLASSES = [LOCAL_ADAPTER_CLASS, REDIS_ADAPTER_CLASS] as const;

import { DEFAULT_REDIS_URL } from "../../storage/redis-defaults.ts";

/** Message transport choice and its settings. */
export type PubSubAdapterConfig = { type: "local" } | { type: "redis"; redisUrl: string; keyPrefix: string };

export interface PubSubConfig {
  adapter: PubSubAdapterConfig;
}

/** Validates the `PubSubModule` config block; only `adapter` is allowed. */
export function parsePubSubConfig(raw: unknown, path: string): PubSubConfig {
  const config = expectObject(raw, path);
  rejectUnknownKeys(config, ["adapter"], path);

  const entry = readAdapterEntry(config, path, PUBSUB_ADAPTER_CLASSES, LOCAL_ADAPTER_CLASS);
  if (entry.className === LOCAL_ADAPTER_CLASS) {
    rejectUnknownKeys(entry.config, [], entry.path);
    return { adapter: { type: "local" } };
  }

  rejectUnknownKeys(entry.config, ["redis_url", "key_prefix"], entry.path);
  return {
    adapter: {
      type: "redis",
      redisUrl: readRedisUrl(entry.config, "redis_url", entry.path, DEFAULT_REDIS_URL),
      keyPrefix: readString(entry.config, "key_prefix", entry.path, ""),
    },
  };
}
