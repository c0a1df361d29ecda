import {
  expectObject,
  joinPath,
  readInteger,
  readString,
  readStringList,
  rejectUnknownKeys,
} from "../../config/schema.ts";

/** CORS settings; an empty or `*`-containing origin list allows any origin, an empty method list any method. */
export interface CorsConfig {
  anyOrigin: boolean;
  allowedOrigins: string[];
  allowedMethods: string[];
}

export interface HttpApiConfig {
  host: string;
  port: number;
  defaultTimeoutMs: number;
  concurrencyRequestLimit: number;
  maxPendingRequests: number;
  bodyLimitBytes: number;
  maxHeaderCount: number;
  maxHeaderBytes: number;
  /** null means fully permissive CORS (no `cors` key in the config). */
  cors: CorsConfig | null;
}

export const HTTP_API_DEFAULTS = {
  host: "127.0.0.1",
  port: 3111,
  defaultTimeoutMs: 30_000,
  concurrencyRequestLimit: 1024,
  maxPendingRequests: 10_000,
  bodyLimitBytes: 10 * 1024 * 1024,
  maxHeaderCount: 100,
  maxHeaderBytes: 16 * 1024,
} as const;

const KNOWN_KEYS = [
  "host",
  "port",
  "default_timeout",
  "concurrency_request_limit",
  "max_pending_requests",
  "body_limit",
  "max_header_count",
  "max_header_bytes",
  "cors",
] as const;

/** Validates the `RestApiModule` config block; unknown keys are an error. */
export function parseHttpApiConfig(raw: unknown, path: string): HttpApiConfig {
  const config = expectObject(raw, path);
  rejectUnknownKeys(config, KNOWN_KEYS, path);

  return {
    host: readString(config, "host", path, HTTP_API_DEFAULTS.host),
    port: readInteger(config, "port", path, { fallback: HTTP_API_DEFAULTS.port, max: 65535 }),
    defaultTimeoutMs: readInteger(config, "default_timeout", path, { fallback: HTTP_API_DEFAULTS.defaultTimeoutMs, min: 1 }),
    concurrencyRequestLimit: readInteger(config, "concurrency_request_limit", path, {
      fallback: HTTP_API_DEFAULTS.concurrencyRequestLimit,
      min: 1,
    }),
    maxPendingRequests: readInteger(config, "max_pending_requests", path, { fallback: HTTP_API_DEFAULTS.maxPendingRequests, min: 1 }),
    bodyLimitBytes: readInteger(config, "body_limit", path, { fallback: HTTP_API_DEFAULTS.bodyLimitBytes, min: 0 }),
    maxHeaderCount: readInteger(config, "max_header_count", path, { fallback: HTTP_API_DEFAULTS.maxHeaderCount, min: 1 }),
    maxHeaderBytes: readInteger(config, "max_header_bytes", path, { fallback: HTTP_API_DEFAULTS.maxHeaderBytes, min: 256 }),
    cors: parseCors(config.cors, joinPath(path, "cors")),
  };
}

function parseCors(raw: unknown, path: string): CorsConfig | null {
  if (raw === undefined || raw === null) return null;
  const cors = expectObject(raw, path);
  rejectUnknownKeys(cors, ["allowed_origins", "allowed_methods"], path);
  const allowedOrigins = readStringList(cors, "allowed_origins", path, []);
  const allowedMethods = readStringList(cors, "allowed_methods", path, []).map((method) => method.toUpperCase());
  return {
    anyOrigin: allowedOrigins.length === 0 || allowedOrigins.includes("*"),
    allowedOrigins,
    allowedMethods,
  };
}
