/**
 * The shape every benchmark file returns. A benchmark file exports
 * `run(options: RunOptions): Promise<Measurement[]>`; the runner in index.ts
 * prints each measurement and writes them all to docs/benchmarks.md.
 */
export interface RunOptions {
  /** Fewer and shorter runs, so that `bun run bench:quick` finishes in under 60 s. */
  quick: boolean;
}

/** One measured figure, compared with a baseline measured in the same run on the same machine. */
export interface Measurement {
  /** The group the figure belongs to, such as "http trigger" or "memory". */
  suite: string;
  /** What was measured, such as "iii + raw worker, 64 connections". */
  name: string;
  value: number;
  /** Unit of `value` and of `baseline.value`: "req/s", "calls/s", "µs", "ms" or "MiB". */
  unit: string;
  /** Latency percentiles in microseconds, for figures that come from a load run. */
  latency?: { p50Us: number; p99Us: number };
  /** The reference figure, measured in the same run, that `ratio` compares with. */
  baseline?: { name: string; value: number; latency?: { p50Us: number; p99Us: number } };
  /** `value / baseline.value`. */
  ratio?: number;
  /** A goal this figure is judged against, and whether the measured figure meets it. */
  target?: { text: string; met: boolean };
  /** How the figure was taken (runs, duration, median) or why it was skipped. */
  note?: string;
}

/** Builds a measurement with `ratio` filled in from its baseline. */
export function compare(
  fields: Omit<Measurement, "ratio" | "baseline"> & { baseline: NonNullable<Measurement["baseline"]> },
): Measurement {
  const ratio = fields.baseline.value === 0 ? 0 : fields.value / fields.baseline.value;
  return { ...fields, ratio };
}

/** Formats a figure with a precision that suits its size. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString("en-US");
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** One line for the console: name, value, percentiles, baseline, ratio and target. */
export function formatLine(measurement: Measurement): string {
  const parts = [`[${measurement.suite}] ${measurement.name}: ${formatNumber(measurement.value)} ${measurement.unit}`];
  if (measurement.latency) parts.push(`p50 ${formatNumber(measurement.latency.p50Us)} µs, p99 ${formatNumber(measurement.latency.p99Us)} µs`);
  if (measurement.baseline) {
    parts.push(`baseline ${measurement.baseline.name} ${formatNumber(measurement.baseline.value)} ${measurement.unit}`);
  }
  if (measurement.ratio !== undefined) parts.push(`ratio ${measurement.ratio.toFixed(2)}`);
  if (measurement.target) parts.push(`target ${measurement.target.text}: ${measurement.target.met ? "met" : "MISSED"}`);
  if (measurement.note) parts.push(measurement.note);
  return parts.join("; ");
}

/** Checks that a value another benchmark file returned has the fields of a `Measurement`. */
export function isMeasurement(value: unknown): value is Measurement {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.suite === "string" &&
    typeof candidate.name === "string" &&
    typeof candidate.value === "number" &&
    typeof candidate.unit === "string"
  );
}
