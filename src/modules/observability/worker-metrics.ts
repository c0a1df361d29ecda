import type { WorkerConnection } from "../../core/worker-connection.ts";
import type { JsonValue } from "../../util/json.ts";
import type { MetricRecord } from "./metric-store.ts";

/** Values older than this are left out of a worker's `latest_metrics`. */
const LATEST_METRICS_MAX_AGE_MS = 120_000;

/** SDK gauge names and the `latest_metrics` field each one fills. */
const FIELDS: Record<string, string> = {
  "iii.worker.memory.heap_used": "memory_heap_used",
  "iii.worker.memory.heap_total": "memory_heap_total",
  "iii.worker.memory.rss": "memory_rss",
  "iii.worker.memory.external": "memory_external",
  "iii.worker.cpu.percent": "cpu_percent",
  "iii.worker.cpu.user_micros": "cpu_user_micros",
  "iii.worker.cpu.system_micros": "cpu_system_micros",
  "iii.worker.event_loop.lag_ms": "event_loop_lag_ms",
  "iii.worker.uptime_seconds": "uptime_seconds",
};

/**
 * Keeps each worker's `latest_metrics` (shown by `engine::workers::list`) up to
 * date from the `iii.worker.*` gauges SDKs send. SDKs send them on a separate
 * telemetry connection, so points are matched to workers by their `worker.id`
 * attribute, not by the connection they came on.
 */
export class WorkerMetricsTracker {
  readonly #values = new Map<string, Map<string, { value: number; atMs: number }>>();
  readonly #getWorker: (id: string) => WorkerConnection | undefined;

  constructor(getWorker: (id: string) => WorkerConnection | undefined) {
    this.#getWorker = getWorker;
  }

  update(metrics: MetricRecord[], nowMs: number): void {
    const touched = new Set<string>();
    for (const metric of metrics) {
      const field = FIELDS[metric.name];
      if (!field) continue;
      for (const point of metric.points) {
        if (point.kind !== "number") continue;
        const workerId = point.attributes.find(([key]) => key === "worker.id")?.[1];
        if (!workerId) continue;
        let fields = this.#values.get(workerId);
        if (!fields) {
          fields = new Map();
          this.#values.set(workerId, fields);
        }
        fields.set(field, { value: point.value, atMs: nowMs });
        touched.add(workerId);
      }
    }
    for (const workerId of touched) this.#publish(workerId, nowMs);
  }

  /** Forgets a worker that left. */
  remove(workerId: string): void {
    this.#values.delete(workerId);
  }

  #publish(workerId: string, nowMs: number): void {
    const worker = this.#getWorker(workerId);
    const fields = this.#values.get(workerId);
    if (!worker || !fields) {
      this.#values.delete(workerId);
      return;
    }
    const latest: { [key: string]: JsonValue } = {};
    for (const [field, entry] of fields) {
      if (nowMs - entry.atMs > LATEST_METRICS_MAX_AGE_MS) fields.delete(field);
      else latest[field] = entry.value;
    }
    latest.timestamp_ms = nowMs;
    latest.runtime = worker.runtime ?? "node";
    worker.latestMetrics = latest;
  }
}
