import { ConfigError } from "../core/errors.ts";

/** A YAML mapping after parsing, before validation. */
export type ConfigObject = Record<string, unknown>;

/** An `adapter: {class, config}` entry, with the YAML path of its config for later errors. */
export interface AdapterEntry {
  className: string;
  config: ConfigObject;
  path: string;
}

/** Renders a config value for an error message: strings quoted, others as YAML would show them. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return `'${value}'`;
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "a mapping";
  return String(value);
}

export function joinPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** Narrows a value to a mapping; an absent or null value is an empty mapping. */
export function expectObject(value: unknown, path: string): ConfigObject {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(`${path}: expected a mapping, got ${describeValue(value)}`);
  }
  return value as ConfigObject;
}

/** Throws on the first key that is not in `allowed`, listing the keys that are. */
export function rejectUnknownKeys(object: ConfigObject, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(object)) {
    if (allowed.includes(key)) continue;
    const known = allowed.length > 0 ? `known keys: ${allowed.join(", ")}` : "this block takes no keys";
    throw new ConfigError(`${joinPath(path, key)}: unknown key '${key}'; ${known}`);
  }
}

export function readString(object: ConfigObject, key: string, path: string, fallback: string): string {
  return readOptionalString(object, key, path) ?? fallback;
}

/** Reads a Redis URL; only `redis://` and `rediss://` URLs are accepted, so a mistyped scheme fails at start-up. */
export function readRedisUrl(object: ConfigObject, key: string, path: string, fallback: string): string {
  const url = readString(object, key, path, fallback);
  if (!/^rediss?:\/\/[^/]/i.test(url)) {
    throw new ConfigError(`${joinPath(path, key)}: expected a redis:// or rediss:// URL such as 'redis://localhost:6379', got '${url}'`);
  }
  return url;
}

export function readOptionalString(object: ConfigObject, key: string, path: string): string | undefined {
  const value = object[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw new ConfigError(`${joinPath(path, key)}: expected a string, got ${describeValue(value)}`);
  }
  return value;
}

export function readBoolean(object: ConfigObject, key: string, path: string, fallback: boolean): boolean {
  const value = object[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") {
    throw new ConfigError(`${joinPath(path, key)}: expected true or false, got ${describeValue(value)}`);
  }
  return value;
}

/** Reads an integer within `[min, max]`; numeric strings (from `${VAR}` expansion) are accepted. */
export function readInteger(
  object: ConfigObject,
  key: string,
  path: string,
  options: { fallback: number; min?: number; max?: number },
): number {
  const value = object[key];
  if (value === undefined || value === null) return options.fallback;
  const number = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof number !== "number" || !Number.isInteger(number) || number < min || number > max) {
    throw new ConfigError(`${joinPath(path, key)}: expected an integer from ${min} to ${max}, got ${describeValue(value)}`);
  }
  return number;
}

/** Reads a number (integer or not) within `[min, max]`. */
export function readNumber(
  object: ConfigObject,
  key: string,
  path: string,
  options: { fallback: number; min?: number; max?: number },
): number {
  const value = object[key];
  if (value === undefined || value === null) return options.fallback;
  const number = typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value)) ? Number(value) : value;
  const min = options.min ?? Number.NEGATIVE_INFINITY;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  if (typeof number !== "number" || Number.isNaN(number) || number < min || number > max) {
    throw new ConfigError(`${joinPath(path, key)}: expected a number from ${min} to ${max}, got ${describeValue(value)}`);
  }
  return number;
}

export function readEnum<T extends string>(
  object: ConfigObject,
  key: string,
  path: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = object[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${joinPath(path, key)}: expected one of ${allowed.join(", ")}, got ${describeValue(value)}`);
  }
  return value as T;
}

export function readStringList(object: ConfigObject, key: string, path: string, fallback: string[]): string[] {
  const value = object[key];
  if (value === undefined || value === null) return fallback;
  if (!Array.isArray(value)) {
    throw new ConfigError(`${joinPath(path, key)}: expected a list of strings, got ${describeValue(value)}`);
  }
  return value.map((item, index) => {
    if (typeof item !== "string") {
      throw new ConfigError(`${joinPath(joinPath(path, key), index)}: expected a string, got ${describeValue(item)}`);
    }
    return item;
  });
}

/**
 * Reads `adapter: {class, config}` and checks the class against the known ones,
 * so a typo fails at start-up with the list of valid names.
 */
export function readAdapterEntry(
  object: ConfigObject,
  path: string,
  known: readonly string[],
  defaultClass: string,
): AdapterEntry {
  const adapterPath = joinPath(path, "adapter");
  const raw = object.adapter;
  if (raw === undefined || raw === null) return { className: defaultClass, config: {}, path: joinPath(adapterPath, "config") };

  const entry = expectObject(raw, adapterPath);
  rejectUnknownKeys(entry, ["class", "config"], adapterPath);
  const className = readString(entry, "class", adapterPath, defaultClass);
  if (!known.includes(className)) {
    throw new ConfigError(`${joinPath(adapterPath, "class")}: unknown adapter '${className}'; known adapters: ${known.join(", ")}`);
  }
  const configPath = joinPath(adapterPath, "config");
  return { className, config: expectObject(entry.config, configPath), path: configPath };
}
