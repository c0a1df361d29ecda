import { crc32 } from "node:zlib";

import { EngineError, ErrorCode } from "../core/errors";
import { isJsonObject, parseJson, stringifyJson, type JsonValue } from "../util/json";

// Every log and snapshot file is a sequence of lines:
//   <crc32 of the JSON bytes, 8 lower-case hex digits> <space> <JSON record> \n
// JSON text never contains a raw newline, so a line is a record. The first
// record is a header naming the format and version. A snapshot ends with an
// `end` record giving the number of entries, so a cut-off snapshot is visible.

export const FORMAT_NAME = "iii-kv";
export const FORMAT_VERSION = 1;

export type FileKind = "log" | "snapshot";

/** A change to one key, in the order it was acknowledged. */
export type EntryRecord =
  | { op: "set"; index: string; key: string; value: JsonValue }
  | { op: "delete"; index: string; key: string };

/** Entries and damage found by scanning one file; damaged lines are counted, not thrown. */
export interface ScanResult {
  entries: EntryRecord[];
  hasHeader: boolean;
  /** Entry count from the snapshot `end` record, when present. */
  endCount: number | undefined;
  /** Byte offset just past the last good line. */
  goodBytes: number;
  /** Damaged lines that have a good line after them. */
  middleDamage: number;
  /** Bytes after the last good line; one torn final record is the usual cause. */
  tailBytes: number;
  /** Lines, complete or not, after the last good line. */
  tailLines: number;
}

const CHECKSUM_DIGITS = 8;
const NEWLINE = 0x0a;
const SPACE = 0x20;

/** Encodes a record as one checksummed line. */
export function encodeLine(record: object): Buffer {
  const payload = Buffer.from(stringifyJson(record), "utf8");
  const checksum = crc32(payload).toString(16).padStart(CHECKSUM_DIGITS, "0");
  return Buffer.concat([Buffer.from(`${checksum} `, "latin1"), payload, Buffer.from("\n", "latin1")]);
}

export function encodeHeader(kind: FileKind): Buffer {
  return encodeLine({ format: FORMAT_NAME, version: FORMAT_VERSION, kind });
}

export function encodeEnd(count: number): Buffer {
  return encodeLine({ op: "end", count });
}

/**
 * Reads every line of a file's content. Lines with a bad checksum or an
 * unknown shape are counted and skipped. Throws only when the header names a
 * format version this code cannot read, because guessing would lose data.
 */
export function scanLines(content: Buffer, fileName: string): ScanResult {
  const result: ScanResult = {
    entries: [],
    hasHeader: false,
    endCount: undefined,
    goodBytes: 0,
    middleDamage: 0,
    tailBytes: 0,
    tailLines: 0,
  };
  let damagedSinceGood = 0;
  let start = 0;

  while (start < content.length) {
    const newline = content.indexOf(NEWLINE, start);
    const end = newline === -1 ? content.length : newline + 1;
    const record = newline === -1 ? undefined : decodeLine(content.subarray(start, newline));

    if (record === undefined || !acceptRecord(record, result, fileName, start === 0)) {
      damagedSinceGood += 1;
    } else {
      result.middleDamage += damagedSinceGood;
      damagedSinceGood = 0;
      result.goodBytes = end;
    }
    start = end;
  }

  result.tailBytes = content.length - result.goodBytes;
  result.tailLines = damagedSinceGood;
  return result;
}

function decodeLine(line: Buffer): JsonValue | undefined {
  if (line.length <= CHECKSUM_DIGITS + 1 || line[CHECKSUM_DIGITS] !== SPACE) return undefined;

  const payload = line.subarray(CHECKSUM_DIGITS + 1);
  const expected = Number.parseInt(line.toString("latin1", 0, CHECKSUM_DIGITS), 16);
  if (Number.isNaN(expected) || crc32(payload) !== expected) return undefined;

  try {
    return parseJson(payload.toString("utf8"));
  } catch {
    return undefined;
  }
}

function acceptRecord(record: JsonValue, result: ScanResult, fileName: string, isFirst: boolean): boolean {
  if (!isJsonObject(record)) return false;

  if (isFirst && record.format === FORMAT_NAME) {
    if (record.version !== FORMAT_VERSION) {
      throw new EngineError(
        ErrorCode.backendUnavailable,
        `kv store file '${fileName}' has format version ${stringifyJson(record.version)}, ` +
          `but this engine reads version ${FORMAT_VERSION}; start the engine version that wrote it`,
      );
    }
    result.hasHeader = true;
    return true;
  }

  const { op, index, key } = record;
  if (op === "end" && typeof record.count === "number") {
    result.endCount = record.count;
    return true;
  }
  if (typeof index !== "string" || typeof key !== "string") return false;
  if (op === "set" && Object.hasOwn(record, "value")) {
    result.entries.push({ op, index, key, value: record.value as JsonValue });
    return true;
  }
  if (op === "delete") {
    result.entries.push({ op, index, key });
    return true;
  }
  return false;
}
