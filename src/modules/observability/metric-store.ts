import type { JsonValue } from "../../util/json.ts";
import { nanosJson, type AttributePair } from "./otlp-values.ts";

export type MetricType = "counter" | "gauge" | "histogram" | "updowncounter";

export interface NumberPoint {
  kind: "number";
  value: number;
  attributes: AttributePair[];
  timeNanos: bigint;
}

export interface HistogramPoint {
  kind: "histogram";
  count: number;
  sum: number;
  bucketCounts: number[];
  explicitBounds: number[];
  min: number | null;
  max: number | null;
  attributes: AttributePair[];
  timeNanos: bigint;
}

/** One metric from an SDK's `MTRC` frame, timestamped with the time the engine received it. */
export interface MetricRecord {
  name: string;
  description: string;
  unit: string;
  type: MetricType;
  points: Array<NumberPoint | HistogramPoint>;
  serviceName: string;
  timeNanos: bigint;
  scopeName?: string;
  scopeVersion?: string;
}

/** Per-bucket statistics of `engine::metrics::list` with `aggregate_interval`. */
export interface AggregatedMetric {
  name: string;
  bucketStartNanos: bigint;
  bucketEndNanos: bigint;
  values: number[];
}

const MAX_DISTINCT_NAMES = 10_000;

/**
 * Ingested metrics in arrival order, capped at `maxCount` entries (oldest
 * evicted first) and at 10 000 distinct names; `sweep` drops entries older than
 * the retention.
 */
export class MetricStore {
  readonly maxCount: number;
  readonly retentionMs: number;
  #metrics: MetricRecord[] = [];
  readonly #nameCounts = new Map<string, number>();

  constructor(maxCount: number, retentionMs: number) {
    this.maxCount = Math.max(1, maxCount);
    this.retentionMs = retentionMs;
  }

  get size(): number {
    return this.#metrics.length;
  }

