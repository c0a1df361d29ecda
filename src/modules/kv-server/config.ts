import { join } from "node:path";

import { expectObject } from "../../config/schema.ts";
import { createLogger } from "../../telemetry/logger.ts";
import {
  FILE_PATH_KEY,
  SAVE_INTERVAL_MS_KEY,
  STORE_METHOD_KEY,
  defaultStoreMethod,
  parseKvStoreOptions,
  type KvStoreOptions,
} from "../../storage/index.ts";

export const KV_SERVER_MODULE_CLASS = "modules::kv_server::KvServer";
const STORE_KEYS: readonly string[] = [STORE_METHOD_KEY, FILE_PATH_KEY, SAVE_INTERVAL_MS_KEY];

/**
 * Reads the `KvServer` config, which holds only store settings. Without
 * `store_method`, data is kept in memory, or on disk under `<dataDir>/kv_server`
 * for the default module set.
 * Unknown keys are logged and ignored.
 */
export function parseKvServerConfig(raw: unknown, path: string, dataDir: string, defaultSet = false): KvStoreOptions {
  const config = expectObject(raw, path);
  const logger = createLogger("kv-server");

  for (const key of Object.keys(config)) {
    if (STORE_KEYS.includes(key)) continue;
    logger.warn(`${path}.${key}: unknown key '${key}' is ignored; known keys: ${STORE_KEYS.join(", ")}`);
  }
  return parseKvStoreOptions(config, path, { method: defaultStoreMethod(defaultSet), filePath: join(dataDir, "kv_server") }, logger);
}
