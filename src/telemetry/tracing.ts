import {
  ROOT_CONTEXT,
  SpanKind as OtelSpanKind,
  SpanStatusCode,
  TraceFlags,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Link,
} from "@opentelemetry/api";
import { CompositePropagator, ExportResultCode, W3CBaggagePropagator, W3CTraceContextPropagator, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { Resource } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SamplingDecision,
  type ReadableSpan,
  type Sampler,
  type SamplingResult,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { WireError } from "../core/errors.ts";
import type { ActiveSpan, SpanKind, SpanOptions, Tracing } from "../core/tracing.ts";

/** A finished, sampled span in the shape the in-memory span store keeps. */
export interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  startNanos: bigint;
  endNanos: bigint;
  status: "unset" | "ok" | "error";
  statusDescription?: string;
  attributes: Array<[string, string]>;
  serviceName: string;
  events: Array<{ name: string; timeNanos: bigint; attributes: Array<[string, string]> }>;
  links: Array<{ traceId: string; spanId: string; traceState: string; attributes: Array<[string, string]> }>;
  scopeName?: string;
  scopeVersion?: string;
  flags?: number;
}

/** Decides whether a new span is recorded; `parentSampled` is undefined for a span without a parent. */
export interface SpanSamplingPolicy {
  shouldSample(spanName: string, traceId: string, parentSampled: boolean | undefined): boolean;
}

export interface OtelTracingOptions {
  serviceName: string;
  serviceVersion: string;
  serviceNamespace?: string;
  scopeVersion: string;
  sampling: SpanSamplingPolicy;
  /** Receives each sampled span as it ends (the memory exporter). */
  onSpanEnd?: (span: FinishedSpan) => void;
  /** Sends spans in batches as OTLP/JSON over HTTP to this URL (for example `http://127.0.0.1:4318/v1/traces`). */
  otlpUrl?: string;
  /** Called when an OTLP export fails; exports run in the background, so this is the only trace of it. */
  onExportError?: (message: string) => void;
}

const SCOPE_NAME = "iii";
const OTLP_EXPORT_TIMEOUT_MS = 10_000;
const OTLP_BATCH_DELAY_MS = 1_000;

const KIND: Record<SpanKind, OtelSpanKind> = {
  server: OtelSpanKind.SERVER,
  client: OtelSpanKind.CLIENT,
  producer: OtelSpanKind.PRODUCER,
  consumer: OtelSpanKind.CONSUMER,
  internal: OtelSpanKind.INTERNAL,
};

/**
 * The engine's tracing through the OpenTelemetry SDK. Parent context comes from
 * the W3C `traceparent` and `baggage` headers (W3C Trace Context, section 3.2;
 * W3C Baggage, section 3) and is injected again for the next hop. The provider
 * is never registered globally, so several engines (and SDK workers) can share
 * one process.
 */
export class OtelTracing implements Tracing {
  readonly recording = true;
  readonly #provider: BasicTracerProvider;
  readonly #tracer: ReturnType<BasicTracerProvider["getTracer"]>;
  readonly #onExportError: (message: string) => void;
  readonly #propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

  constructor(options: OtelTracingOptions) {
    this.#onExportError = options.onExportError ?? (() => {});
    const resource = new Resource({
      "service.name": options.serviceName,
      "service.version": options.serviceVersion,
      ...(options.serviceNamespace ? { "service.namespace": options.serviceNamespace } : {}),
    });
    const spanProcessors: SpanProcessor[] = [];
    if (options.onSpanEnd) spanProcessors.push(new CallbackSpanProcessor(options.serviceName, options.onSpanEnd));
    if (options.otlpUrl) {
      const exporter = new ReportingExporter(new OTLPTraceExporter({ url: options.otlpUrl, timeoutMillis: OTLP_EXPORT_TIMEOUT_MS }), options.onExportError);
      spanProcessors.push(new BatchSpanProcessor(exporter, { scheduledDelayMillis: OTLP_BATCH_DELAY_MS, exportTimeoutMillis: OTLP_EXPORT_TIMEOUT_MS }));
    }
    this.#provider = new BasicTracerProvider({ resource, sampler: new PolicySampler(options.sampling), spanProcessors });
    this.#tracer = this.#provider.getTracer(SCOPE_NAME, options.scopeVersion);
  }

