import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import type { CorsConfig } from "./config.ts";

// `statusCode` is what SDK models serialized by alias (camelCase) produce.
const RESPONSE_KEYS = ["status_code", "statusCode", "headers", "body"];
const JSON_HEADERS = { "content-type": "application/json" };
const INVALID_HEADER_CHARS = /[\r\n\0]/;

/**
 * Maps a handler's result to a response. An object with `status_code` (or
 * `statusCode`), `headers` or `body` is a response description, and any other object is
 * the JSON body with status 200. A result that is not an object (an array, a string, a
 * number) gets `200 {}`, as from the reference engine; `{body: value}` sends such a value.
 */
export function resultToResponse(result: JsonValue, method: string, logger: Logger): Response {
  if (!isJsonObject(result)) return new Response(method === "HEAD" ? null : "{}", { status: 200, headers: JSON_HEADERS });
  if (!RESPONSE_KEYS.some((key) => key in result)) {
    return new Response(method === "HEAD" ? null : JSON.stringify(result), { status: 200, headers: JSON_HEADERS });
  }

  const status = validStatus(result.status_code ?? result.statusCode);
  const headers = new Headers();
  applyHeaders(headers, result.headers, logger);

  const noBody = method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
  if (noBody) return new Response(null, { status, headers });

  const body = result.body === undefined ? {} : result.body;
  const contentType = headers.get("content-type");
  if (typeof body === "string" && contentType && !isJsonContentType(contentType)) {
    return new Response(body, { status, headers });
  }
  if (!contentType) headers.set("content-type", "application/json");
  return new Response(JSON.stringify(body), { status, headers });
}

/** Copies handler headers; a value may be a string or a list of strings, and invalid entries are skipped. */
export function applyHeaders(target: Headers, raw: JsonValue | undefined, logger: Logger): void {
  if (!isJsonObject(raw)) return;
  for (const [name, value] of Object.entries(raw)) {
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean") continue;
      const text = String(item);
      if (INVALID_HEADER_CHARS.test(name) || INVALID_HEADER_CHARS.test(text)) {
        logger.warn(`skipped response header '${name.replace(/[\r\n]/g, " ")}': names and values may not contain CR, LF or NUL`);
        continue;
      }
      try {
        // NOTE: Bun sends repeated names other than set-cookie as one comma-separated line, not one line each.
        target.append(name, text);
      } catch {
        logger.warn(`skipped response header '${name}': not a valid HTTP header`);
      }
    }
  }
}

function validStatus(value: JsonValue | undefined): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 100 && value <= 599 ? value : 200;
}

function isJsonContentType(contentType: string): boolean {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

/** Adds CORS headers to a response for a request from `origin`. */
export function applyCors(headers: Headers, cors: CorsConfig | null, origin: string | null): void {
  if (cors === null) {
    headers.set("access-control-allow-origin", "*");
    headers.set("access-control-expose-headers", "*");
    return;
  }
  if (!origin) return;
  if (cors.anyOrigin) {
    headers.set("access-control-allow-origin", "*");
  } else if (cors.allowedOrigins.includes(origin)) {
    headers.set("access-control-allow-origin", origin);
    headers.append("vary", "origin");
  }
}

/** Builds the response to a CORS preflight request for a known path. */
export function preflightResponse(cors: CorsConfig | null, request: Request): Response {
  const headers = new Headers();
  const origin = request.headers.get("origin");
  applyCors(headers, cors, origin);
  const methods = cors === null || cors.allowedMethods.length === 0 ? "*" : cors.allowedMethods.join(", ");
  headers.set("access-control-allow-methods", methods);
  headers.set("access-control-allow-headers", request.headers.get("access-control-request-headers") ?? "*");
  headers.set("access-control-max-age", "600");
  return new Response(null, { status: 204, headers });
}
