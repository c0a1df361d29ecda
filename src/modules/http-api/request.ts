import type { Logger } from "../../telemetry/logger.ts";
import { parseJson, type JsonValue } from "../../util/json.ts";

/** Thrown when a path parameter or query string contains a malformed percent escape. */
export class MalformedEscapeError extends Error {
  constructor(readonly value: string) {
    super(`malformed percent escape in '${value}'`);
  }
}

const MALFORMED_ESCAPE = /%(?![0-9a-fA-F]{2})/;

/** The path and query of a request URL, both still percent-encoded; `search` keeps its leading `?`. */
export interface RequestTarget {
  pathname: string;
  search: string;
}

/**
 * Splits an absolute request URL (`http://host:port/path?query`) into path and
 * query without building a `URL` object, which costs more than the rest of the
 * routing. Dot segments are not resolved, so `/a/../b` is matched as written.
 */
export function splitRequestUrl(url: string): RequestTarget {
  const authorityStart = url.indexOf("//");
  const pathStart = url.indexOf("/", authorityStart < 0 ? 0 : authorityStart + 2);
  if (pathStart < 0) return { pathname: "/", search: "" };
  const queryStart = url.indexOf("?", pathStart);
  const end = url.indexOf("#", pathStart);
  const stop = end < 0 ? url.length : end;
  if (queryStart < 0 || queryStart > stop) return { pathname: url.slice(pathStart, stop), search: "" };
  return { pathname: url.slice(pathStart, queryStart), search: url.slice(queryStart, stop) };
}

/** Decodes query parameters once; for a repeated key the last value wins. */
export function decodeQuery(search: string): Record<string, string> {
  const query: Record<string, string> = {};
  if (search.length <= 1) return query;
  const text = search.slice(1);
  if (MALFORMED_ESCAPE.test(text)) throw new MalformedEscapeError(text);
  for (const [key, value] of new URLSearchParams(text)) query[key] = value;
  return query;
}

/** Decodes each `:param` value once. */
export function decodeParams(raw: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    try {
      params[name] = value.includes("%") ? decodeURIComponent(value) : value;
    } catch {
      throw new MalformedEscapeError(value);
    }
  }
  return params;
}

/**
 * Converts a request body into the `body` field. JSON content types are parsed
 * as JSON. A body without a content type, or a form post (what `curl -d` sends),
 * is parsed as JSON when the whole body is a JSON object or array. Other form
 * bodies become an object of their fields, with repeated fields as arrays.
 * Anything else is null, and so is invalid JSON under a JSON content type (with a debug log).
 */
export function parseBody(contentType: string | null, bytes: Uint8Array, logger: Logger): JsonValue {
  if (bytes.length === 0) return null;
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const isJsonType = type === "application/json" || type.endsWith("+json");
  const isForm = type === "application/x-www-form-urlencoded";
  if (!isJsonType && !isForm && type !== "") return null;

  const text = new TextDecoder().decode(bytes);
  if (isJsonType) {
    try {
      return parseJson(text);
    } catch (error) {
      logger.debug(`request body is not valid JSON; passing body: null (${(error as Error).message})`);
      return null;
    }
  }

  const trimmed = text.trimStart();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return parseJson(text);
    } catch {
      // Not JSON after all; a form body is read below.
    }
  }
  return isForm ? parseForm(text) : null;
}

function parseForm(text: string): JsonValue {
  const fields: { [key: string]: JsonValue } = Object.create(null);
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = fields[key];
    if (existing === undefined) fields[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else fields[key] = [existing, value];
  }
  return { ...fields };
}

/** Reads the whole body, or returns null as soon as it passes `limit` bytes. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array | null> {
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of request.body) {
    total += chunk.length;
    if (total > limit) return null;
    chunks.push(chunk);
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}
