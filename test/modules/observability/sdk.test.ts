import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { context, metrics, propagation, trace } from "@opentelemetry/api";
import { Logger, init } from "iii-sdk";
import { startEngine, waitFor } from "../../support/engine.ts";
import { callOk, connectWorker, observabilityConfig } from "./support.ts";

type Json = Record<string, unknown>;

// The SDK batches spans and logs for 5 s by default; these OTel variables shorten that.
const BATCH_ENV = { OTEL_BSP_SCHEDULE_DELAY: "100", OTEL_BLRP_SCHEDULE_DELAY: "100" };
const savedEnv: Record<string, string | undefined> = {};

beforeAll(() => {
  for (const [key, value] of Object.entries(BATCH_ENV)) {
    savedEnv[key] = process.env[key];
    process.env[key] = value;
  }
});

afterAll(() => {
  for (const [key, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

function flatten(nodes: Json[]): Json[] {
  return nodes.flatMap((node) => [node, ...flatten((node.children as Json[]) ?? [])]);
}

describe("official SDK telemetry", () => {
  test("spans, metrics and logs reach the engine stores", async () => {
    await using engine = await startEngine(observabilityConfig());
    // The SDK keeps one OTel pipeline per process: worker B reuses the one worker A set up.
    const workerA = init(engine.workerUrl, { otel: { serviceName: "sdk-a", metricsExportIntervalMs: 200, fetchInstrumentationEnabled: false } });
    const workerB = init(engine.workerUrl, { otel: { enabled: false } });
    try {
      workerB.registerFunction({ id: "sdk.b" }, async () => {
        new Logger(undefined, "sdk.b").warn("step b ran", { order: 7 });
        return { from: "b" };
      });
      workerA.registerFunction({ id: "sdk.a" }, async () => workerA.call("sdk.b", {}));
      await waitFor("both SDK functions", () => (engine.engine.functions.has("sdk.a") && engine.engine.functions.has("sdk.b") ? true : undefined));

      expect(await workerA.call("sdk.a", {})).toEqual({ from: "b" });
      using observer = await connectWorker(engine.workerUrl);

      const root = await waitFor("the root span of sdk.a", async () => {
        const listed = await callOk(observer, "engine::traces::list", { name: "call sdk.a" });
        return (listed.spans as Json[])[0];
      });
      const names = await waitFor(
        "SDK spans in the same trace",
        async () => {
          const tree = await callOk(observer, "engine::traces::tree", { trace_id: root.trace_id });
          const spans = flatten(tree.roots as Json[]);
          return spans.filter((span) => span.service_name === "sdk-a").length >= 2 ? spans : undefined;
        },
        10_000,
      );
      const summary = names.map((span) => `${span.service_name}:${span.name}`);
      expect(summary).toContain("iii:call sdk.a");
      expect(summary).toContain("iii:call sdk.b");
      expect(summary).toContain("sdk-a:call sdk.a");
      expect(summary).toContain("sdk-a:call sdk.b");

      const log = await waitFor(
        "the SDK log record",
        async () => {
          const listed = await callOk(observer, "engine::logs::list", { severity_min: 13 });
          return (listed.logs as Json[]).find((entry) => entry.body === "step b ran");
        },
        10_000,
      );
      expect(log.severity_number).toBe(13);
      expect(log.service_name).toBe("sdk-a");

      const sdkMetrics = await waitFor(
        "SDK worker metrics",
        async () => {
          const listed = await callOk(observer, "engine::metrics::list", { metric_name: "iii.worker.memory.rss" });
          const found = listed.sdk_metrics as Json[];
          return found.length > 0 ? found : undefined;
        },
        10_000,
      );
      expect(sdkMetrics[0]!.metric_type).toBe("gauge");

      const withMetrics = await waitFor("latest_metrics on a worker", async () => {
        const listed = await callOk(observer, "engine::workers::list", {});
        return (listed.workers as Json[]).find((worker) => worker.latest_metrics !== null);
      });
      const latest = withMetrics.latest_metrics as Json;
      expect(typeof latest.memory_rss).toBe("number");
      expect(latest.runtime).toBe("node");
    } finally {
      await workerB.shutdown();
      await workerA.shutdown();
      // The SDK registers OTel globals; clear them so later tests in this process start clean.
      trace.disable();
      context.disable();
      propagation.disable();
      metrics.disable();
    }
  }, 30_000);
});
