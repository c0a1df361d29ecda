import { EngineError, ErrorCode } from "../core/errors.ts";
import { parseUpdateOps, type UpdateOp } from "../storage/index.ts";
import { isJsonObject, isRawJson, type JsonValue } from "../util/json.ts";

// Input checks shared by the built-in functions of several modules. Every
// failure is a `deserialization_error` whose message names the function and the field.

/** A built-in's input, checked to be a JSON object. */
export type InputObject = { [key: string]: JsonValue };

/** Narrows a function's input to an object; anything else is a `deserialization_error`. */
export function readInputObject(functionId: string, data: JsonValue): InputObject {
  if (isJsonObject(data)) return data;
  throw invalidInput(functionId, `expected an object, got ${describeInput(data)}`);
}

/** Reads a required string field such as `scope`; missing or not a string is a `deserialization_error`. */
export function readRequiredString(functionId: string, input: InputObject, field: string): string {
  const value = Object.hasOwn(input, field) ? input[field] : undefined;
  if (value === undefined || value === null) throw invalidInput(functionId, `missing '${field}'`);
  if (typeof value !== "string") throw invalidInput(functionId, `'${field}' must be a string, got ${describeInput(value)}`);
  return value;
}

/** Reads an optional string field; absent or null gives null. */
export function readOptionalString(functionId: string, input: InputObject, field: string): string | null {
  const value = Object.hasOwn(input, field) ? input[field] : undefined;
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw invalidInput(functionId, `'${field}' must be a string, got ${describeInput(value)}`);
  return value;
}

/** Reads an optional boolean field; absent or null gives `fallback`. */
export function readOptionalBoolean(functionId: string, input: InputObject, field: string, fallback: boolean): boolean {
  const value = Object.hasOwn(input, field) ? input[field] : undefined;
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") throw invalidInput(functionId, `'${field}' must be true or false, got ${describeInput(value)}`);
  return value;
}

/** Narrows an input that may be left out: null gives an empty object, and any other non-object is a `deserialization_error`. */
export function readOptionalInputObject(functionId: string, data: JsonValue): InputObject {
  return data === null ? {} : readInputObject(functionId, data);
}

/** Reads a required field holding any JSON value (null included). */
export function readRequiredValue(functionId: string, input: InputObject, field: string): JsonValue {
  if (!Object.hasOwn(input, field) || input[field] === undefined) throw invalidInput(functionId, `missing '${field}'`);
  return input[field] as JsonValue;
}

/** Reads and validates the `ops` list of an update call. */
export function readUpdateOps(functionId: string, input: InputObject): UpdateOp[] {
  if (!Object.hasOwn(input, "ops")) throw invalidInput(functionId, "missing 'ops'");

  try {
    return parseUpdateOps(input.ops, "ops");
  } catch (error) {
    if (error instanceof EngineError && error.code === ErrorCode.deserializationError) {
      throw invalidInput(functionId, error.message, error);
    }
    throw error;
  }
}

/** The error for input that does not match a function's schema, naming the function and the field. */
export function invalidInput(functionId: string, detail: string, cause?: unknown): EngineError {
  return new EngineError(ErrorCode.deserializationError, `Failed to deserialize input for ${functionId}: ${detail}`, { cause });
}

function describeInput(value: JsonValue): string {
  if (value === null) return "null";
  if (typeof value === "string") return `'${value.length > 60 ? `${value.slice(0, 60)}...` : value}'`;
  if (isRawJson(value)) return value.rawJSON;
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}
