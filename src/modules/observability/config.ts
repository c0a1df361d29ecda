import {
  describeValue,
  expectObject,
  joinPath,
  readBoolean,
  readEnum,
  readInteger,
  readNumber,
  readOptionalString,
  readString,
  readStringList,
  rejectUnknownKeys,
  type ConfigObject,
} from "../../config/schema.ts";
import { ConfigError } from "../../core/errors.ts";
import { createLogger, LOG_LEVELS, type LogFormat, type LogLevelName } from "../../telemetry/logger.ts";
import { parseAlertRules, type AlertRule } from "./alert-rules.ts";
import type { SamplingRule, SamplingSettings } from "./sampler.ts";

export type SpanExporterKind = "otlp" | "memory" | "both";

export interface PrometheusConfig {
  enabled: boolean;
  host: string;
  port: number;
}

/** The observability module's settings after defaults and environment fallbacks. */
export interface ObservabilityConfig {
  enabled: boolean;
  serviceName: string;
  serviceVersion: string;
  serviceNamespace?: string;
  exporter: SpanExporterKind;
  endpoint: string;
  sampling: SamplingSettings;
  memoryMaxSpans: number;
  metricsEnabled: boolean;
  metricsExporter: "memory" | "otlp";
  metricsRetentionSeconds: number;
  metricsMaxCount: number;
  logsEnabled: boolean;
  logsExporter: "memory" | "otlp" | "both";
  logsMaxCount: number;
  logsRetentionSeconds: number;
  logsBatchSize: number;
  logsFlushIntervalMs: number;
  logsSamplingRatio: number;
  logsConsoleOutput: boolean;
  alerts: AlertRule[];
  /** Hosts that webhook alerts may target; null (the key left out) allows any host. */
  alertWebhookHosts: string[] | null;
  logLevel?: LogLevelName;
  logFormat?: LogFormat;
  prometheus: PrometheusConfig;
  deploymentEnvironment?: string;
}

/** Every key the module accepts; any other key is a config error. */
export const CONFIG_KEYS = [
  "enabled",
  "service_name",
  "service_version",
  "service_namespace",
  "exporter",
  "endpoint",
  "sampling_ratio",
  "sampling",
  "memory_max_spans",
  "metrics_enabled",
  "metrics_exporter",
  "metrics_retention_seconds",
  "metrics_max_count",
  "logs_enabled",
  "logs_exporter",
  "logs_max_count",
  "logs_retention_seconds",
  "logs_batch_size",
  "logs_flush_interval_ms",
  "logs_sampling_ratio",
  "logs_console_output",
  "alerts",
  "alert_webhook_hosts",
  "level",
  "log_level",
  "format",
  "prometheus",
] as const;

/** Config keys and the environment variable each falls back to when the key is absent. */
const ENV_FALLBACKS: Record<string, string> = {
  enabled: "OTEL_ENABLED",
  service_name: "OTEL_SERVICE_NAME",
  service_version: "SERVICE_VERSION",
  service_namespace: "SERVICE_NAMESPACE",
  exporter: "OTEL_EXPORTER_TYPE",
  endpoint: "OTEL_EXPORTER_OTLP_ENDPOINT",
  sampling_ratio: "OTEL_TRACES_SAMPLER_ARG",
  memory_max_spans: "OTEL_MEMORY_MAX_SPANS",
  metrics_enabled: "OTEL_METRICS_ENABLED",
  metrics_exporter: "OTEL_METRICS_EXPORTER",
  metrics_retention_seconds: "OTEL_METRICS_RETENTION_SECONDS",
  metrics_max_count: "OTEL_METRICS_MAX_COUNT",
  logs_exporter: "OTEL_LOGS_EXPORTER",
  logs_batch_size: "OTEL_LOGS_BATCH_SIZE",
  logs_flush_interval_ms: "OTEL_LOGS_FLUSH_INTERVAL_MS",
};

const BOOLEAN_ENV_KEYS = new Set(["enabled", "metrics_enabled"]);

/** OTLP/HTTP receivers listen on 4318 by convention (4317 is OTLP/gRPC, which the engine does not speak). */
export const DEFAULT_OTLP_ENDPOINT = "http://localhost:4318";

/**
 * Validates the module config. A key missing from the config falls back to its
 * environment variable, then to the default. With `asDefaultModule` (the module
 * loaded without a config file), tracing defaults to on with the memory exporter.
 */
