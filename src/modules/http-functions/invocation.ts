import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { HttpInvocationSpec } from "../../core/protocol.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";

export const HTTP_FUNCTION_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpFunctionMethod = (typeof HTTP_FUNCTION_METHODS)[number];

export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;
/** Upper bound on `timeout_ms`; longer values are lowered to it. */
export const MAX_HTTP_TIMEOUT_MS = 60_000;

/** Credentials added to each request; secrets are read from the environment once, at registration. */
export type HttpAuth =
  | { type: "hmac"; secret: string }
  | { type: "bearer"; token: string }
  | { type: "api_key"; header: string; value: string };

/** A validated `invocation` block. */
export interface HttpInvocation {
  url: string;
  method: HttpFunctionMethod;
  timeoutMs: number;
  headers: Record<string, string>;
  auth: HttpAuth | null;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
const INVALID_HEADER_VALUE = /[\r\n\0]/;

/**
 * Validates the `invocation` block of a function registration and reads the
 * auth secrets it names from `env`. Throws an `EngineError` naming the field,
 * or the missing environment variable (never its value).
 */
export function parseInvocation(spec: HttpInvocationSpec, functionId: string, env: Record<string, string | undefined>): HttpInvocation {
  const url = spec.url;
  if (typeof url !== "string" || url === "") throw invalid(functionId, "'invocation.url' must be a non-empty string");

  const rawMethod = spec.method ?? "POST";
  const method = typeof rawMethod === "string" ? rawMethod.toUpperCase() : "";
  if (!(HTTP_FUNCTION_METHODS as readonly string[]).includes(method)) {
    throw invalid(functionId, `'invocation.method' is '${String(rawMethod)}'; expected one of ${HTTP_FUNCTION_METHODS.join(", ")}`);
  }

  return {
    url,
    method: method as HttpFunctionMethod,
    timeoutMs: readTimeout(spec.timeout_ms, functionId),
    headers: readHeaders(spec.headers, functionId),
    auth: readAuth(spec.auth, functionId, env),
  };
}

function readTimeout(value: JsonValue | undefined, functionId: string): number {
  if (value === undefined || value === null) return DEFAULT_HTTP_TIMEOUT_MS;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw invalid(functionId, "'invocation.timeout_ms' must be a positive integer (milliseconds)");
  }
  return Math.min(value, MAX_HTTP_TIMEOUT_MS);
}

function readHeaders(value: JsonValue | undefined, functionId: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isJsonObject(value)) throw invalid(functionId, "'invocation.headers' must be an object of header names to strings");

  const headers: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(value)) {
    if (typeof headerValue !== "string") throw invalid(functionId, `header '${name}' in 'invocation.headers' must be a string`);
    checkHeader(name, headerValue, functionId);
    headers[name] = headerValue;
  }
  return headers;
}

function readAuth(value: JsonValue | undefined, functionId: string, env: Record<string, string | undefined>): HttpAuth | null {
  if (value === undefined || value === null) return null;
  if (!isJsonObject(value)) throw invalid(functionId, "'invocation.auth' must be an object with a 'type'");

  switch (value.type) {
    case "hmac":
      return { type: "hmac", secret: readSecret(value, "secret_key", "secret_not_found", functionId, env) };
    case "bearer":
      return { type: "bearer", token: readSecret(value, "token_key", "token_not_found", functionId, env) };
    case "api_key": {
      const header = value.header;
      if (typeof header !== "string" || !HEADER_NAME.test(header)) {
        throw invalid(functionId, "'invocation.auth.header' must be a valid HTTP header name such as 'X-Api-Key'");
      }
      const secret = readSecret(value, "value_key", "api_key_not_found", functionId, env);
      checkHeader(header, secret, functionId);
      return { type: "api_key", header, value: secret };
    }
    default:
      throw invalid(functionId, `'invocation.auth.type' is '${String(value.type)}'; expected hmac, bearer or api_key`);
  }
}

function readSecret(
  auth: { [key: string]: JsonValue },
  key: string,
  code: string,
  functionId: string,
  env: Record<string, string | undefined>,
): string {
  const variable = auth[key];
  if (typeof variable !== "string" || variable === "") {
    throw invalid(functionId, `'invocation.auth.${key}' must name the environment variable that holds the secret`);
  }
  const secret = env[variable];
  if (secret === undefined || secret === "") {
    throw new EngineError(
      code,
      `function '${functionId}': environment variable '${variable}' (invocation.auth.${key}) is not set; ` +
        "set it in the engine's environment and register the function again",
    );
  }
  return secret;
}

function checkHeader(name: string, value: string, functionId: string): void {
  if (!HEADER_NAME.test(name)) throw invalid(functionId, `'${name}' is not a valid HTTP header name`);
  // The value may be a secret, so only its name appears in the message.
  if (INVALID_HEADER_VALUE.test(value)) throw invalid(functionId, `the value of header '${name}' contains CR, LF or NUL`);
}

function invalid(functionId: string, detail: string): EngineError {
  return new EngineError(ErrorCode.deserializationError, `invalid invocation for function '${functionId}': ${detail}`);
}
