import { describe, expect, test } from "bun:test";
import { startEngine, waitFor } from "../../support/engine.ts";
import { callOk, connectWorker, findOtelModule, observabilityConfig, resourceWith, sendTelemetry } from "./support.ts";

const TRACE_ID = "5b8efff798038103d269b633813fc60c";
const SPAN_ID = "eee19b7ec3c1b174";
const RAW_ID = crypto.randomUUID();

function spanRequest(options: { startNanos: string | number; endNanos: string | number; parent?: string }): unknown {
  return {
    resourceSpans: [
      {
        resource: resourceWith("orders"),
        scopeSpans: [
          {
            scope: { name: "orders-scope", version: "1.2.3" },
            spans: [
              {
                traceId: TRACE_ID,
                spanId: SPAN_ID,
                parentSpanId: options.parent ?? "",
                name: "orders.create",
                kind: 2,
                startTimeUnixNano: options.startNanos,
                endTimeUnixNano: options.endNanos,
                attributes: [
                  { key: "http.method", value: { stringValue: "POST" } },
                  { key: "retries", value: { intValue: 3 } },
                  { key: "ratio", value: { doubleValue: 0.5 } },
                  { key: "cached", value: { boolValue: true } },
                ],
                status: { code: 2, message: "boom" },
                events: [{ name: "retry", timeUnixNano: "1700000000000000500", attributes: [] }],
                links: [],
                flags: 1,
              },
            ],
          },
        ],
      },
    ],
  };
}

