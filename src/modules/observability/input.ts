import { EngineError, ErrorCode } from "../../core/errors.ts";
import { isJsonObject, isRawJson, type JsonValue } from "../../util/json.ts";

/**
 * Reads the fields of a built-in function's input. Absent and null fields are
 * undefined; a field of the wrong type fails with `deserialization_error`
 * naming the function and the field.
 */
export class InputReader {
  readonly #functionId: string;
  readonly #data: { [key: string]: JsonValue };

  constructor(functionId: string, data: JsonValue) {
    this.#functionId = functionId;
    if (data !== null && data !== undefined && !isJsonObject(data)) throw this.#error("expected an object");
    this.#data = isJsonObject(data) ? data : {};
  }

  raw(key: string): JsonValue | undefined {
    const value = this.#data[key];
    return value === null ? undefined : value;
  }

  requiredString(key: string): string {
    const value = this.string(key);
    if (value === undefined) throw this.#error(`missing '${key}'`);
    return value;
  }

  string(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string") throw this.#error(`'${key}' must be a string`);
    return value;
  }

  number(key: string): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (isRawJson(value)) return Number(value.rawJSON);
    if (typeof value !== "number") throw this.#error(`'${key}' must be a number`);
    return value;
  }

  integer(key: string, min = 0): number | undefined {
    const value = this.number(key);
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < min) throw this.#error(`'${key}' must be an integer of at least ${min}`);
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") throw this.#error(`'${key}' must be true or false`);
    return value;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    const match = allowed.find((candidate) => candidate === value.toLowerCase());
    if (!match) throw this.#error(`'${key}' must be one of ${allowed.join(", ")}`);
    return match;
  }

  /** Reads a list of `[key, value]` string pairs. */
  pairs(key: string): Array<[string, string]> | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const valid =
      Array.isArray(value) && value.every((pair) => Array.isArray(pair) && pair.length === 2 && pair.every((part) => typeof part === "string"));
    if (!valid) throw this.#error(`'${key}' must be a list of [key, value] string pairs`);
    return value as Array<[string, string]>;
  }

  #error(reason: string): EngineError {
    return new EngineError(ErrorCode.deserializationError, `Failed to deserialize input for ${this.#functionId}: ${reason}`);
  }
}
