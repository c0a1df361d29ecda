import {
  expectObject,
  joinPath,
  readInteger,
  readOptionalString,
  rejectUnknownKeys,
  type ConfigObject,
} from "../../config/schema.ts";
import { ConfigError } from "../../core/errors.ts";

export const DEFAULT_BRIDGE_URL = "ws://127.0.0.1:49134";
export const DEFAULT_FORWARD_TIMEOUT_MS = 30_000;

/** A local function registered on the remote engine under `remoteFunction`. */
export interface ExposeEntry {
  localFunction: string;
  remoteFunction: string;
}

/** A remote function registered on this engine under `localFunction`. */
export interface ForwardEntry {
  localFunction: string;
  remoteFunction: string;
  timeoutMs: number;
}

export interface BridgeClientConfig {
  url: string;
  serviceId: string | null;
  serviceName: string | null;
  expose: ExposeEntry[];
  forward: ForwardEntry[];
}

/** Validates the module config; the URL falls back to `III_BRIDGE_URL`, then to the local default port. */
export function parseBridgeClientConfig(raw: unknown, path: string, env: Record<string, string | undefined>): BridgeClientConfig {
  const object = expectObject(raw, path);
  rejectUnknownKeys(object, ["url", "service_id", "service_name", "expose", "forward"], path);

  const url = readOptionalString(object, "url", path) || env.III_BRIDGE_URL || DEFAULT_BRIDGE_URL;
  if (!/^wss?:\/\/[^/]/.test(url)) {
    throw new ConfigError(`${joinPath(path, "url")}: '${describeBridgeUrl(url)}' is not a WebSocket URL; use the form ws://host:49134`);
  }

  return {
    url,
    serviceId: readOptionalString(object, "service_id", path) ?? null,
    serviceName: readOptionalString(object, "service_name", path) ?? null,
    expose: readEntries(object, "expose", path).map(({ entry, entryPath }) => {
      rejectUnknownKeys(entry, ["local_function", "remote_function"], entryPath);
      const localFunction = readFunctionId(entry, "local_function", entryPath);
      return { localFunction, remoteFunction: readOptionalString(entry, "remote_function", entryPath) || localFunction };
    }),
    forward: readEntries(object, "forward", path).map(({ entry, entryPath }) => {
      rejectUnknownKeys(entry, ["local_function", "remote_function", "timeout_ms"], entryPath);
      return {
        localFunction: readFunctionId(entry, "local_function", entryPath),
        remoteFunction: readFunctionId(entry, "remote_function", entryPath),
        timeoutMs: readInteger(entry, "timeout_ms", entryPath, { fallback: DEFAULT_FORWARD_TIMEOUT_MS, min: 1 }),
      };
    }),
  };
}

/** Formats the URL for logs and descriptions without credentials or query, where a worker token may sit. */
export function describeBridgeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
  } catch {
    return "the configured URL";
  }
}

function readEntries(object: ConfigObject, key: string, path: string): Array<{ entry: ConfigObject; entryPath: string }> {
  const value = object[key];
  if (value === undefined || value === null) return [];
  const listPath = joinPath(path, key);
  if (!Array.isArray(value)) throw new ConfigError(`${listPath}: expected a list of mappings with local_function and remote_function`);
  return value.map((item, index) => {
    const entryPath = joinPath(listPath, index);
    return { entry: expectObject(item, entryPath), entryPath };
  });
}

function readFunctionId(entry: ConfigObject, key: string, path: string): string {
  const value = readOptionalString(entry, key, path);
  if (!value) throw new ConfigError(`${joinPath(path, key)}: missing; name a function id such as 'orders.create'`);
  return value;
}
