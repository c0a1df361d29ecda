import type { EngineContext } from "../../core/context.ts";
import { EngineError, ErrorCode } from "../../core/errors.ts";
import { parseBaggageHeader } from "../../telemetry/tracing.ts";
import type { JsonValue } from "../../util/json.ts";
import { InputReader } from "./input.ts";
import type { ObservabilityRuntime } from "./runtime.ts";
import { spanToJson, type SpanStore } from "./span-store.ts";

const DEFAULT_SPAN_LIMIT = 100;

/** Registers `engine::traces::*` and `engine::baggage::*`. */
export function registerTraceFunctions(context: EngineContext, runtime: ObservabilityRuntime): void {
  context.registerFunction({ id: "engine::traces::list", description: "List stored root spans with filters and paging" }, (data) => {
    const store = requireSpanStore(runtime);
    const input = new InputReader("engine::traces::list", data);
    const offset = input.integer("offset") ?? 0;
    const limit = input.integer("limit") ?? DEFAULT_SPAN_LIMIT;
    const { spans, total } = store.list({
      traceId: input.string("trace_id"),
      serviceName: input.string("service_name"),
      name: input.string("name"),
      status: input.string("status"),
      minDurationMs: input.number("min_duration_ms"),
      maxDurationMs: input.number("max_duration_ms"),
      startTimeMs: input.number("start_time"),
      endTimeMs: input.number("end_time"),
      attributes: input.pairs("attributes"),
      includeInternal: input.boolean("include_internal") ?? false,
      sortBy: input.oneOf("sort_by", ["start_time", "duration", "name"] as const) ?? "start_time",
      sortOrder: input.oneOf("sort_order", ["asc", "desc"] as const) ?? "asc",
      offset,
      limit,
    });
    return { spans: spans.map(spanToJson), total, offset, limit };
  });

  context.registerFunction({ id: "engine::traces::tree", description: "Show the spans of one trace as a tree" }, (data) => {
    const store = requireSpanStore(runtime);
    const traceId = new InputReader("engine::traces::tree", data).requiredString("trace_id");
    return { roots: store.tree(traceId) };
  });

  context.registerFunction({ id: "engine::traces::clear", description: "Delete every stored span" }, () => {
    requireSpanStore(runtime).clear();
    return { success: true };
  });

  registerBaggageFunctions(context);
}

function registerBaggageFunctions(context: EngineContext): void {
  context.registerFunction({ id: "engine::baggage::get", description: "Read one baggage entry of the caller's trace context" }, (data, call) => {
    const key = new InputReader("engine::baggage::get", data).requiredString("key");
    return { value: parseBaggageHeader(call.baggage)[key] ?? null };
  });

  context.registerFunction({ id: "engine::baggage::set", description: "Explain where baggage is set (it travels with the caller's trace context)" }, (data) => {
    const input = new InputReader("engine::baggage::set", data);
    input.requiredString("key");
    input.requiredString("value");
    return {
      success: true,
      note: "baggage travels in the caller's trace context; set it in the worker (for example with the SDK's setBaggageEntry) before calling",
    };
  });

  context.registerFunction({ id: "engine::baggage::get_all", description: "Read every baggage entry of the caller's trace context" }, (_data, call) => {
    return { baggage: parseBaggageHeader(call.baggage) } as JsonValue;
  });
}

function requireSpanStore(runtime: ObservabilityRuntime): SpanStore {
  if (runtime.spans) return runtime.spans;
  throw new EngineError(
    ErrorCode.memoryExporterNotEnabled,
    "the span store is off because engine tracing is disabled; set 'enabled: true' in the observability module config (or OTEL_ENABLED=true)",
  );
}