  /** Stores a metric; returns false when it carries a new name and the name limit is reached. */
  add(metric: MetricRecord): boolean {
    if (!this.#nameCounts.has(metric.name) && this.#nameCounts.size >= MAX_DISTINCT_NAMES) return false;
    this.#metrics.push(metric);
    this.#nameCounts.set(metric.name, (this.#nameCounts.get(metric.name) ?? 0) + 1);
    if (this.#metrics.length > this.maxCount) this.#evict(this.#metrics.length - this.maxCount);
    return true;
  }

  /** Drops metrics received before `nowMs` minus the retention; returns how many went. */
  sweep(nowMs: number): number {
    const cutoff = BigInt(Math.trunc(nowMs - this.retentionMs)) * 1_000_000n;
    let expired = 0;
    while (expired < this.#metrics.length && this.#metrics[expired]!.timeNanos < cutoff) expired++;
    if (expired > 0) this.#evict(expired);
    return expired;
  }

  /** Metrics received within `[startMs, endMs]` (both needed for a time range), optionally of one name. */
  query(options: { startMs?: number; endMs?: number; name?: string }): MetricRecord[] {
    const ranged = options.startMs !== undefined && options.endMs !== undefined;
    const start = ranged ? BigInt(Math.trunc(options.startMs!)) * 1_000_000n : 0n;
    const end = ranged ? BigInt(Math.trunc(options.endMs!)) * 1_000_000n : 0n;
    return this.#metrics.filter((metric) => {
      if (options.name !== undefined && metric.name !== options.name) return false;
      if (ranged && (metric.timeNanos < start || metric.timeNanos > end)) return false;
      return true;
    });
  }

  /** Groups the number values of matching metrics into buckets of `intervalMs` from `startMs`. */
  aggregate(startMs: number, endMs: number, intervalMs: number, name?: string): AggregatedMetric[] {
    const buckets = new Map<string, AggregatedMetric>();
    for (const metric of this.query({ startMs, endMs, name })) {
      const offset = Math.floor((Number(metric.timeNanos / 1_000_000n) - startMs) / intervalMs);
      const bucketStart = BigInt(startMs + offset * intervalMs) * 1_000_000n;
      const key = `${metric.name}\u0000${bucketStart}`;
      let bucket = buckets.get(key);
      if (!bucket) {
        bucket = { name: metric.name, bucketStartNanos: bucketStart, bucketEndNanos: bucketStart + BigInt(intervalMs) * 1_000_000n, values: [] };
        buckets.set(key, bucket);
      }
      for (const point of metric.points) bucket.values.push(point.kind === "number" ? point.value : point.sum);
    }
    return [...buckets.values()].filter((bucket) => bucket.values.length > 0);
  }

  /**
   * The value an alert compares: within the last `windowMs` (0 = the latest
   * point only), the sum of points for counters, up-down counters and
   * histograms, the average for gauges; null when nothing was received.
   */
  windowValue(name: string, windowMs: number, nowMs: number): number | null {
    const cutoff = BigInt(Math.trunc(nowMs - windowMs)) * 1_000_000n;
    const metrics = this.#metrics.filter((metric) => metric.name === name && (windowMs === 0 || metric.timeNanos >= cutoff));
    if (metrics.length === 0) return null;

    const values = metrics.flatMap((metric) => metric.points.map((point) => (point.kind === "number" ? point.value : point.sum)));
    if (values.length === 0) return null;
    if (windowMs === 0) return values[values.length - 1]!;
    if (metrics[metrics.length - 1]!.type === "gauge") return values.reduce((a, b) => a + b, 0) / values.length;
    return values.reduce((a, b) => a + b, 0);
  }

  #evict(count: number): void {
    for (const metric of this.#metrics.slice(0, count)) {
      const left = (this.#nameCounts.get(metric.name) ?? 1) - 1;
      if (left === 0) this.#nameCounts.delete(metric.name);
      else this.#nameCounts.set(metric.name, left);
    }
    this.#metrics = this.#metrics.slice(count);
  }
}

/** The wire shape of a stored metric. */
export function metricToJson(metric: MetricRecord): JsonValue {
  const json: { [key: string]: JsonValue } = {
    name: metric.name,
    description: metric.description,
    unit: metric.unit,
    metric_type: metric.type,
    data_points: metric.points.map(pointToJson),
    service_name: metric.serviceName,
    timestamp_unix_nano: nanosJson(metric.timeNanos),
  };
  if (metric.scopeName !== undefined) json.instrumentation_scope_name = metric.scopeName;
  if (metric.scopeVersion !== undefined) json.instrumentation_scope_version = metric.scopeVersion;
  return json;
}

/** Count, sum, min, max and average of a bucket, plus percentiles once it holds 5 values or more. */
export function aggregatedToJson(bucket: AggregatedMetric): JsonValue {
  const sorted = [...bucket.values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  const json: { [key: string]: JsonValue } = {
    name: bucket.name,
    bucket_start_ns: nanosJson(bucket.bucketStartNanos),
    bucket_end_ns: nanosJson(bucket.bucketEndNanos),
    count: sorted.length,
    sum,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    avg: sum / sorted.length,
  };
  if (sorted.length >= 5) {
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
    json.percentiles = { p50: at(0.5), p75: at(0.75), p90: at(0.9), p95: at(0.95), p99: at(0.99) };
  }
  return json;
}

function pointToJson(point: NumberPoint | HistogramPoint): JsonValue {
  if (point.kind === "number") {
    return { value: point.value, attributes: point.attributes, timestamp_unix_nano: nanosJson(point.timeNanos) };
  }
  return {
    count: point.count,
    sum: point.sum,
    bucket_counts: point.bucketCounts,
    explicit_bounds: point.explicitBounds,
    min: point.min,
    max: point.max,
    attributes: point.attributes,
    timestamp_unix_nano: nanosJson(point.timeNanos),
  };
}
