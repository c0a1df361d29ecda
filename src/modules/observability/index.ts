import type { Server } from "bun";
import { createDroppingSink } from "../../core/telemetry-sink.ts";
import { passThroughTracing } from "../../core/tracing.ts";
import { addLogListener, configureLogging, isLogLevelName, type LogRecord, type Logger } from "../../telemetry/logger.ts";
import { EngineMetrics } from "../../telemetry/metrics.ts";
import { OtelTracing } from "../../telemetry/tracing.ts";
import type { JsonValue } from "../../util/json.ts";
import type { EngineContext, EngineModule, ModuleEnvironment, ModuleFactory } from "../module.ts";
import { AlertManager } from "./alerts.ts";
import { parseObservabilityConfig, type ObservabilityConfig } from "./config.ts";
import { EngineStats } from "./engine-stats.ts";
import { withInvocationAttributes } from "./invocation-tracing.ts";
import { registerLogFunctions } from "./log-functions.ts";
import { LogPipeline, PRINTED_LOG_TAG } from "./log-pipeline.ts";
import { LogStore, type LogRecordEntry } from "./log-store.ts";
import { MetricStore } from "./metric-store.ts";
import { millisToNanos } from "./otlp-values.ts";
import { readQueueDepths } from "./queue-depths.ts";
import { RateLimitedWarning } from "./rate-limited-log.ts";
import { RollupStore } from "./rollups.ts";
import type { ObservabilityRuntime } from "./runtime.ts";
import { RuleSampler } from "./sampler.ts";
import { SpanForwarder } from "./span-forwarder.ts";
import { SpanStore } from "./span-store.ts";
import { registerStatusFunctions } from "./status-functions.ts";
import { TelemetryIngest } from "./telemetry-ingest.ts";
import { registerTraceFunctions } from "./trace-functions.ts";
import { WorkerMetricsTracker } from "./worker-metrics.ts";

export { CONFIG_KEYS, type ObservabilityConfig } from "./config.ts";

/** How often expired logs and metrics are dropped. */
const RETENTION_SWEEP_INTERVAL_MS = 60_000;
const WARNING_INTERVAL_MS = 10_000;
const ENGINE_LOG_SEVERITY = { error: [17, "ERROR"], warn: [13, "WARN"], info: [9, "INFO"] } as const;

export const otelModuleFactory: ModuleFactory = {
  className: "modules::observability::OtelModule",
  summary: "logs, traces, metrics, Prometheus endpoint and alerts",
  create(config, path, environment): EngineModule {
    return new OtelModule(parseObservabilityConfig(config, path, environment.env, environment.defaultSet), environment);
  },
};

/** Hooks that tests replace; production uses the real clock and randomness. */
export interface OtelModuleHooks {
  now?: () => number;
  random?: () => number;
}

/**
 * Stores SDK telemetry and the engine's own spans and log lines in memory,
 * serves them through `engine::traces/logs/metrics/...`, exports engine spans
 * over OTLP/HTTP, serves Prometheus metrics and evaluates alert rules.
 */
export class OtelModule implements EngineModule {
  readonly className = otelModuleFactory.className;
  readonly config: ObservabilityConfig;
  readonly #environment: ModuleEnvironment;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #cleanups: Array<() => void | Promise<void>> = [];
  #runtime: ObservabilityRuntime | null = null;
  #prometheus: Server<unknown> | null = null;

  constructor(config: ObservabilityConfig, environment: ModuleEnvironment, hooks: OtelModuleHooks = {}) {
    this.config = config;
    this.#environment = environment;
    this.#now = hooks.now ?? Date.now;
    this.#random = hooks.random ?? Math.random;
  }

  /** The bound Prometheus port, or 0 when the endpoint is off or not started. */
  get prometheusPort(): number {
    return this.#prometheus?.port ?? 0;
  }

  /** The stores, for tests and tools running in the same process; null before `start`. */
  get runtime(): ObservabilityRuntime | null {
    return this.#runtime;
  }

