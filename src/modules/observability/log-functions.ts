import type { EngineContext } from "../../core/context.ts";
import type { CallContext } from "../../core/function-registry.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import { InputReader } from "./input.ts";
import { logToJson, type LogRecordEntry } from "./log-store.ts";
import { millisToNanos, readHexId } from "./otlp-values.ts";
import type { ObservabilityRuntime } from "./runtime.ts";

/** `engine::log::<level>` severities, as OTel numbers them. */
const LOG_LEVELS = [
  { level: "trace", number: 1, text: "TRACE" },
  { level: "debug", number: 5, text: "DEBUG" },
  { level: "info", number: 9, text: "INFO" },
  { level: "warn", number: 13, text: "WARN" },
  { level: "error", number: 17, text: "ERROR" },
] as const;

/** Registers `engine::log::{trace,debug,info,warn,error}` and `engine::logs::{list,clear}`. */
export function registerLogFunctions(context: EngineContext, runtime: ObservabilityRuntime): void {
  for (const { level, number, text } of LOG_LEVELS) {
    const id = `engine::log::${level}`;
    context.registerFunction({ id, description: `Store and print a log record at ${level} level` }, (data, call) => {
      const log = buildLog(id, data, call, runtime, number, text);
      if (runtime.random() >= runtime.config.logsSamplingRatio) return undefined;
      runtime.logPipeline.accept(log, true);
      return undefined;
    });
  }

  context.registerFunction({ id: "engine::logs::list", description: "List stored log records, newest first" }, (data) => {
    const input = new InputReader("engine::logs::list", data);
    const query = {
      startTimeMs: input.number("start_time"),
      endTimeMs: input.number("end_time"),
      traceId: input.string("trace_id"),
      spanId: input.string("span_id"),
      severityMin: input.number("severity_min"),
      severityText: input.string("severity_text"),
      offset: input.integer("offset") ?? 0,
      limit: input.integer("limit"),
    };
    const { logs, total } = runtime.logs.list(query);
    return {
      logs: logs.map(logToJson),
      total,
      query: echoQuery(query),
      timestamp: runtime.now(),
    };
  });

  context.registerFunction({ id: "engine::logs::clear", description: "Delete every stored log record" }, () => {
    runtime.logs.clear();
    return { success: true };
  });
}

/**
 * Builds a record from `{message, trace_id?, span_id?, data?, service_name?}`;
 * without ids, the trace and span of the caller's `traceparent` are used.
 */
function buildLog(id: string, data: JsonValue, call: CallContext, runtime: ObservabilityRuntime, severityNumber: number, severityText: string): LogRecordEntry {
  const input = new InputReader(id, data);
  const message = input.requiredString("message");
  const fromCall = parseTraceparent(call.traceparent);
  const extra = input.raw("data");
  const nowNanos = millisToNanos(runtime.now());
  const config = runtime.config;

  const resource: { [key: string]: string } = { "service.name": config.serviceName, "service.version": config.serviceVersion };
  if (config.serviceNamespace) resource["service.namespace"] = config.serviceNamespace;
  if (config.deploymentEnvironment) resource["deployment.environment"] = config.deploymentEnvironment;

  let attributes: { [key: string]: JsonValue } = {};
  if (isJsonObject(extra)) attributes = extra;
  else if (extra !== undefined) attributes = { data: extra };

  return {
    timeNanos: nowNanos,
    observedNanos: nowNanos,
    severityNumber,
    severityText,
    body: message,
    attributes,
    traceId: readHexId(input.string("trace_id")) ?? fromCall.traceId,
    spanId: readHexId(input.string("span_id")) ?? fromCall.spanId,
    resource,
    serviceName: input.string("service_name") ?? "unknown",
    scopeName: "iii",
    scopeVersion: runtime.engineVersion,
  };
}

/** Reads trace and span ids from a W3C `traceparent` (`00-<trace>-<span>-<flags>`, W3C Trace Context section 3.2). */
function parseTraceparent(header: string | undefined): { traceId: string | null; spanId: string | null } {
  const match = header ? /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/i.exec(header.trim()) : null;
  if (!match) return { traceId: null, spanId: null };
  return { traceId: readHexId(match[1]), spanId: readHexId(match[2]) };
}

function echoQuery(query: Record<string, string | number | undefined>): JsonValue {
  const names: Record<string, string> = {
    startTimeMs: "start_time",
    endTimeMs: "end_time",
    traceId: "trace_id",
    spanId: "span_id",
    severityMin: "severity_min",
    severityText: "severity_text",
    offset: "offset",
    limit: "limit",
  };
  const echo: { [key: string]: JsonValue } = {};
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) echo[names[key] ?? key] = value;
  }
  return echo;
}
