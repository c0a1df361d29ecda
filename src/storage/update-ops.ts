import { EngineError, ErrorCode } from "../core/errors";
import { isJsonObject, isRawJson, type JsonValue } from "../util/json";
import { describeValue } from "./describe-value";

/**
 * One step of an atomic update. A path names a single top-level key of the
 * stored object, with no nested traversal. `by` is a bigint so counters
 * beyond 2^53 stay exact.
 */
export type UpdateOp =
  | { type: "set"; path: string; value: JsonValue | undefined }
  | { type: "merge"; path: string; value: JsonValue }
  | { type: "increment"; path: string; by: bigint }
  | { type: "decrement"; path: string; by: bigint }
  | { type: "remove"; path: string };

/** Values before and after an update; `oldValue` is null when the item did not exist. */
export interface UpdateResult {
  oldValue: JsonValue | null;
  newValue: JsonValue;
}

/** Keys that would reach or replace an object prototype if assigned. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

const OP_TYPES = ["set", "merge", "increment", "decrement", "remove"] as const;
type OpType = (typeof OP_TYPES)[number];

const INTEGER_TEXT = /^-?\d+$/;

/**
 * Validates untrusted update operations. Throws `EngineError` with code
 * `deserialization_error` naming the offending field, for example
 * `ops[1].by: expected an integer, got 1.5`.
 */
export function parseUpdateOps(value: unknown, field = "ops"): UpdateOp[] {
  if (!Array.isArray(value)) {
    throw invalid(field, `expected an array of update operations, got ${describeValue(value)}`);
  }

  return value.map((item, position) => parseUpdateOp(item, `${field}[${position}]`));
}

/**
 * Applies `ops` in order to a copy of `current`, leaving `current` unchanged,
 * and returns the old and new value. A missing item starts as `{}`. Ops on a
 * value that is not an object are ignored, except a root `set`. `onIgnored`
 * receives a short reason for each op that had no effect by rule (a merge with
 * a non-root path or a non-object value).
 */
export function applyUpdateOps(
  current: JsonValue | undefined,
  ops: readonly UpdateOp[],
  onIgnored?: (reason: string) => void,
): UpdateResult {
  let value: JsonValue = current === undefined ? {} : current;

  for (const op of ops) {
    value = applyUpdateOp(value, op, onIgnored);
  }

  return { oldValue: current === undefined ? null : current, newValue: value };
}

function parseUpdateOp(item: unknown, field: string): UpdateOp {
  if (!isJsonObject(item)) throw invalid(field, `expected an object, got ${describeValue(item)}`);

  const type = ownValue(item, "type");
  if (typeof type !== "string" || !(OP_TYPES as readonly string[]).includes(type)) {
    throw invalid(`${field}.type`, `expected one of ${OP_TYPES.join(", ")}, got ${describeValue(type)}`);
  }

  const opType = type as OpType;
  const path = parsePath(ownValue(item, "path"), `${field}.path`, opType === "merge");
  switch (opType) {
    case "set":
      return { type: "set", path, value: ownValue(item, "value") as JsonValue | undefined };
    case "merge":
      return { type: "merge", path, value: parseMergeValue(ownValue(item, "value"), `${field}.value`) };
    case "increment":
    case "decrement":
      return { type: opType, path, by: parseInteger(ownValue(item, "by"), `${field}.by`) };
    case "remove":
      return { type: "remove", path };
    default: {
      const unreachable: never = opType;
      throw invalid(`${field}.type`, `unhandled operation '${String(unreachable)}'`);
    }
  }
}

function parsePath(value: unknown, field: string, optional: boolean): string {
  // Serializers that write absent optionals as null (serde does) send `"path": null` for a root merge.
  if ((value === undefined || value === null) && optional) return "";
  if (typeof value !== "string") throw invalid(field, `expected a string, got ${describeValue(value)}`);
  if (FORBIDDEN_KEYS.has(value)) throw forbiddenKey(field, value);
  return value;
}