  async start(context: EngineContext): Promise<void> {
    const logger = context.createLogger("observability");
    this.#applyLogging();

    const runtime = this.#createRuntime(context, logger);
    this.#runtime = runtime;
    const warnings = new RateLimitedWarning(logger, WARNING_INTERVAL_MS, this.#now);
    const metrics = new EngineMetrics({
      workersConnected: () => context.listWorkers().length,
      functionsRegistered: () => context.listFunctions().length,
      triggersRegistered: () => context.listTriggers().length,
      queueDepths: () => readQueueDepths(context),
    });

    this.#startTracing(context, runtime, warnings);
    this.#startIngest(context, runtime, warnings);
    this.#listenToEngine(context, runtime, metrics);

    await context.registerTriggerType("log", "Fires for every stored log record; config.level is 'all' or one level name", {
      register: (trigger) => runtime.logPipeline.registerTrigger(trigger),
      unregister: (trigger) => runtime.logPipeline.unregisterTrigger(trigger),
    });
    registerTraceFunctions(context, runtime);
    registerLogFunctions(context, runtime);
    registerStatusFunctions(context, runtime);

    runtime.alerts.start();
    this.#cleanups.push(() => runtime.alerts.stop());
    const sweep = setInterval(() => {
      runtime.logs.sweep(this.#now());
      runtime.metrics.sweep(this.#now());
    }, RETENTION_SWEEP_INTERVAL_MS);
    this.#cleanups.push(() => clearInterval(sweep));

    if (this.config.prometheus.enabled) this.#startPrometheus(context, metrics, logger);
  }

  async stop(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) await cleanup();
    this.#prometheus = null;
  }

  /** Applies `level` and `format` unless `--log-level`/`III_LOG_LEVEL` or `--log-format`/`III_LOG_FORMAT` chose them. */
  #applyLogging(): void {
    const { logLevel, logFormat } = this.config;
    if (logLevel === undefined && logFormat === undefined) return;
    const env = this.#environment.env;
    const level = env.III_LOG_LEVEL ? undefined : logLevel;
    const envFormat = env.III_LOG_FORMAT === "json" || env.III_LOG_FORMAT === "default" ? env.III_LOG_FORMAT : undefined;
    if (level === undefined && (envFormat !== undefined || logFormat === undefined)) return;
    configureLogging({ level, format: envFormat ?? logFormat ?? "default" });
  }

  #createRuntime(context: EngineContext, logger: Logger): ObservabilityRuntime {
    const config = this.config;
    const logs = new LogStore(config.logsMaxCount, config.logsRetentionSeconds * 1000);
    const metrics = new MetricStore(config.metricsMaxCount, config.metricsRetentionSeconds * 1000);
    const stats = new EngineStats();
    const runtime: ObservabilityRuntime = {
      config,
      engineVersion: context.version,
      spans: config.enabled ? new SpanStore(config.memoryMaxSpans) : null,
      logs,
      logPipeline: new LogPipeline({
        store: logs,
        consoleOutput: config.logsConsoleOutput,
        printer: context.createLogger(PRINTED_LOG_TAG),
        logger,
        invoke: (functionId, data) => context.invoke(functionId, data),
      }),
      metrics,
      rollups: new RollupStore(),
      stats,
      alerts: new AlertManager({
        rules: config.alerts,
        readMetric: (name, windowMs, nowMs) => stats.builtinMetric(name, context.listWorkers().length) ?? metrics.windowValue(name, windowMs, nowMs),
        invoke: (functionId, data) => context.invoke(functionId, data),
        logger,
        now: this.#now,
      }),
      activeWorkers: () => context.listWorkers().length,
      now: this.#now,
      random: this.#random,
    };
    return runtime;
  }

  #startTracing(context: EngineContext, runtime: ObservabilityRuntime, warnings: RateLimitedWarning): void {
    const config = this.config;
    if (!config.enabled) return;