export function parseObservabilityConfig(
  raw: unknown,
  path: string,
  env: Record<string, string | undefined>,
  asDefaultModule: boolean,
): ObservabilityConfig {
  const given = expectObject(raw, path);
  const logger = createLogger("observability");
  // The module's config is lenient, as in the reference engine: unknown keys are logged and ignored.
  for (const key of Object.keys(given)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) logger.warn(`${joinPath(path, key)}: unknown key '${key}' is ignored; known keys: ${CONFIG_KEYS.join(", ")}`);
  }
  const config = withEnvFallbacks(given, env);
  const read = <T>(key: string, reader: (object: ConfigObject, key: string, path: string) => T): T => {
    if (key in given || !(key in ENV_FALLBACKS)) return reader(config, key, path);
    const variable = ENV_FALLBACKS[key]!;
    try {
      return reader({ [variable]: config[key] }, variable, "environment");
    } catch (error) {
      // A bad environment value falls back to the default instead of stopping start-up.
      if (!(error instanceof ConfigError)) throw error;
      logger.warn(`${error.message}; using the default`);
      return reader({}, variable, "environment");
    }
  };

  const samplingRatio = read("sampling_ratio", (o, k, p) => readNumber(o, k, p, { fallback: 1, min: 0, max: 1 }));
  // Without the key, webhooks may go to any host; listing hosts restricts them.
  const webhookHosts = config.alert_webhook_hosts === undefined ? null : readStringList(config, "alert_webhook_hosts", path, []);
  const namespace = read("service_namespace", readOptionalString);

  return {
    enabled: read("enabled", (o, k, p) => readBoolean(o, k, p, asDefaultModule)),
    serviceName: read("service_name", (o, k, p) => readString(o, k, p, "iii")),
    serviceVersion: read("service_version", (o, k, p) => readString(o, k, p, "unknown")),
    ...(namespace ? { serviceNamespace: namespace } : {}),
    exporter: read("exporter", (o, k, p) => readEnum(o, k, p, ["otlp", "memory", "both"] as const, asDefaultModule ? "memory" : "otlp")),
    endpoint: read("endpoint", (o, k, p) => readString(o, k, p, DEFAULT_OTLP_ENDPOINT)),
    sampling: parseSampling(config.sampling, joinPath(path, "sampling"), samplingRatio),
    memoryMaxSpans: read("memory_max_spans", (o, k, p) => readInteger(o, k, p, { fallback: 1000, min: 1 })),
    // NOTE: metrics_enabled, metrics_exporter, logs_enabled, logs_exporter, logs_batch_size and logs_flush_interval_ms
    // are validated but change nothing: there is no OTLP export of metrics or logs, and both stay in memory.
    metricsEnabled: read("metrics_enabled", (o, k, p) => readBoolean(o, k, p, false)),
    metricsExporter: read("metrics_exporter", (o, k, p) => readEnum(o, k, p, ["memory", "otlp"] as const, "memory")),
    metricsRetentionSeconds: read("metrics_retention_seconds", (o, k, p) => readInteger(o, k, p, { fallback: 3600, min: 1 })),
    metricsMaxCount: read("metrics_max_count", (o, k, p) => readInteger(o, k, p, { fallback: 10_000, min: 1 })),
    logsEnabled: readBoolean(config, "logs_enabled", path, true),
    logsExporter: read("logs_exporter", (o, k, p) => readEnum(o, k, p, ["memory", "otlp", "both"] as const, "memory")),
    logsMaxCount: readInteger(config, "logs_max_count", path, { fallback: 1000, min: 1 }),
    logsRetentionSeconds: readInteger(config, "logs_retention_seconds", path, { fallback: 3600, min: 1 }),
    logsBatchSize: read("logs_batch_size", (o, k, p) => readInteger(o, k, p, { fallback: 100, min: 1, max: 10_000 })),
    logsFlushIntervalMs: clamp(read("logs_flush_interval_ms", (o, k, p) => readInteger(o, k, p, { fallback: 5000 })), 100, 3_600_000),
    logsSamplingRatio: readNumber(config, "logs_sampling_ratio", path, { fallback: 1, min: 0, max: 1 }),
    logsConsoleOutput: readBoolean(config, "logs_console_output", path, true),
    alerts: parseAlertRules(config.alerts, joinPath(path, "alerts"), webhookHosts),
    alertWebhookHosts: webhookHosts,
    ...parseLogging(config, path),
    prometheus: parsePrometheus(config.prometheus, joinPath(path, "prometheus")),
    ...(env.DEPLOYMENT_ENVIRONMENT ? { deploymentEnvironment: env.DEPLOYMENT_ENVIRONMENT } : {}),
  };
}

