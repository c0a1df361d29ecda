import { join } from "node:path";

import { expectObject } from "../../config/schema.ts";
import { createLogger } from "../../telemetry/logger.ts";
import {
  DEFAULT_SAVE_INTERVAL_MS,
  FILE_PATH_KEY,
  SAVE_INTERVAL_MS_KEY,
  STORE_METHOD_KEY,
  parseKvStoreOptions,
  type KvStoreOptions,
} from "../../storage/index.ts";

export const KV_SERVER_MODULE_CLASS = "modules::kv_server::KvServer";
/** Store directory, relative to the working directory, when a config names none. */
export const DEFAULT_STORE_FILE_PATH = "kv_store_data.db";

const STORE_KEYS: readonly string[] = [STORE_METHOD_KEY, FILE_PATH_KEY, SAVE_INTERVAL_MS_KEY];

/**
 * Reads the `KvServer` config, which holds only store settings. An empty config
 * (the module loaded with no settings) keeps data on disk under
 * `<dataDir>/kv_server`; otherwise `store_method` defaults to `in_memory`.
 * Unknown keys are logged and ignored.
 */
export function parseKvServerConfig(raw: unknown, path: string, dataDir: string): KvStoreOptions {
  const config = expectObject(raw, path);
  const logger = createLogger("kv-server");

  if (Object.keys(config).length === 0) {
    return { method: "file_based", filePath: join(dataDir, "kv_server"), saveIntervalMs: DEFAULT_SAVE_INTERVAL_MS };
  }

  for (const key of Object.keys(config)) {
    if (STORE_KEYS.includes(key)) continue;
    logger.warn(`${path}.${key}: unknown key '${key}' is ignored; known keys: ${STORE_KEYS.join(", ")}`);
  }
  return parseKvStoreOptions(config, path, { filePath: DEFAULT_STORE_FILE_PATH }, logger);
}
