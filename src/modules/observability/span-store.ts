import type { JsonValue } from "../../util/json.ts";
import { nanosJson, type AttributePair } from "./otlp-values.ts";
import { RingBuffer } from "./ring-buffer.ts";

export type SpanStatus = "unset" | "ok" | "error";

/** One finished span, from the engine's tracer or from an SDK's `OTLP` frame. */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  startNanos: bigint;
  endNanos: bigint;
  status: SpanStatus;
  statusDescription?: string;
  attributes: AttributePair[];
  serviceName: string;
  events: Array<{ name: string; timeNanos: bigint; attributes: AttributePair[] }>;
  links: Array<{ traceId: string; spanId: string; traceState: string; attributes: AttributePair[] }>;
  scopeName?: string;
  scopeVersion?: string;
  flags?: number;
}

/** Filters and paging of `engine::traces::list`; times are Unix milliseconds. */
export interface SpanQuery {
  traceId?: string;
  serviceName?: string;
  name?: string;
  status?: string;
  minDurationMs?: number;
  maxDurationMs?: number;
  startTimeMs?: number;
  endTimeMs?: number;
  attributes?: AttributePair[];
  includeInternal: boolean;
  sortBy: "start_time" | "duration" | "name";
  sortOrder: "asc" | "desc";
  offset: number;
  limit: number;
}

/** The newest `capacity` spans, oldest evicted first. */
export class SpanStore {
  readonly #spans: RingBuffer<SpanRecord>;

  constructor(capacity: number) {
    this.#spans = new RingBuffer(capacity);
  }

  get size(): number {
    return this.#spans.size;
  }

  get capacity(): number {
    return this.#spans.capacity;
  }

  add(span: SpanRecord): void {
    this.#spans.push(span);
  }

  clear(): void {
    this.#spans.clear();
  }

  /** Root spans (no parent) that pass every filter, sorted and paged; `total` counts before paging. */
  list(query: SpanQuery): { spans: SpanRecord[]; total: number } {
    const matching = this.#spans.toArray().filter((span) => span.parentSpanId === null && matchesQuery(span, query));
    matching.sort(compareBy(query.sortBy));
    if (query.sortOrder === "desc") matching.reverse();
    return { spans: matching.slice(query.offset, query.offset + query.limit), total: matching.length };
  }

  /** The spans of one trace as trees under its root spans; spans whose parent is not stored are left out. */
  tree(traceId: string): JsonValue[] {
    const spans = this.#spans.toArray().filter((span) => span.traceId === traceId.toLowerCase());
    const children = new Map<string, SpanRecord[]>();
    for (const span of spans) {
      if (span.parentSpanId === null) continue;
      const siblings = children.get(span.parentSpanId) ?? [];
      siblings.push(span);
      children.set(span.parentSpanId, siblings);
    }

    const build = (span: SpanRecord, depth: number): JsonValue => {
      const own = depth > 256 ? [] : (children.get(span.spanId) ?? []);
      own.sort(compareBy("start_time"));
      return { ...(spanToJson(span) as object), children: own.map((child) => build(child, depth + 1)) };
    };
    const roots = spans.filter((span) => span.parentSpanId === null).sort(compareBy("start_time"));
    return roots.map((root) => build(root, 0));
  }
}

/** The wire shape of a stored span; optional keys are left out when unset. */
export function spanToJson(span: SpanRecord): JsonValue {
  const json: { [key: string]: JsonValue } = {
    trace_id: span.traceId,
    span_id: span.spanId,
    parent_span_id: span.parentSpanId,
    name: span.name,
    start_time_unix_nano: nanosJson(span.startNanos),
    end_time_unix_nano: nanosJson(span.endNanos),
    status: span.status,
    attributes: span.attributes,
    service_name: span.serviceName,
    events: span.events.map((event) => ({ name: event.name, timestamp_unix_nano: nanosJson(event.timeNanos), attributes: event.attributes })),
    links: span.links.map((link) => ({
      trace_id: link.traceId,
      span_id: link.spanId,
      trace_state: link.traceState,
      attributes: link.attributes,
    })),
  };
  if (span.statusDescription) json.status_description = span.statusDescription;
  if (span.scopeName !== undefined) json.instrumentation_scope_name = span.scopeName;
  if (span.scopeVersion !== undefined) json.instrumentation_scope_version = span.scopeVersion;
  if (span.flags !== undefined) json.flags = span.flags;
  return json;
}

function matchesQuery(span: SpanRecord, query: SpanQuery): boolean {
  if (!query.includeInternal && isInternal(span)) return false;
  if (query.traceId !== undefined && span.traceId !== query.traceId.toLowerCase()) return false;
  if (!containsIgnoringCase(span.serviceName, query.serviceName)) return false;
  if (!containsIgnoringCase(span.name, query.name)) return false;
  if (!containsIgnoringCase(span.status, query.status)) return false;

  const durationMs = Number(span.endNanos - span.startNanos) / 1e6;
  if (query.minDurationMs !== undefined && durationMs < query.minDurationMs) return false;
  if (query.maxDurationMs !== undefined && durationMs > query.maxDurationMs) return false;

  // A span is kept when it overlaps the requested window.
  if (query.startTimeMs !== undefined && Number(span.endNanos / 1_000_000n) < query.startTimeMs) return false;
  if (query.endTimeMs !== undefined && Number(span.startNanos / 1_000_000n) > query.endTimeMs) return false;

  for (const [key, value] of query.attributes ?? []) {
    if (!span.attributes.some(([k, v]) => k === key && v === value)) return false;
  }
  return true;
}

function isInternal(span: SpanRecord): boolean {
  return span.attributes.some(
    ([key, value]) => (key === "iii.function.kind" && value === "internal") || (key === "function_id" && value.startsWith("engine::")),
  );
}

function containsIgnoringCase(value: string, filter: string | undefined): boolean {
  if (filter === undefined) return true;
  return value.toLowerCase().includes(filter.toLowerCase());
}

function compareBy(sortBy: SpanQuery["sortBy"]): (a: SpanRecord, b: SpanRecord) => number {
  if (sortBy === "name") return (a, b) => a.name.localeCompare(b.name);
  if (sortBy === "duration") return (a, b) => compareBigInt(a.endNanos - a.startNanos, b.endNanos - b.startNanos);
  return (a, b) => compareBigInt(a.startNanos, b.startNanos);
}

function compareBigInt(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