    const useMemory = config.exporter !== "otlp";
    const otlpUrl = config.exporter === "memory" ? undefined : otlpTracesUrl(config.endpoint);
    const tracing = new OtelTracing({
      serviceName: config.serviceName,
      serviceVersion: config.serviceVersion,
      serviceNamespace: config.serviceNamespace,
      scopeVersion: context.version,
      sampling: new RuleSampler(config.sampling, config.serviceName, this.#now),
      onSpanEnd: useMemory && runtime.spans ? (span) => runtime.spans!.add(span) : undefined,
      otlpUrl,
      onExportError: (message) => warnings.warn("otlp-export", `exporting engine spans to '${otlpUrl}' failed: ${message}`),
    });
    context.setTracing(withInvocationAttributes(tracing));
    this.#cleanups.push(async () => {
      context.setTracing(passThroughTracing);
      await tracing.shutdown();
    });
  }

  #startIngest(context: EngineContext, runtime: ObservabilityRuntime, warnings: RateLimitedWarning): void {
    const config = this.config;
    const forwarder = config.enabled && config.exporter !== "memory" ? new SpanForwarder(otlpTracesUrl(config.endpoint), warnings) : null;
    const workerMetrics = new WorkerMetricsTracker((id) => context.getWorker(id));
    const ingest = new TelemetryIngest({
      spans: runtime.spans,
      metrics: runtime.metrics,
      rollups: runtime.rollups,
      onLog: (log) => runtime.logPipeline.accept(log, true),
      onMetrics: (metrics) => workerMetrics.update(metrics, this.#now()),
      forwardSpans: forwarder ? (payload) => forwarder.forward(payload) : undefined,
      warnings,
      now: this.#now,
    });
    context.setTelemetrySink(ingest);
    const offDisconnect = context.events.on("worker_disconnected", (worker) => workerMetrics.remove(worker.id));
    this.#cleanups.push(async () => {
      offDisconnect();
      context.setTelemetrySink(createDroppingSink(context.createLogger("telemetry")));
      await forwarder?.stop();
    });
  }

  #listenToEngine(context: EngineContext, runtime: ObservabilityRuntime, metrics: EngineMetrics): void {
    const offs = [
      context.events.on("invocation_completed", (record) => {
        runtime.stats.recordInvocation(record.functionId, record.ownerType, record.outcome, record.durationMs);
        metrics.recordInvocation(record.functionId, record.outcome, record.durationMs / 1000);
      }),
      context.events.on("http_request_completed", (record) => {
        metrics.recordHttpRequest(record.method, record.route, record.status, record.durationMs / 1000);
      }),
      context.events.on("worker_connected", () => runtime.stats.recordWorkerConnected()),
      context.events.on("worker_disconnected", () => runtime.stats.recordWorkerDisconnected()),
    ];
    // Engine log lines are stored only with engine tracing on, and only at info and above, so a
    // `log` trigger whose handler causes debug lines cannot feed itself.
    if (this.config.enabled) offs.push(addLogListener((line) => this.#storeEngineLine(runtime, line)));
    this.#cleanups.push(() => {
      for (const off of offs) off();
    });
  }

  #storeEngineLine(runtime: ObservabilityRuntime, line: LogRecord): void {
    if (line.tag === PRINTED_LOG_TAG || !isLogLevelName(line.level)) return;
    const severity = ENGINE_LOG_SEVERITY[line.level as keyof typeof ENGINE_LOG_SEVERITY];
    if (!severity) return;
    const nanos = millisToNanos(line.time.getTime());
    const log: LogRecordEntry = {
      timeNanos: nanos,
      observedNanos: nanos,
      severityNumber: severity[0],
      severityText: severity[1],
      body: line.message,
      attributes: { target: line.tag } as { [key: string]: JsonValue },
      traceId: null,
      spanId: null,
      resource: { "service.name": this.config.serviceName, "service.version": this.config.serviceVersion },
      serviceName: this.config.serviceName,
      scopeName: "iii",
      scopeVersion: runtime.engineVersion,
    };
    runtime.logPipeline.accept(log, false);
  }

  #startPrometheus(context: EngineContext, metrics: EngineMetrics, logger: Logger): void {
    const { host, port } = this.config.prometheus;
    this.#prometheus = context.listen({
      label: "Prometheus",
      host,
      port,
      fetch: async (request) => {
        const url = new URL(request.url);
        if (url.pathname !== "/metrics") return new Response("not found; metrics are served at /metrics\n", { status: 404 });
        if (request.method !== "GET" && request.method !== "HEAD") return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
        return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
      },
    });
    logger.info(`serving Prometheus metrics at http://${host.includes(":") ? `[${host}]` : host}:${this.#prometheus.port}/metrics`);
  }
}

/** Builds the OTLP/HTTP traces URL for an endpoint: `/v1/traces` is appended unless the endpoint already ends with it. */
export function otlpTracesUrl(endpoint: string): string {
  const trimmed = endpoint.replace(/\/+$/, "");
  return trimmed.endsWith("/v1/traces") ? trimmed : `${trimmed}/v1/traces`;
}