/** Fills keys missing from the config with their environment variables; `OTEL_ENABLED` style flags are on for `true` or `1`. */
function withEnvFallbacks(given: ConfigObject, env: Record<string, string | undefined>): ConfigObject {
  const merged: ConfigObject = { ...given };
  for (const [key, name] of Object.entries(ENV_FALLBACKS)) {
    if (given[key] !== undefined && given[key] !== null) continue;
    const value = env[name];
    if (value === undefined || value === "") continue;
    merged[key] = BOOLEAN_ENV_KEYS.has(key) ? ["true", "1"].includes(value.trim().toLowerCase()) : value;
  }
  return merged;
}

function parseSampling(raw: unknown, path: string, defaultRatio: number): SamplingSettings {
  const object = expectObject(raw, path);
  rejectUnknownKeys(object, ["default", "rules", "parent_based", "rate_limit"], path);

  const rulesRaw = object.rules ?? [];
  if (!Array.isArray(rulesRaw)) throw new ConfigError(`${joinPath(path, "rules")}: expected a list of rules, got ${describeValue(rulesRaw)}`);
  const rules = rulesRaw.map((item, index): SamplingRule => {
    const rulePath = joinPath(joinPath(path, "rules"), index);
    const rule = expectObject(item, rulePath);
    rejectUnknownKeys(rule, ["operation", "service", "rate"], rulePath);
    if (rule.rate === undefined) throw new ConfigError(`${joinPath(rulePath, "rate")}: missing; give a sampling rate from 0 to 1`);
    const operation = readOptionalString(rule, "operation", rulePath);
    const service = readOptionalString(rule, "service", rulePath);
    return {
      ...(operation !== undefined ? { operation } : {}),
      ...(service !== undefined ? { service } : {}),
      rate: readNumber(rule, "rate", rulePath, { fallback: 1, min: 0, max: 1 }),
    };
  });

  const rateLimitPath = joinPath(path, "rate_limit");
  const rateLimit = expectObject(object.rate_limit, rateLimitPath);
  rejectUnknownKeys(rateLimit, ["max_traces_per_second"], rateLimitPath);
  const maxTracesPerSecond =
    rateLimit.max_traces_per_second === undefined ? undefined : readNumber(rateLimit, "max_traces_per_second", rateLimitPath, { fallback: 0, min: 0 });

  return {
    defaultRatio: readNumber(object, "default", path, { fallback: defaultRatio, min: 0, max: 1 }),
    rules,
    parentBased: readBoolean(object, "parent_based", path, false),
    ...(maxTracesPerSecond !== undefined ? { maxTracesPerSecond } : {}),
  };
}

/**
 * Reads `level` (or its alias `log_level`) and `format`. `level` takes a level
 * name or a filter list such as `iii=debug,info`. Engine log lines have no
 * per-target filter, so an entry for the `iii` target sets the level, else the
 * entry without a target does, else the most verbose targeted entry.
 */
function parseLogging(config: ConfigObject, path: string): { logLevel?: LogLevelName; logFormat?: LogFormat } {
  const key = config.level !== undefined && config.level !== null ? "level" : "log_level";
  const raw = readOptionalString(config, key, path);
  const format = readOptionalString(config, "format", path);
  const result: { logLevel?: LogLevelName; logFormat?: LogFormat } = {};
  if (format !== undefined) result.logFormat = format.trim().toLowerCase() === "json" ? "json" : "default";
  if (raw === undefined) return result;

  let fallback: LogLevelName | undefined;
  let engineLevel: LogLevelName | undefined;
  let mostVerbose: LogLevelName | undefined;
  for (const directive of raw.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const [target, levelText] = directive.includes("=") ? directive.split("=", 2) : [undefined, directive];
    const level = (levelText ?? "").trim().toLowerCase();
    if (!(LOG_LEVELS as readonly string[]).includes(level)) {
      throw new ConfigError(`${joinPath(path, key)}: unknown log level '${levelText}' in '${raw}'; use one of ${LOG_LEVELS.join(", ")}`);
    }
    const name = level as LogLevelName;
    if (target === undefined) fallback = name;
    else if (/^iii($|[_:])/.test(target.trim())) engineLevel = name;
    else if (mostVerbose === undefined || LOG_LEVELS.indexOf(name) > LOG_LEVELS.indexOf(mostVerbose)) mostVerbose = name;
  }
  const level = engineLevel ?? fallback ?? mostVerbose;
  if (level !== undefined) result.logLevel = level;
  return result;
}

function parsePrometheus(raw: unknown, path: string): PrometheusConfig {
  const object = expectObject(raw, path);
  rejectUnknownKeys(object, ["enabled", "host", "port"], path);
  return {
    enabled: readBoolean(object, "enabled", path, true),
    host: readString(object, "host", path, "127.0.0.1"),
    port: readInteger(object, "port", path, { fallback: 9464, max: 65_535 }),
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
