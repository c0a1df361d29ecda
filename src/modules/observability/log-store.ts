import type { JsonValue } from "../../util/json.ts";
import { nanosJson } from "./otlp-values.ts";
import { RingBuffer } from "./ring-buffer.ts";

/** One stored log record, from an SDK's `LOGS` frame, `engine::log::*` or the engine's own log lines. */
export interface LogRecordEntry {
  timeNanos: bigint;
  observedNanos: bigint;
  severityNumber: number;
  severityText: string;
  body: string;
  attributes: { [key: string]: JsonValue };
  traceId: string | null;
  spanId: string | null;
  resource: { [key: string]: string };
  serviceName: string;
  scopeName: string | null;
  scopeVersion: string | null;
}

/** Filters and paging of `engine::logs::list`; times are Unix milliseconds. */
export interface LogQuery {
  startTimeMs?: number;
  endTimeMs?: number;
  traceId?: string;
  spanId?: string;
  severityMin?: number;
  severityText?: string;
  offset: number;
  limit?: number;
}

/** The newest `capacity` log records, also dropped once older than the retention. */
export class LogStore {
  readonly #logs: RingBuffer<LogRecordEntry>;
  readonly #retentionMs: number;

  constructor(capacity: number, retentionMs: number) {
    this.#logs = new RingBuffer(capacity);
    this.#retentionMs = retentionMs;
  }

  get size(): number {
    return this.#logs.size;
  }

  get capacity(): number {
    return this.#logs.capacity;
  }

  add(log: LogRecordEntry): void {
    this.#logs.push(log);
  }

  clear(): void {
    this.#logs.clear();
  }

  /** Drops records observed before `nowMs` minus the retention; returns how many went. */
  sweep(nowMs: number): number {
    const cutoff = BigInt(Math.trunc(nowMs - this.#retentionMs)) * 1_000_000n;
    return this.#logs.dropOldestWhile((log) => log.observedNanos < cutoff);
  }

  /** Matching records, newest first; `total` counts before paging. */
  list(query: LogQuery): { logs: LogRecordEntry[]; total: number } {
    const matching = this.#logs.toArray().filter((log) => matchesQuery(log, query));
    matching.reverse();
    const end = query.limit === undefined ? undefined : query.offset + query.limit;
    return { logs: matching.slice(query.offset, end), total: matching.length };
  }
}

/** The wire shape of a stored log, as listed and as sent to `log` triggers. */
export function logToJson(log: LogRecordEntry): { [key: string]: JsonValue } {
  return {
    timestamp_unix_nano: nanosJson(log.timeNanos),
    observed_timestamp_unix_nano: nanosJson(log.observedNanos),
    severity_number: log.severityNumber,
    severity_text: log.severityText,
    body: log.body,
    attributes: log.attributes,
    trace_id: log.traceId,
    span_id: log.spanId,
    resource: log.resource,
    service_name: log.serviceName,
    instrumentation_scope_name: log.scopeName,
    instrumentation_scope_version: log.scopeVersion,
  };
}

/**
 * The level name of a record: its severity text lower-cased, or, when an SDK
 * sent only a severity number, the OTel range the number falls in (1-4 trace,
 * 5-8 debug, 9-12 info, 13-16 warn, 17 and above error).
 */
export function levelOf(log: Pick<LogRecordEntry, "severityText" | "severityNumber">): string {
  if (log.severityText !== "") return log.severityText.toLowerCase();
  const number = log.severityNumber;
  if (number >= 17) return "error";
  if (number >= 13) return "warn";
  if (number >= 9) return "info";
  if (number >= 5) return "debug";
  if (number >= 1) return "trace";
  return "";
}

function matchesQuery(log: LogRecordEntry, query: LogQuery): boolean {
  const timeMs = Number(log.timeNanos / 1_000_000n);
  if (query.startTimeMs !== undefined && timeMs < query.startTimeMs) return false;
  if (query.endTimeMs !== undefined && timeMs > query.endTimeMs) return false;
  if (query.traceId !== undefined && log.traceId !== query.traceId.toLowerCase()) return false;
  if (query.spanId !== undefined && log.spanId !== query.spanId.toLowerCase()) return false;
  if (query.severityMin !== undefined && log.severityNumber < query.severityMin) return false;
  if (query.severityText !== undefined && log.severityText.toLowerCase() !== query.severityText.toLowerCase()) return false;
  return true;
}
