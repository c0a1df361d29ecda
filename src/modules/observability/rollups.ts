import type { JsonValue } from "../../util/json.ts";
import type { MetricRecord } from "./metric-store.ts";
import { nanosJson } from "./otlp-values.ts";

/** Bucket widths of rollup levels 0, 1 and 2: one minute, five minutes, one hour. */
export const ROLLUP_LEVEL_MS = [60_000, 300_000, 3_600_000] as const;

/** Buckets kept per level, oldest dropped first: for one metric, level 0 then covers about 7 days. */
const MAX_BUCKETS_PER_LEVEL = 10_000;

interface NumberRollup {
  name: string;
  startMs: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
}

interface HistogramRollup {
  name: string;
  startMs: number;
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  bucketCounts: number[];
  explicitBounds: number[];
}

/**
 * Per-minute, per-5-minute and hourly summaries of ingested metric points,
 * bucketed by the time the engine received them. Number points (counters,
 * gauges) keep count, sum, min, max and last value; histogram points are
 * merged (bucket counts add up when the bounds match).
 */
export class RollupStore {
  readonly #numbers = ROLLUP_LEVEL_MS.map(() => new Map<string, NumberRollup>());
  readonly #histograms = ROLLUP_LEVEL_MS.map(() => new Map<string, HistogramRollup>());

  add(metric: MetricRecord): void {
    const receivedMs = Number(metric.timeNanos / 1_000_000n);
    ROLLUP_LEVEL_MS.forEach((width, level) => {
      const startMs = receivedMs - (receivedMs % width);
      const key = `${metric.name}\u0000${startMs}`;
      for (const point of metric.points) {
        if (point.kind === "number") addNumber(this.#numbers[level]!, key, metric.name, startMs, point.value);
        else addHistogram(this.#histograms[level]!, key, metric.name, startMs, point);
      }
      trim(this.#numbers[level]!);
      trim(this.#histograms[level]!);
    });
  }

  clear(): void {
    for (const map of [...this.#numbers, ...this.#histograms]) map.clear();
  }

  /** Buckets of `level` that start within `[startMs, endMs]`, optionally of one metric name, oldest first. */
  list(level: number, startMs: number, endMs: number, name?: string): { rollups: JsonValue[]; histogramRollups: JsonValue[] } {
    const width = ROLLUP_LEVEL_MS[level]!;
    const keep = (rollup: { name: string; startMs: number }) =>
      rollup.startMs + width > startMs && rollup.startMs <= endMs && (name === undefined || rollup.name === name);

    // Fields that plain and histogram buckets share.
    const common = (rollup: { name: string; startMs: number; count: number; sum: number; min: number | null; max: number | null }) => ({
      name: rollup.name,
      level,
      bucket_start_ns: nanosJson(BigInt(rollup.startMs) * 1_000_000n),
      bucket_end_ns: nanosJson(BigInt(rollup.startMs + width) * 1_000_000n),
      count: rollup.count,
      sum: rollup.sum,
      min: rollup.min,
      max: rollup.max,
    });

    const rollups = [...this.#numbers[level]!.values()].filter(keep).map((rollup) => ({
      ...common(rollup),
      avg: rollup.sum / rollup.count,
      last: rollup.last,
    }));
    const histogramRollups = [...this.#histograms[level]!.values()].filter(keep).map((rollup) => ({
      ...common(rollup),
      bucket_counts: rollup.bucketCounts,
      explicit_bounds: rollup.explicitBounds,
    }));
    return { rollups, histogramRollups };
  }
}

function addNumber(map: Map<string, NumberRollup>, key: string, name: string, startMs: number, value: number): void {
  const rollup = map.get(key);
  if (!rollup) {
    map.set(key, { name, startMs, count: 1, sum: value, min: value, max: value, last: value });
    return;
  }
  rollup.count++;
  rollup.sum += value;
  rollup.min = Math.min(rollup.min, value);
  rollup.max = Math.max(rollup.max, value);
  rollup.last = value;
}

function addHistogram(
  map: Map<string, HistogramRollup>,
  key: string,
  name: string,
  startMs: number,
  point: { count: number; sum: number; min: number | null; max: number | null; bucketCounts: number[]; explicitBounds: number[] },
): void {
  const rollup = map.get(key);
  if (!rollup) {
    map.set(key, { name, startMs, ...point, bucketCounts: [...point.bucketCounts], explicitBounds: [...point.explicitBounds] });
    return;
  }
  rollup.count += point.count;
  rollup.sum += point.sum;
  rollup.min = minOf(rollup.min, point.min);
  rollup.max = maxOf(rollup.max, point.max);
  const sameBounds =
    rollup.explicitBounds.length === point.explicitBounds.length && rollup.explicitBounds.every((bound, i) => bound === point.explicitBounds[i]);
  if (sameBounds) rollup.bucketCounts = rollup.bucketCounts.map((count, i) => count + (point.bucketCounts[i] ?? 0));
}

function minOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

function trim(map: Map<string, unknown>): void {
  if (map.size <= MAX_BUCKETS_PER_LEVEL) return;
  // Buckets are created in arrival order, so the first keys are the oldest.
  for (const key of map.keys()) {
    map.delete(key);
    if (map.size <= MAX_BUCKETS_PER_LEVEL) return;
  }
}
