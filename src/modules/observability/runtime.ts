import type { AlertManager } from "./alerts.ts";
import type { ObservabilityConfig } from "./config.ts";
import type { EngineStats } from "./engine-stats.ts";
import type { LogPipeline } from "./log-pipeline.ts";
import type { LogStore } from "./log-store.ts";
import type { MetricStore } from "./metric-store.ts";
import type { RollupStore } from "./rollups.ts";
import type { SpanStore } from "./span-store.ts";

/** The stores and services the observability built-in functions work on. */
export interface ObservabilityRuntime {
  config: ObservabilityConfig;
  engineVersion: string;
  /** Null when engine tracing is off (`enabled: false`). */
  spans: SpanStore | null;
  logs: LogStore;
  logPipeline: LogPipeline;
  metrics: MetricStore;
  rollups: RollupStore;
  stats: EngineStats;
  alerts: AlertManager;
  activeWorkers(): number;
  now(): number;
  random(): number;
}