function parseInteger(value: unknown, field: string): bigint {
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (isRawJson(value) && INTEGER_TEXT.test(value.rawJSON)) return BigInt(value.rawJSON);
  throw invalid(field, `expected an integer, got ${describeValue(value)}`);
}

function parseMergeValue(value: unknown, field: string): JsonValue {
  rejectForbiddenKeys(value, field);
  return value as JsonValue;
}

// Walks the whole value, arrays included, so no nested object carries a
// prototype key into storage through a merge.
function rejectForbiddenKeys(value: unknown, field: string): void {
  if (Array.isArray(value)) {
    value.forEach((item, position) => rejectForbiddenKeys(item, `${field}[${position}]`));
    return;
  }
  if (!isJsonObject(value)) return;

  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) throw forbiddenKey(field, key);
    rejectForbiddenKeys(value[key], `${field}.${key}`);
  }
}

function applyUpdateOp(value: JsonValue, op: UpdateOp, onIgnored?: (reason: string) => void): JsonValue {
  // A root set with a value replaces everything. An explicit null counts as
  // no value, so it falls through to setting the key "" on an object.
  if (op.type === "set" && op.path === "" && op.value !== undefined && op.value !== null) return op.value;
  if (!isJsonObject(value)) return value;

  switch (op.type) {
    case "set":
      return withKey(value, op.path, op.value ?? null);
    case "merge":
      return mergeInto(value, op, onIgnored);
    case "increment":
      return withKey(value, op.path, addToCounter(ownValue(value, op.path), op.by, op.by));
    case "decrement":
      return withKey(value, op.path, addToCounter(ownValue(value, op.path), -op.by, 0n));
    case "remove":
      return withoutKey(value, op.path);
    default: {
      const unreachable: never = op;
      return unreachable;
    }
  }
}

function mergeInto(
  value: { [key: string]: JsonValue },
  op: Extract<UpdateOp, { type: "merge" }>,
  onIgnored?: (reason: string) => void,
): JsonValue {
  if (op.path !== "") {
    onIgnored?.(`merge at path '${op.path}' ignored; only the root path "" is supported`);
    return value;
  }
  if (!isJsonObject(op.value)) {
    onIgnored?.(`merge of ${describeValue(op.value)} ignored; the value must be an object`);
    return value;
  }

  // Spread defines own data properties, so even a key named like a prototype
  // accessor would never change a prototype.
  return { ...value, ...op.value };
}

// Adds `delta` to an integer counter. A missing key starts at zero, and any
// other non-integer is replaced by `fallback`.
function addToCounter(existing: JsonValue | undefined, delta: bigint, fallback: bigint): JsonValue {
  if (existing === undefined) return fromBigInt(delta);

  const base = toBigInt(existing);
  if (base === undefined) return fromBigInt(fallback);
  return fromBigInt(base + delta);
}

function toBigInt(value: JsonValue): bigint | undefined {
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (isRawJson(value) && INTEGER_TEXT.test(value.rawJSON)) return BigInt(value.rawJSON);
  return undefined;
}

function fromBigInt(value: bigint): JsonValue {
  if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
  return (JSON as unknown as { rawJSON(text: string): JsonValue }).rawJSON(value.toString());
}

function withKey(value: { [key: string]: JsonValue }, key: string, item: JsonValue): JsonValue {
  const next = { ...value };
  Object.defineProperty(next, key, { value: item, enumerable: true, writable: true, configurable: true });
  return next;
}

function withoutKey(value: { [key: string]: JsonValue }, key: string): JsonValue {
  if (!Object.hasOwn(value, key)) return value;

  const next = { ...value };
  delete next[key];
  return next;
}

function ownValue(value: { [key: string]: JsonValue }, key: string): JsonValue | undefined {
  return Object.hasOwn(value, key) ? value[key] : undefined;
}

function invalid(field: string, detail: string): EngineError {
  return new EngineError(ErrorCode.deserializationError, `${field}: ${detail}`);
}

function forbiddenKey(field: string, key: string): EngineError {
  return invalid(field, `key '${key}' is not allowed because it names an object prototype property; rename it`);
}
