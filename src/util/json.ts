/** Any JSON value as parsed by `parseJson`; numbers that do not fit a double are kept as raw JSON. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue } | RawJson;

/** A number kept as its source text by `JSON.rawJSON`, so it serialises with every digit. */
export interface RawJson {
  readonly rawJSON: string;
}

interface JsonWithRaw {
  rawJSON(text: string): RawJson;
  isRawJSON(value: unknown): value is RawJson;
}

const jsonWithRaw = JSON as unknown as JsonWithRaw;

// A number literal with 16 or more digits, or a three-digit exponent, may not
// survive a round trip through a double; only then is the slower reviver used.
const LOSSY_NUMBER_PATTERN = /\d{16,}|[eE][+-]?\d{3}/;

/**
 * Parses JSON text without losing precision: integers beyond 2^53 and numbers
 * outside the double range are kept as raw JSON and serialise unchanged.
 * Throws `SyntaxError` on invalid JSON.
 */
export function parseJson(text: string): JsonValue {
  if (!LOSSY_NUMBER_PATTERN.test(text)) return JSON.parse(text) as JsonValue;
  return JSON.parse(text, keepLossyNumbers) as JsonValue;
}

function keepLossyNumbers(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number" || context?.source === undefined) return value;
  if (isExactNumber(value, context.source)) return value;
  return jsonWithRaw.rawJSON(context.source);
}

function isExactNumber(value: number, source: string): boolean {
  if (!Number.isFinite(value)) return false;
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) return false;
  const digits = source.replace(/[^0-9]/g, "").replace(/^0+/, "").length;
  return digits < 16 || String(value) === source;
}

/** Serialises a value; raw numbers from `parseJson` keep their digits. */
export function stringifyJson(value: unknown): string {
  return JSON.stringify(value);
}

export function isRawJson(value: unknown): value is RawJson {
  return jsonWithRaw.isRawJSON(value);
}

export function isJsonObject(value: unknown): value is { [key: string]: JsonValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isRawJson(value);
}
