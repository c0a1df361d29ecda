import { ConfigError } from "../core/errors";
import { isJsonObject } from "../util/json";
import { describeValue } from "./describe-value";

export type KvStoreMethod = "in_memory" | "file_based";

/** Sink for recovery and lifecycle events, with printf-style arguments. */
export interface KvStoreLogger {
  warn(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
}

export interface KvStoreOptions {
  method: KvStoreMethod;
  /** Data directory for `file_based`, created if missing; unused in memory. */
  filePath: string;
  /** Maximum time in ms a write may stay un-fsynced; 0 fsyncs every write. */
  saveIntervalMs: number;
  /** Defaults to a logger that discards everything. */
  logger?: KvStoreLogger;
  /**
   * Log size in bytes below which no compaction starts; above it, the log is
   * compacted once it is also several times the last snapshot's size.
   */
  compactionMinBytes?: number;
}

/** Values the caller supplies for keys missing from the YAML. */
export interface KvStoreDefaults {
  /** Method used when the YAML has no `store_method`; `in_memory` when unset. */
  method?: KvStoreMethod;
  filePath: string;
  saveIntervalMs?: number;
}

export const STORE_METHOD_KEY = "store_method";
export const FILE_PATH_KEY = "file_path";
export const SAVE_INTERVAL_MS_KEY = "save_interval_ms";

export const DEFAULT_SAVE_INTERVAL_MS = 1000;

/** A logger that discards everything, used when the caller passes none. */
export const SILENT_LOGGER: KvStoreLogger = {
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

const STORE_METHODS: readonly string[] = ["in_memory", "file_based"];

/**
 * Returns the store method a module uses when its config names none: files for the
 * default module set (no config file), memory for a module listed in a config file.
 */
export function defaultStoreMethod(defaultSet: boolean): KvStoreMethod {
  return defaultSet ? "file_based" : "in_memory";
}

/** Rejects store keys written directly in a state or stream module's config, naming the adapter config they belong in. */
export function rejectMisplacedStoreKeys(config: Record<string, unknown>, path: string): void {
  const misplaced = [STORE_METHOD_KEY, FILE_PATH_KEY, SAVE_INTERVAL_MS_KEY].find((key) => Object.hasOwn(config, key));
  if (misplaced === undefined) return;
  throw new ConfigError(
    `${joinPath(path, misplaced)}: store keys belong in the adapter's config; write it as adapter: { class: ..., config: { ${misplaced}: ... } }`,
  );
}

/**
 * Reads `store_method`, `file_path` and `save_interval_ms` from a module's
 * YAML config found at `path` (for example `modules[2].config`); other keys
 * are left to the caller. A missing `store_method` means `defaults.method`; an
 * unknown one is logged and falls back to `in_memory`. A value of the wrong type throws `ConfigError` whose message
 * starts with the key's YAML path.
 */
export function parseKvStoreOptions(
  config: unknown,
  path: string,
  defaults: KvStoreDefaults,
  logger: KvStoreLogger = SILENT_LOGGER,
): KvStoreOptions {
  if (config === undefined || config === null) config = {};
  if (!isJsonObject(config)) throw new ConfigError(`${path}: expected a mapping, got ${describeValue(config)}`);

  const options: KvStoreOptions = {
    method: parseMethod(config[STORE_METHOD_KEY], joinPath(path, STORE_METHOD_KEY), defaults.method ?? "in_memory", logger),
    filePath: parseFilePath(config[FILE_PATH_KEY], joinPath(path, FILE_PATH_KEY), defaults.filePath),
    saveIntervalMs: parseInterval(
      config[SAVE_INTERVAL_MS_KEY],
      joinPath(path, SAVE_INTERVAL_MS_KEY),
      defaults.saveIntervalMs ?? DEFAULT_SAVE_INTERVAL_MS,
    ),
  };
  options.logger = logger;
  return options;
}

function parseMethod(value: unknown, path: string, fallback: KvStoreMethod, logger: KvStoreLogger): KvStoreMethod {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string") {
    throw new ConfigError(`${path}: expected 'in_memory' or 'file_based', got ${describeValue(value)}`);
  }

  if (STORE_METHODS.includes(value)) return value as KvStoreMethod;
  logger.warn("%s: unknown store method '%s'; using 'in_memory', so data is not saved to disk", path, value);
  return "in_memory";
}

function parseFilePath(value: unknown, path: string, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(`${path}: expected a directory path, got ${describeValue(value)}`);
  }
  return value;
}

function parseInterval(value: unknown, path: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigError(`${path}: expected a non-negative integer, got ${describeValue(value)}`);
  }
  return value;
}

function joinPath(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
