import { EngineError, ErrorCode } from "../../core/errors.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";

/** A built-in's input object, checked to be a JSON object. */
export type InputObject = { [key: string]: JsonValue };

/** Narrows a function's input to an object; anything else is a `deserialization_error`. */
export function expectInput(functionId: string, data: JsonValue): InputObject {
  if (isJsonObject(data)) return data;
  throw invalidInput(functionId, `expected an object, got ${describe(data)}`);
}

export function requireString(functionId: string, input: InputObject, key: string): string {
  const value = input[key];
  if (value === undefined) throw invalidInput(functionId, `missing '${key}'`);
  if (typeof value !== "string") throw invalidInput(functionId, `'${key}' must be a string, got ${describe(value)}`);
  return value;
}

export function optionalString(functionId: string, input: InputObject, key: string): string | null {
  const value = input[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw invalidInput(functionId, `'${key}' must be a string, got ${describe(value)}`);
  return value;
}

export function requireKey(functionId: string, input: InputObject, key: string): JsonValue {
  const value = input[key];
  if (value === undefined) throw invalidInput(functionId, `missing '${key}'`);
  return value;
}

export function invalidInput(functionId: string, detail: string): EngineError {
  return new EngineError(ErrorCode.deserializationError, `Failed to deserialize input for ${functionId}: ${detail}`);
}

/** Returns the input for a delegate: the same object without the caller's worker id. */
export function withoutCaller(input: InputObject): InputObject {
  if (!("_caller_worker_id" in input)) return input;
  const { _caller_worker_id: _ignored, ...rest } = input;
  return rest;
}

function describe(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (isJsonObject(value)) return "an object";
  if (typeof value === "object") return "a number";
  return typeof value === "string" ? "a string" : `${typeof value} ${String(value)}`;
}
