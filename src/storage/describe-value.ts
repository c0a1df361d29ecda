import { isRawJson } from "../util/json";

const MAX_QUOTED_CHARS = 60;

/** Describes an untrusted value briefly for error messages, cutting long strings. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    const quoted = value.length > MAX_QUOTED_CHARS ? `${value.slice(0, MAX_QUOTED_CHARS)}...` : value;
    return `'${quoted}'`;
  }
  if (isRawJson(value)) return value.rawJSON;
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}
