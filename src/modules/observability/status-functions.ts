import type { EngineContext } from "../../core/context.ts";
import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { JsonValue } from "../../util/json.ts";
import { InputReader } from "./input.ts";
import { aggregatedToJson, metricToJson } from "./metric-store.ts";
import { ROLLUP_LEVEL_MS } from "./rollups.ts";
import type { ObservabilityRuntime } from "./runtime.ts";

const DEFAULT_ROLLUP_WINDOW_MS = 3_600_000;

/** Registers the metrics, rollup, sampling, health and alert functions. */
export function registerStatusFunctions(context: EngineContext, runtime: ObservabilityRuntime): void {
  context.registerFunction({ id: "engine::metrics::list", description: "Engine counters and stored SDK metrics" }, (data) => listMetrics(data, runtime));
  context.registerFunction({ id: "engine::rollups::list", description: "Per-minute, 5-minute or hourly rollups of SDK metrics" }, (data) =>
    listRollups(data, runtime),
  );

  context.registerFunction({ id: "engine::sampling::rules", description: "Trace and log sampling settings" }, () => {
    const sampling = runtime.config.sampling;
    return {
      traces: {
        default_ratio: sampling.defaultRatio,
        rules: sampling.rules.map((rule) => ({ operation: rule.operation ?? null, service: rule.service ?? null, rate: rule.rate })),
        parent_based: sampling.parentBased,
      },
      logs: { sampling_ratio: runtime.config.logsSamplingRatio },
      timestamp: runtime.now(),
    };
  });

  context.registerFunction({ id: "engine::health::check", description: "Status of the tracing, metric, log and span stores" }, () => health(runtime));

  context.registerFunction({ id: "engine::alerts::list", description: "State of every alert rule" }, (): JsonValue => {
    const alerts = runtime.alerts;
    if (!alerts.hasRules) return { alerts: [], firing_count: 0, message: "Alert manager not initialized", timestamp: runtime.now() };
    return { alerts: alerts.list(), firing_count: alerts.firingCount, timestamp: runtime.now() };
  });

  context.registerFunction({ id: "engine::alerts::evaluate", description: "Evaluate every alert rule now" }, (): JsonValue => {
    const alerts = runtime.alerts;
    if (!alerts.hasRules) return { evaluated: false, message: "Alert manager not initialized", timestamp: runtime.now() };
    return { evaluated: true, triggered_alerts: alerts.evaluate() as unknown as JsonValue, timestamp: runtime.now() };
  });
}

function listMetrics(data: JsonValue, runtime: ObservabilityRuntime): JsonValue {
  const input = new InputReader("engine::metrics::list", data);
  const startMs = input.number("start_time");
  const endMs = input.number("end_time");
  const name = input.string("metric_name");
  const intervalSeconds = input.number("aggregate_interval");
  if (intervalSeconds !== undefined && intervalSeconds <= 0) {
    throw new EngineError(ErrorCode.deserializationError, "Failed to deserialize input for engine::metrics::list: 'aggregate_interval' must be above 0 seconds");
  }

  const result: { [key: string]: JsonValue } = {
    engine_metrics: runtime.stats.toJson(runtime.activeWorkers()),
    sdk_metrics: runtime.metrics.query({ startMs, endMs, name }).map(metricToJson),
    timestamp: runtime.now(),
  };
  if (startMs !== undefined && endMs !== undefined && intervalSeconds !== undefined) {
    const aggregated = runtime.metrics.aggregate(startMs, endMs, intervalSeconds * 1000, name).map(aggregatedToJson);
    if (aggregated.length > 0) result.aggregated_metrics = aggregated;
  }
  if (startMs !== undefined || endMs !== undefined || intervalSeconds !== undefined) {
    result.query = {
      start_time: startMs ?? null,
      end_time: endMs ?? null,
      metric_name: name ?? null,
      aggregate_interval: intervalSeconds ?? null,
    };
  }
  return result;
}

function listRollups(data: JsonValue, runtime: ObservabilityRuntime): JsonValue {
  const input = new InputReader("engine::rollups::list", data);
  const level = input.integer("level") ?? 0;
  if (level >= ROLLUP_LEVEL_MS.length) {
    throw new EngineError(ErrorCode.deserializationError, "Failed to deserialize input for engine::rollups::list: 'level' must be 0 (1 minute), 1 (5 minutes) or 2 (1 hour)");
  }
  const endMs = input.number("end_time") ?? runtime.now();
  const startMs = input.number("start_time") ?? endMs - DEFAULT_ROLLUP_WINDOW_MS;
  const name = input.string("metric_name");

  const { rollups, histogramRollups } = runtime.rollups.list(level, startMs, endMs, name);
  return {
    rollups,
    histogram_rollups: histogramRollups,
    level,
    query: { start_time: startMs, end_time: endMs, level, metric_name: name ?? null },
    timestamp: runtime.now(),
  };
}

function health(runtime: ObservabilityRuntime): JsonValue {
  const config = runtime.config;
  const disabled = { status: "disabled", details: null };
  return {
    status: "healthy",
    components: {
      otel: config.enabled
        ? { status: "healthy", details: { service_name: config.serviceName, exporter: config.exporter, sampling_ratio: config.sampling.defaultRatio } }
        : disabled,
      metrics: {
        status: "healthy",
        details: { stored_metrics: runtime.metrics.size, max_count: runtime.metrics.maxCount, retention_seconds: config.metricsRetentionSeconds },
      },
      logs: { status: "healthy", details: { stored_logs: runtime.logs.size, max_count: runtime.logs.capacity } },
      spans: runtime.spans ? { status: "healthy", details: { stored_spans: runtime.spans.size, max_spans: runtime.spans.capacity } } : disabled,
    },
    timestamp: runtime.now(),
    version: runtime.engineVersion,
  };
}
