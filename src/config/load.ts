import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

import { parseDocument } from "yaml";
import { ConfigError } from "../core/errors.ts";
import { expandEnvironment } from "./expand.ts";
import {
  describeValue,
  expectObject,
  joinPath,
  readInteger,
  readString,
  type ConfigObject,
} from "./schema.ts";

export const DEFAULT_WORKER_PORT = 49134;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
export const DEFAULT_WORKER_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_SEND_BUFFER_BYTES = 128 * 1024 * 1024;
export const DEFAULT_MAX_PENDING_INVOCATIONS = 100_000;
export const DEFAULT_MAX_WORKER_CONNECTIONS = 10_000;

/** One `modules[i]` entry; `path` is the YAML path of its `config` for error messages. */
export interface ModuleEntry {
  className: string;
  config: unknown;
  path: string;
}

/** The validated top level of a config file; `modules: null` means the default module set. */
export interface EngineConfig {
  source: string | null;
  port: number;
  host: string;
  maxFrameBytes: number;
  workerIdleTimeoutMs: number;
  maxSendBufferBytes: number;
  maxPendingInvocations: number;
  maxWorkerConnections: number;
  auth: unknown;
  modules: ModuleEntry[] | null;
  unknownKeys: string[];
}

const TOP_LEVEL_KEYS = [
  "port",
  "host",
  "modules",
  "max_frame_bytes",
  "worker_idle_timeout_ms",
  "max_send_buffer_bytes",
  "max_pending_invocations",
  "max_worker_connections",
  "auth",
];

/**
 * Reads, expands and validates a config file. A missing file yields the default
 * module set unless the path was given explicitly, in which case it is an error.
 */
export async function loadConfig(
  path: string,
  options: { explicit: boolean; env: Record<string, string | undefined> },
): Promise<EngineConfig> {
  const file = Bun.file(path);
  if (existsSync(path) && !statSync(path).isFile()) {
    throw new ConfigError(`config path '${path}' is not a regular file; pass the YAML file itself, such as '${join(path, "config.yaml")}'`);
  }
  if (!(await file.exists())) {
    if (options.explicit) {
      throw new ConfigError(`config file '${path}' not found; check the path, or omit --config to start with the default modules`);
    }
    return parseConfigObject({}, null, { defaultModules: true });
  }

  let text: string;
  try {
    text = await file.text();
  } catch (error) {
    throw new ConfigError(`config file '${path}' cannot be read: ${(error as Error).message}`, { cause: error });
  }
  return parseConfigText(text, path, options.env);
}

/** Expands `${VAR}` placeholders in `text`, parses it as YAML and validates the top level. */
export function parseConfigText(text: string, source: string, env: Record<string, string | undefined>): EngineConfig {
  const expanded = expandEnvironment(text, env, source);
  const document = parseDocument(expanded, { prettyErrors: false, uniqueKeys: true });
  const [first] = document.errors;
  if (first) {
    const offset = first.pos[0];
    const line = first.linePos?.[0]?.line ?? expanded.slice(0, offset).split("\n").length;
    const where = `${source}:${line}`;
    throw new ConfigError(`${where}: invalid YAML: ${first.message.split("\n")[0]}`);
  }

  let root: unknown;
  try {
    root = document.toJS();
  } catch (error) {
    throw new ConfigError(`${source}: invalid YAML: ${(error as Error).message}`, { cause: error });
  }
  if (root !== null && root !== undefined && (typeof root !== "object" || Array.isArray(root))) {
    throw new ConfigError(`${source}: expected a mapping with 'port' and 'modules' at the top, got ${describeValue(root)}`);
  }
  try {
    return parseConfigObject(expectObject(root, source), source, { defaultModules: false });
  } catch (error) {
    // Top-level errors carry a YAML path such as `port`; the file name completes it.
    if (error instanceof ConfigError && !error.message.startsWith(`${source}:`)) {
      throw new ConfigError(`${source}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

function parseConfigObject(root: ConfigObject, source: string | null, options: { defaultModules: boolean }): EngineConfig {
  return {
    source,
    port: readInteger(root, "port", "", { fallback: DEFAULT_WORKER_PORT, max: 65535 }),
    host: readString(root, "host", "", DEFAULT_HOST),
    maxFrameBytes: readInteger(root, "max_frame_bytes", "", { fallback: DEFAULT_MAX_FRAME_BYTES, min: 1024 }),
    workerIdleTimeoutMs: readInteger(root, "worker_idle_timeout_ms", "", {
      fallback: DEFAULT_WORKER_IDLE_TIMEOUT_MS,
      min: 1000,
      max: 960_000,
    }),
    maxSendBufferBytes: readInteger(root, "max_send_buffer_bytes", "", { fallback: DEFAULT_MAX_SEND_BUFFER_BYTES, min: 1024 }),
    maxPendingInvocations: readInteger(root, "max_pending_invocations", "", {
      fallback: DEFAULT_MAX_PENDING_INVOCATIONS,
      min: 1,
    }),
    maxWorkerConnections: readInteger(root, "max_worker_connections", "", {
      fallback: DEFAULT_MAX_WORKER_CONNECTIONS,
      min: 1,
    }),
    auth: root.auth,
    modules: options.defaultModules ? null : readModuleEntries(root),
    unknownKeys: Object.keys(root).filter((key) => !TOP_LEVEL_KEYS.includes(key)),
  };
}

function readModuleEntries(root: ConfigObject): ModuleEntry[] {
  const raw = root.modules;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new ConfigError(`modules: expected a list of {class, config} entries, got ${describeValue(raw)}`);

  return raw.map((item, index) => {
    const path = joinPath("modules", index);
    const entry = expectObject(item, path);
    const className = entry.class;
    if (typeof className !== "string" || className === "") {
      throw new ConfigError(`${joinPath(path, "class")}: expected a module class name such as 'modules::api::RestApiModule', got ${describeValue(className)}`);
    }
    for (const key of Object.keys(entry)) {
      if (key !== "class" && key !== "config") {
        throw new ConfigError(`${joinPath(path, key)}: unknown key '${key}'; a module entry has only 'class' and 'config'`);
      }
    }
    return { className, config: entry.config ?? {}, path: joinPath(path, "config") };
  });
}
