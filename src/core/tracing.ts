import type { WireError } from "./errors.ts";

export type SpanKind = "server" | "client" | "producer" | "consumer" | "internal";
export type SpanAttributes = Record<string, string | number | boolean>;

/** Settings of a new span; `traceparent` and `baggage` are the W3C trace context headers of the parent. */
export interface SpanOptions {
  name: string;
  kind?: SpanKind;
  traceparent?: string;
  baggage?: string;
  attributes?: SpanAttributes;
}

/** A started span; `traceparent`/`baggage` are what to send on to the next hop. */
export interface ActiveSpan {
  readonly traceparent?: string;
  readonly baggage?: string;
  setAttribute(key: string, value: string | number | boolean): void;
  end(error?: WireError): void;
}

/**
 * Starts spans for invocations, HTTP requests, queue jobs and cron ticks.
 * The observability module installs a real implementation.
 */
export interface Tracing {
  /** False when spans are not recorded, so callers can skip building their attributes. */
  readonly recording: boolean;
  startSpan(options: SpanOptions): ActiveSpan;
}

/**
 * The tracing used while no observability module is loaded: no spans are
 * recorded, and the caller's trace context passes through to the callee
 * unchanged, so a trace still spans several workers.
 */
export const passThroughTracing: Tracing = {
  recording: false,
  startSpan(options: SpanOptions): ActiveSpan {
    return {
      traceparent: options.traceparent,
      baggage: options.baggage,
      setAttribute() {},
      end() {},
    };
  },
};