  startSpan(options: SpanOptions): ActiveSpan {
    const parent = this.#extract(options.traceparent, options.baggage);
    const span = this.#tracer.startSpan(options.name, { kind: KIND[options.kind ?? "internal"], attributes: options.attributes }, parent);

    const carrier: Record<string, string> = {};
    this.#propagator.inject(trace.setSpan(parent, span), carrier, defaultTextMapSetter);
    let ended = false;
    return {
      traceparent: carrier.traceparent ?? options.traceparent,
      baggage: carrier.baggage ?? options.baggage,
      setAttribute: (key, value) => span.setAttribute(key, value),
      end: (error?: WireError) => {
        if (ended) return;
        ended = true;
        if (error) {
          span.setAttribute("iii.error.code", error.code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        } else {
          span.setStatus({ code: SpanStatusCode.OK });
        }
        span.end();
      },
    };
  }

  /** Exports what is still queued, then stops the exporters; a failed final export is reported, not thrown. */
  async shutdown(): Promise<void> {
    try {
      await this.#provider.shutdown();
    } catch (error) {
      this.#onExportError((error as Error).message);
    }
  }

  #extract(traceparent: string | undefined, baggage: string | undefined): Context {
    if (!traceparent && !baggage) return ROOT_CONTEXT;
    const carrier: Record<string, string> = {};
    if (traceparent) carrier.traceparent = traceparent;
    if (baggage) carrier.baggage = baggage;
    return this.#propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  }
}

/** Parses a W3C `baggage` header (W3C Baggage, section 3) into its entries; a missing or invalid header gives none. */
export function parseBaggageHeader(header: string | undefined): Record<string, string> {
  if (!header) return {};
  const context = new W3CBaggagePropagator().extract(ROOT_CONTEXT, { baggage: header }, defaultTextMapGetter);
  const baggage = propagation.getBaggage(context);
  if (!baggage) return {};
  return Object.fromEntries(baggage.getAllEntries().map(([key, entry]) => [key, entry.value]));
}

/** Converts OTel timestamps (`[seconds, nanoseconds]`) to nanoseconds since the Unix epoch. */
function hrTimeToNanos(time: [number, number]): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}

function attributePairs(attributes: Attributes): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    pairs.push([key, typeof value === "string" ? value : JSON.stringify(value)]);
  }
  return pairs;
}

function toFinishedSpan(span: ReadableSpan, serviceName: string): FinishedSpan {
  const context = span.spanContext();
  let status: FinishedSpan["status"] = "unset";
  if (span.status.code === SpanStatusCode.ERROR) status = "error";
  else if (span.status.code === SpanStatusCode.OK) status = "ok";
  const finished: FinishedSpan = {
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanId ?? null,
    name: span.name,
    startNanos: hrTimeToNanos(span.startTime),
    endNanos: hrTimeToNanos(span.endTime),
    status,
    attributes: attributePairs(span.attributes),
    serviceName,
    events: span.events.map((event) => ({ name: event.name, timeNanos: hrTimeToNanos(event.time), attributes: attributePairs(event.attributes ?? {}) })),
    links: span.links.map((link: Link) => ({
      traceId: link.context.traceId,
      spanId: link.context.spanId,
      traceState: link.context.traceState?.serialize() ?? "",
      attributes: attributePairs(link.attributes ?? {}),
    })),
    scopeName: span.instrumentationLibrary.name,
    flags: context.traceFlags,
  };
  if (span.status.message) finished.statusDescription = span.status.message;
  if (span.instrumentationLibrary.version) finished.scopeVersion = span.instrumentationLibrary.version;
  return finished;
}

/** Hands each sampled span to a callback as it ends; used for the in-memory store. */
class CallbackSpanProcessor implements SpanProcessor {
  readonly #serviceName: string;
  readonly #onSpanEnd: (span: FinishedSpan) => void;

  constructor(serviceName: string, onSpanEnd: (span: FinishedSpan) => void) {
    this.#serviceName = serviceName;
    this.#onSpanEnd = onSpanEnd;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    this.#onSpanEnd(toFinishedSpan(span, this.#serviceName));
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}

/** Passes exports through and reports failures, which the batch processor would otherwise swallow. */
class ReportingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #onError: (message: string) => void;

  constructor(inner: SpanExporter, onError: ((message: string) => void) | undefined) {
    this.#inner = inner;
    this.#onError = onError ?? (() => {});
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.#onError(result.error?.message ?? "export failed");
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Adapts a `SpanSamplingPolicy` to the SDK's sampler interface. */
class PolicySampler implements Sampler {
  readonly #policy: SpanSamplingPolicy;

  constructor(policy: SpanSamplingPolicy) {
    this.#policy = policy;
  }

  shouldSample(context: Context, traceId: string, spanName: string): SamplingResult {
    const parent = trace.getSpanContext(context);
    const parentSampled = parent && trace.isSpanContextValid(parent) ? (parent.traceFlags & TraceFlags.SAMPLED) !== 0 : undefined;
    const sampled = this.#policy.shouldSample(spanName, traceId, parentSampled);
    return { decision: sampled ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }

  toString(): string {
    return "PolicySampler";
  }
}
