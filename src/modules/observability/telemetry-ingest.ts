import type { TelemetryKind } from "../../core/protocol.ts";
import type { TelemetrySink } from "../../core/telemetry-sink.ts";
import type { WorkerConnection } from "../../core/worker-connection.ts";
import type { LogRecordEntry } from "./log-store.ts";
import type { MetricRecord, MetricStore } from "./metric-store.ts";
import { MalformedTelemetryError, decodeTelemetryPayload, parseLogs, parseMetrics, parseSpans } from "./otlp-ingest.ts";
import { millisToNanos } from "./otlp-values.ts";
import type { RateLimitedWarning } from "./rate-limited-log.ts";
import type { RollupStore } from "./rollups.ts";
import type { SpanRecord, SpanStore } from "./span-store.ts";

export interface TelemetryIngestOptions {
  /** Null when engine tracing is off: SDK spans are then dropped (and still forwarded). */
  spans: SpanStore | null;
  metrics: MetricStore;
  rollups: RollupStore;
  /** Stores, prints and broadcasts one SDK log record. */
  onLog(log: LogRecordEntry): void;
  onMetrics(metrics: MetricRecord[]): void;
  /** Sends the raw OTLP/JSON span request on to a collector, when one is configured. */
  forwardSpans?(payload: Uint8Array): void;
  warnings: RateLimitedWarning;
  now?: () => number;
}

/**
 * Receives the `OTLP`, `MTRC` and `LOGS` frames SDKs send and files their
 * contents in the in-memory stores. Nothing is sent back; a frame that is not
 * UTF-8 JSON is dropped with a rate-limited warning naming the worker.
 */
export class TelemetryIngest implements TelemetrySink {
  readonly #options: TelemetryIngestOptions;
  readonly #now: () => number;

  constructor(options: TelemetryIngestOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  ingest(kind: TelemetryKind, payload: Uint8Array, worker: WorkerConnection): void {
    try {
      this.#ingest(kind, payload);
    } catch (error) {
      const reason = error instanceof MalformedTelemetryError ? error.message : `unexpected error: ${(error as Error).message}`;
      this.#options.warnings.warn(`malformed:${worker.id}`, `dropped a telemetry frame (${kind}) of ${payload.length} bytes from worker '${worker.id}': ${reason}`);
    }
  }

  #ingest(kind: TelemetryKind, payload: Uint8Array): void {
    const request = decodeTelemetryPayload(payload);
    const receivedNanos = millisToNanos(this.#now());
    switch (kind) {
      case "OTLP":
        this.#storeSpans(parseSpans(request));
        this.#options.forwardSpans?.(payload);
        return;
      case "MTRC": {
        const metrics = parseMetrics(request, receivedNanos);
        for (const metric of metrics) {
          if (this.#options.metrics.add(metric)) this.#options.rollups.add(metric);
        }
        this.#options.onMetrics(metrics);
        return;
      }
      case "LOGS":
        for (const log of parseLogs(request, receivedNanos)) this.#options.onLog(log);
        return;
      default: {
        const unknown: never = kind;
        throw new MalformedTelemetryError(`unknown telemetry kind '${String(unknown)}'`);
      }
    }
  }

  #storeSpans(spans: SpanRecord[]): void {
    const store = this.#options.spans;
    if (!store) return;
    for (const span of spans) store.add(span);
  }
}