describe("telemetry frame ingestion", () => {
  test("stores SDK spans with exact nanosecond times", async () => {
    await using engine = await startEngine(observabilityConfig());
    using worker = await connectWorker(engine.workerUrl);

    sendTelemetry(worker, "OTLP", spanRequest({ startNanos: "1700000000000000001", endNanos: 1700000000250000000, parent: "0000000000000000" }));
    const listed = await waitFor("the span to be stored", async () => {
      const result = await callOk(worker, "engine::traces::list", {});
      return (result.total as number) > 0 ? result : undefined;
    });

    const span = (listed.spans as Array<Record<string, unknown>>)[0]!;
    expect(span.trace_id).toBe(TRACE_ID);
    expect(span.parent_span_id).toBeNull();
    expect(span.service_name).toBe("orders");
    expect(span.status).toBe("error");
    expect(span.status_description).toBe("boom");
    expect(span.attributes).toEqual([
      ["http.method", "POST"],
      ["retries", "3"],
      ["ratio", "0.5"],
      ["cached", "true"],
    ]);
    expect(span.instrumentation_scope_name).toBe("orders-scope");

    // The raw reply keeps every digit of the 64-bit timestamp.
    worker.send({ type: "invokefunction", invocation_id: RAW_ID, function_id: "engine::traces::list", data: {} });
    const raw = await new Promise<string>((resolve) => {
      const onMessage = (event: MessageEvent) => {
        if (typeof event.data === "string" && event.data.includes(RAW_ID)) {
          worker.socket.removeEventListener("message", onMessage);
          resolve(event.data);
        }
      };
      worker.socket.addEventListener("message", onMessage);
    });
    expect(raw).toContain('"start_time_unix_nano":1700000000000000001');
  });

  test("stores SDK metrics by kind", async () => {
    await using engine = await startEngine(observabilityConfig());
    using worker = await connectWorker(engine.workerUrl);

    sendTelemetry(worker, "MTRC", {
      resourceMetrics: [
        {
          resource: resourceWith("billing"),
          scopeMetrics: [
            {
              scope: { name: "billing-meter" },
              metrics: [
                { name: "queue.size", gauge: { dataPoints: [{ asInt: "7", timeUnixNano: "1700000000000000000" }] } },
                { name: "requests", sum: { isMonotonic: true, dataPoints: [{ asDouble: 12 }] } },
                { name: "in.flight", sum: { isMonotonic: false, dataPoints: [{ asInt: 2 }] } },
                {
                  name: "latency",
                  histogram: { dataPoints: [{ count: "3", sum: 0.6, bucketCounts: ["1", 2], explicitBounds: [0.1], min: 0.1, max: 0.3 }] },
                },
                { name: "skipped", summary: { dataPoints: [] } },
              ],
            },
          ],
        },
      ],
    });

    const metrics = await waitFor("metrics to be stored", async () => {
      const result = await callOk(worker, "engine::metrics::list", {});
      const list = result.sdk_metrics as Array<Record<string, unknown>>;
      return list.length >= 4 ? list : undefined;
    });
    const byName = Object.fromEntries(metrics.map((metric) => [metric.name, metric]));
    expect(byName["queue.size"]!.metric_type).toBe("gauge");
    expect((byName["queue.size"]!.data_points as Array<Record<string, unknown>>)[0]!.value).toBe(7);
    expect(byName.requests!.metric_type).toBe("counter");
    expect(byName["in.flight"]!.metric_type).toBe("updowncounter");
    const histogram = (byName.latency!.data_points as Array<Record<string, unknown>>)[0]!;
    expect(histogram).toMatchObject({ count: 3, sum: 0.6, bucket_counts: [1, 2], explicit_bounds: [0.1], min: 0.1, max: 0.3 });
    expect(byName.skipped).toBeUndefined();
    expect(byName.requests!.service_name).toBe("billing");

    const rollups = await callOk(worker, "engine::rollups::list", { metric_name: "requests" });
    expect(rollups.level).toBe(0);
    expect((rollups.rollups as Array<Record<string, unknown>>)[0]).toMatchObject({ name: "requests", count: 1, sum: 12, last: 12 });
    const histogramRollups = await callOk(worker, "engine::rollups::list", { metric_name: "latency", level: 2 });
    expect((histogramRollups.histogram_rollups as Array<Record<string, unknown>>)[0]).toMatchObject({ count: 3, bucket_counts: [1, 2] });
  });

  test("stores SDK logs and fires log triggers", async () => {
    await using engine = await startEngine(observabilityConfig());
    using worker = await connectWorker(engine.workerUrl);
    worker.send({ type: "registerfunction", id: "test.on_warn" });
    worker.send({ type: "registertrigger", id: "warn-trigger", trigger_type: "log", function_id: "test.on_warn", config: { level: "warn" } });
    await waitFor("the log trigger", () => (engine.engine.triggers.list().some((t) => t.id === "warn-trigger") ? true : undefined));

    sendTelemetry(worker, "LOGS", {
      resourceLogs: [
        {
          resource: resourceWith("shipping"),
          scopeLogs: [
            {
              scope: { name: "shipping-logger" },
              logRecords: [
                { timeUnixNano: "1700000000000000001", severityNumber: 9, body: { stringValue: "label printed" }, traceId: TRACE_ID, spanId: SPAN_ID },
                { timeUnixNano: "1700000000000000002", severityNumber: 13, body: { stringValue: "carrier slow" }, attributes: [{ key: "ms", value: { intValue: 900 } }] },
              ],
            },
          ],
        },
      ],
    });

    const invocation = await worker.next((message) => message.type === "invokefunction" && message.function_id === "test.on_warn");
    expect((invocation.data as Record<string, unknown>).body).toBe("carrier slow");
    expect((invocation.data as Record<string, unknown>).severity_text).toBe("");

    const listed = await callOk(worker, "engine::logs::list", { severity_min: 9 });
    const logs = listed.logs as Array<Record<string, unknown>>;
    expect(logs.map((log) => log.body)).toEqual(["carrier slow", "label printed"]);
    expect(logs[0]!.attributes).toEqual({ ms: 900 });
    expect(logs[1]!.trace_id).toBe(TRACE_ID);
    expect(logs[1]!.service_name).toBe("shipping");
    const byTrace = await callOk(worker, "engine::logs::list", { trace_id: TRACE_ID });
    expect(byTrace.total).toBe(1);
  });

  test("drops malformed frames and keeps the connection", async () => {
    await using engine = await startEngine(observabilityConfig());
    using worker = await connectWorker(engine.workerUrl);

    worker.socket.send(new Uint8Array([...new TextEncoder().encode("LOGS"), 0xff, 0xfe]));
    sendTelemetry(worker, "OTLP", "{not json");
    sendTelemetry(worker, "MTRC", "[1,2]");
    sendTelemetry(worker, "LOGS", { resourceLogs: "nope" });

    const health = await callOk(worker, "engine::health::check", {});
    expect(health.status).toBe("healthy");
    expect(worker.closed).toBeNull();
    const runtime = findOtelModule(engine).runtime!;
    expect(runtime.logs.size).toBe(0);
    expect(runtime.metrics.size).toBe(0);
  });

  test("keeps only the newest spans and logs", async () => {
    await using engine = await startEngine(observabilityConfig("memory_max_spans: 3\nlogs_max_count: 2"));
    using worker = await connectWorker(engine.workerUrl);

    for (let i = 0; i < 5; i++) await callOk(worker, "engine::log::info", { message: `line ${i}` });
    const logs = await callOk(worker, "engine::logs::list", {});
    expect((logs.logs as Array<Record<string, unknown>>).map((log) => log.body)).toEqual(["line 4", "line 3"]);

    const runtime = findOtelModule(engine).runtime!;
    expect(runtime.spans!.size).toBe(3);
  });
});
