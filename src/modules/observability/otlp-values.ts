import { isJsonObject, isRawJson, type JsonValue, type RawJson } from "../../util/json.ts";

const jsonWithRaw = JSON as unknown as { rawJSON(text: string): RawJson };

/** A `[key, value]` attribute pair with the value rendered as a string. */
export type AttributePair = [string, string];

/**
 * Reads an OTLP 64-bit unsigned field sent as a JSON number, a decimal string
 * or a number beyond 2^53 kept raw by `parseJson`; returns null for anything else.
 */
export function readUint64(value: JsonValue | undefined): bigint | null {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? BigInt(Math.trunc(value)) : null;
  if (typeof value === "string") return /^\d+$/.test(value) ? BigInt(value) : null;
  if (isRawJson(value)) return /^\d+$/.test(value.rawJSON) ? BigInt(value.rawJSON) : null;
  return null;
}

/** Reads a count or number field that may arrive as a number, a decimal string or a raw number. */
export function readNumber(value: JsonValue | undefined): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) return Number(value);
  if (isRawJson(value)) return Number(value.rawJSON);
  return null;
}

/** A nanosecond timestamp as a JSON number that keeps every digit. */
export function nanosJson(nanos: bigint): JsonValue {
  if (nanos <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(nanos);
  return jsonWithRaw.rawJSON(nanos.toString());
}

export function millisToNanos(millis: number): bigint {
  return BigInt(Math.trunc(millis)) * 1_000_000n;
}

export function nanosToMillis(nanos: bigint): number {
  return Number(nanos / 1_000_000n);
}

/**
 * Normalises a trace or span id: hex as sent, lower-cased; an empty or
 * all-zero id (no parent, no correlation) becomes null.
 */
export function readHexId(value: JsonValue | undefined): string | null {
  if (typeof value !== "string" || value === "") return null;
  if (/^0+$/.test(value)) return null;
  return value.toLowerCase();
}

/**
 * Renders an OTLP `AnyValue` as a string: strings as they are, numbers and
 * booleans in their JSON spelling, arrays and maps as JSON.
 */
export function anyValueToString(value: JsonValue | undefined): string {
  const plain = anyValueToJson(value);
  if (typeof plain === "string") return plain;
  if (plain === null) return "";
  return JSON.stringify(plain);
}

/** Converts an OTLP `AnyValue` to plain JSON; unknown shapes become null. */
export function anyValueToJson(value: JsonValue | undefined): JsonValue {
  if (!isJsonObject(value)) return null;
  if (typeof value.stringValue === "string") return value.stringValue;
  if (typeof value.boolValue === "boolean") return value.boolValue;
  if (value.intValue !== undefined) return readIntValue(value.intValue);
  if (value.doubleValue !== undefined) return readNumber(value.doubleValue);
  if (isJsonObject(value.arrayValue) && Array.isArray(value.arrayValue.values)) {
    return value.arrayValue.values.map((item) => anyValueToJson(item));
  }
  if (isJsonObject(value.kvlistValue) && Array.isArray(value.kvlistValue.values)) {
    return attributesToObject(value.kvlistValue.values);
  }
  if (typeof value.bytesValue === "string") return value.bytesValue;
  return null;
}

/** OTLP `KeyValue[]` as `[key, string]` pairs, skipping entries without a key. */
export function attributesToPairs(list: JsonValue | undefined): AttributePair[] {
  if (!Array.isArray(list)) return [];
  const pairs: AttributePair[] = [];
  for (const entry of list) {
    if (!isJsonObject(entry) || typeof entry.key !== "string") continue;
    pairs.push([entry.key, anyValueToString(entry.value)]);
  }
  return pairs;
}

/** OTLP `KeyValue[]` as a JSON object; values that are not scalars become null. */
export function attributesToObject(list: JsonValue | undefined): { [key: string]: JsonValue } {
  const object: { [key: string]: JsonValue } = {};
  if (!Array.isArray(list)) return object;
  for (const entry of list) {
    if (!isJsonObject(entry) || typeof entry.key !== "string") continue;
    const value = anyValueToJson(entry.value);
    object[entry.key] = Array.isArray(value) || isJsonObject(value) ? null : value;
  }
  return object;
}

/** Reads `service.name` from an OTLP resource, defaulting to "unknown". */
export function serviceNameOf(resource: JsonValue | undefined): string {
  if (!isJsonObject(resource)) return "unknown";
  for (const [key, value] of attributesToPairs(resource.attributes)) {
    if (key === "service.name" && value !== "") return value;
  }
  return "unknown";
}

function readIntValue(value: JsonValue): JsonValue {
  if (typeof value === "number" || isRawJson(value)) return value;
  if (typeof value === "string" && /^-?\d+$/.test(value)) {
    const number = Number(value);
    return Number.isSafeInteger(number) ? number : jsonWithRaw.rawJSON(value);
  }
  return null;
}
