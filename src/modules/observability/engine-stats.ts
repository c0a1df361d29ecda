import type { JsonValue } from "../../util/json.ts";
import { RingBuffer } from "./ring-buffer.ts";

/** Durations kept for the percentiles of `engine::metrics::list`. */
const DURATION_SAMPLES = 10_000;

/**
 * Counters behind `engine_metrics` and the built-in alert metrics: finished
 * invocations by outcome and function, worker connects and disconnects, and
 * the durations of the latest invocations. As in the reference engine, calls
 * to worker functions count as `deferred`, never as success or error, because
 * the engine only hands them over. Built-in functions count by outcome.
 */
export class EngineStats {
  invocationsTotal = 0;
  invocationsSuccess = 0;
  invocationsError = 0;
  invocationsDeferred = 0;
  workerSpawns = 0;
  workerDeaths = 0;
  readonly #byFunction = new Map<string, number>();
  readonly #durationsMs = new RingBuffer<number>(DURATION_SAMPLES);

  recordInvocation(functionId: string, ownerType: "builtin" | "worker", outcome: "success" | "error", durationMs: number): void {
    this.invocationsTotal++;
    if (ownerType === "worker") this.invocationsDeferred++;
    else if (outcome === "success") this.invocationsSuccess++;
    else this.invocationsError++;
    this.#byFunction.set(functionId, (this.#byFunction.get(functionId) ?? 0) + 1);
    this.#durationsMs.push(durationMs);
  }

  recordWorkerConnected(): void {
    this.workerSpawns++;
  }

  recordWorkerDisconnected(): void {
    this.workerDeaths++;
  }

  /** Returns the value of a built-in alert metric (`iii.invocations.*`, `iii.workers.*`), or undefined for other names. */
  builtinMetric(name: string, activeWorkers: number): number | undefined {
    switch (name) {
      case "iii.invocations.total":
        return this.invocationsTotal;
      case "iii.invocations.success":
        return this.invocationsSuccess;
      case "iii.invocations.error":
        return this.invocationsError;
      case "iii.invocations.deferred":
        return this.invocationsDeferred;
      case "iii.workers.spawns":
        return this.workerSpawns;
      case "iii.workers.deaths":
        return this.workerDeaths;
      case "iii.workers.active":
        return activeWorkers;
      default:
        return undefined;
    }
  }

  toJson(activeWorkers: number): JsonValue {
    const durations = this.#durationsMs.toArray().sort((a, b) => a - b);
    const at = (p: number) => (durations.length === 0 ? 0 : durations[Math.min(durations.length - 1, Math.floor(durations.length * p))]!);
    const sum = durations.reduce((a, b) => a + b, 0);
    return {
      invocations: {
        total: this.invocationsTotal,
        success: this.invocationsSuccess,
        error: this.invocationsError,
        deferred: this.invocationsDeferred,
        by_function: Object.fromEntries(this.#byFunction),
      },
      workers: { spawns: this.workerSpawns, deaths: this.workerDeaths, active: activeWorkers },
      performance: {
        avg_duration_ms: durations.length === 0 ? 0 : sum / durations.length,
        p50_duration_ms: at(0.5),
        p95_duration_ms: at(0.95),
        p99_duration_ms: at(0.99),
        min_duration_ms: durations[0] ?? 0,
        max_duration_ms: durations[durations.length - 1] ?? 0,
      },
    };
  }
}
