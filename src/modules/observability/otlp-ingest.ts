import { isJsonObject, parseJson, type JsonValue } from "../../util/json.ts";
import type { LogRecordEntry } from "./log-store.ts";
import type { HistogramPoint, MetricRecord, NumberPoint } from "./metric-store.ts";
import {
  attributesToObject,
  attributesToPairs,
  anyValueToString,
  readHexId,
  readNumber,
  readUint64,
  serviceNameOf,
} from "./otlp-values.ts";
import type { SpanRecord, SpanStatus } from "./span-store.ts";

type JsonObject = { [key: string]: JsonValue };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Why a telemetry frame could not be used; the message is safe to log. */
export class MalformedTelemetryError extends Error {}

/** Decodes a frame body as UTF-8 JSON that must be an object; throws `MalformedTelemetryError` otherwise. */
export function decodeTelemetryPayload(payload: Uint8Array): JsonObject {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new MalformedTelemetryError("payload is not valid UTF-8");
  }
  let parsed: JsonValue;
  try {
    parsed = parseJson(text);
  } catch (error) {
    throw new MalformedTelemetryError(`payload is not valid JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(parsed)) throw new MalformedTelemetryError("payload is not a JSON object");
  return parsed;
}

/** Spans of an OTLP/JSON `ExportTraceServiceRequest`; entries without ids are skipped. */
export function parseSpans(request: JsonObject): SpanRecord[] {
  const spans: SpanRecord[] = [];
  for (const resourceSpans of listOf(request.resourceSpans)) {
    const serviceName = serviceNameOf(resourceSpans.resource);
    for (const scopeSpans of listOf(resourceSpans.scopeSpans)) {
      const scope = isJsonObject(scopeSpans.scope) ? scopeSpans.scope : {};
      for (const span of listOf(scopeSpans.spans)) {
        const record = parseSpan(span, serviceName, scope);
        if (record) spans.push(record);
      }
    }
  }
  return spans;
}

/** Metrics of an OTLP/JSON `ExportMetricsServiceRequest`; kinds other than gauge, sum and histogram are skipped. */
export function parseMetrics(request: JsonObject, receivedNanos: bigint): MetricRecord[] {
  const metrics: MetricRecord[] = [];
  for (const resourceMetrics of listOf(request.resourceMetrics)) {
    const serviceName = serviceNameOf(resourceMetrics.resource);
    for (const scopeMetrics of listOf(resourceMetrics.scopeMetrics)) {
      const scope = isJsonObject(scopeMetrics.scope) ? scopeMetrics.scope : {};
      for (const metric of listOf(scopeMetrics.metrics)) {
        const record = parseMetric(metric, serviceName, scope, receivedNanos);
        if (record) metrics.push(record);
      }
    }
  }
  return metrics;
}

/** Log records of an OTLP/JSON `ExportLogsServiceRequest`. */
export function parseLogs(request: JsonObject, receivedNanos: bigint): LogRecordEntry[] {
  const logs: LogRecordEntry[] = [];
  for (const resourceLogs of listOf(request.resourceLogs)) {
    const resource = isJsonObject(resourceLogs.resource) ? resourceLogs.resource : {};
    const serviceName = serviceNameOf(resource);
    const resourceAttributes = Object.fromEntries(attributesToPairs(resource.attributes));
    for (const scopeLogs of listOf(resourceLogs.scopeLogs)) {
      const scope = isJsonObject(scopeLogs.scope) ? scopeLogs.scope : {};
      for (const record of listOf(scopeLogs.logRecords)) {
        const time = readUint64(record.timeUnixNano) ?? 0n;
        const observed = readUint64(record.observedTimeUnixNano) ?? receivedNanos;
        logs.push({
          timeNanos: time === 0n ? observed : time,
          observedNanos: observed,
          severityNumber: readNumber(record.severityNumber) ?? 0,
          severityText: typeof record.severityText === "string" ? record.severityText : "",
          body: anyValueToString(record.body),
          attributes: attributesToObject(record.attributes),
          traceId: readHexId(record.traceId),
          spanId: readHexId(record.spanId),
          resource: resourceAttributes,
          serviceName,
          scopeName: typeof scope.name === "string" ? scope.name : null,
          scopeVersion: typeof scope.version === "string" ? scope.version : null,
        });
      }
    }
  }
  return logs;
}

function parseSpan(span: JsonObject, serviceName: string, scope: JsonObject): SpanRecord | null {
  const traceId = readHexId(span.traceId);
  const spanId = readHexId(span.spanId);
  if (traceId === null || spanId === null) return null;

  const status = isJsonObject(span.status) ? span.status : {};
  const record: SpanRecord = {
    traceId,
    spanId,
    parentSpanId: readHexId(span.parentSpanId),
    name: typeof span.name === "string" ? span.name : "",
    startNanos: readUint64(span.startTimeUnixNano) ?? 0n,
    endNanos: readUint64(span.endTimeUnixNano) ?? 0n,
    status: statusOf(readNumber(status.code)),
    attributes: attributesToPairs(span.attributes),
    serviceName,
    events: listOf(span.events).map((event) => ({
      name: typeof event.name === "string" ? event.name : "",
      timeNanos: readUint64(event.timeUnixNano) ?? 0n,
      attributes: attributesToPairs(event.attributes),
    })),
    links: listOf(span.links).map((link) => ({
      traceId: readHexId(link.traceId) ?? "",
      spanId: readHexId(link.spanId) ?? "",
      traceState: typeof link.traceState === "string" ? link.traceState : "",
      attributes: attributesToPairs(link.attributes),
    })),
  };
  if (typeof status.message === "string" && status.message !== "") record.statusDescription = status.message;
  if (typeof scope.name === "string") record.scopeName = scope.name;
  if (typeof scope.version === "string") record.scopeVersion = scope.version;
  const flags = readNumber(span.flags);
  if (flags !== null) record.flags = flags;
  return record;
}

function parseMetric(metric: JsonObject, serviceName: string, scope: JsonObject, receivedNanos: bigint): MetricRecord | null {
  if (typeof metric.name !== "string" || metric.name === "") return null;
  const base = {
    name: metric.name,
    description: typeof metric.description === "string" ? metric.description : "",
    unit: typeof metric.unit === "string" ? metric.unit : "",
    serviceName,
    timeNanos: receivedNanos,
    ...(typeof scope.name === "string" ? { scopeName: scope.name } : {}),
    ...(typeof scope.version === "string" ? { scopeVersion: scope.version } : {}),
  };

  if (isJsonObject(metric.gauge)) {
    return { ...base, type: "gauge", points: listOf(metric.gauge.dataPoints).map((point) => numberPoint(point, receivedNanos)) };
  }
  if (isJsonObject(metric.sum)) {
    const type = metric.sum.isMonotonic === true ? "counter" : "updowncounter";
    return { ...base, type, points: listOf(metric.sum.dataPoints).map((point) => numberPoint(point, receivedNanos)) };
  }
  if (isJsonObject(metric.histogram)) {
    return { ...base, type: "histogram", points: listOf(metric.histogram.dataPoints).map((point) => histogramPoint(point, receivedNanos)) };
  }
  return null;
}

function numberPoint(point: JsonObject, receivedNanos: bigint): NumberPoint {
  const value = point.asDouble !== undefined ? readNumber(point.asDouble) : readNumber(point.asInt);
  return {
    kind: "number",
    value: value ?? 0,
    attributes: attributesToPairs(point.attributes),
    timeNanos: readUint64(point.timeUnixNano) ?? receivedNanos,
  };
}

function histogramPoint(point: JsonObject, receivedNanos: bigint): HistogramPoint {
  return {
    kind: "histogram",
    count: readNumber(point.count) ?? 0,
    sum: readNumber(point.sum) ?? 0,
    bucketCounts: (Array.isArray(point.bucketCounts) ? point.bucketCounts : []).map((count) => readNumber(count) ?? 0),
    explicitBounds: (Array.isArray(point.explicitBounds) ? point.explicitBounds : []).map((bound) => readNumber(bound) ?? 0),
    min: readNumber(point.min),
    max: readNumber(point.max),
    attributes: attributesToPairs(point.attributes),
    timeNanos: readUint64(point.timeUnixNano) ?? receivedNanos,
  };
}

function statusOf(code: number | null): SpanStatus {
  if (code === 1) return "ok";
  if (code === 2) return "error";
  return "unset";
}

function listOf(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : [];
}
