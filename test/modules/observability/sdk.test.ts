import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startEngine, waitFor } from "../../support/engine.ts";
import { callOk, connectWorker, observabilityConfig } from "./support.ts";

type Json = Record<string, unknown>;

// The SDK batches spans and logs for 5 s by default; these OTel variables shorten that.
const BATCH_ENV = { OTEL_BSP_SCHEDULE_DELAY: "100", OTEL_BLRP_SCHEDULE_DELAY: "100" };

function flatten(nodes: Json[]): Json[] {
  return nodes.flatMap((node) => [node, ...flatten((node.children as Json[]) ?? [])]);
}

describe("official SDK telemetry", () => {
  test("spans, metrics and logs reach the engine stores", async () => {
    await using engine = await startEngine(observabilityConfig());
    // The SDK keeps one OTel pipeline per process, so its workers run in a process of their own.
    const workers = Bun.spawn(["bun", join(import.meta.dir, "../../fixtures/sdk-telemetry-worker.ts"), engine.workerUrl], {
      env: { ...process.env, ...BATCH_ENV },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const output = await readUntil(workers.stdout, /ready (.*)\n/, 15_000);
      expect(JSON.parse(output[1]!)).toEqual({ from: "b" });
      using observer = await connectWorker(engine.workerUrl);

      // The fixture retries its first call until both functions are registered, so early attempts
      // may have left failed traces. The test waits for the trace that contains the SDK's spans.
      const names = await waitFor(
        "SDK spans in the trace of a call to sdk.a",
        async () => {
          const listed = await callOk(observer, "engine::traces::list", { name: "call sdk.a" });
          for (const root of listed.spans as Json[]) {
            const tree = await callOk(observer, "engine::traces::tree", { trace_id: root.trace_id });
            const spans = flatten(tree.roots as Json[]);
            if (spans.filter((span) => span.service_name === "sdk-a").length >= 2) return spans;
          }
          return undefined;
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
      workers.kill();
      await workers.exited;
    }
  }, 40_000);
});

/** Reads a child's output until `pattern` matches, failing with the output so far after `timeoutMs`. */
async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const deadline = Date.now() + timeoutMs;
  let output = "";
  try {
    while (Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => null)]);
      if (chunk === null || chunk.done) break;
      output += decoder.decode(chunk.value, { stream: true });
      const match = output.match(pattern);
      if (match) return match;
    }
  } finally {
    reader.releaseLock();
  }
  throw new Error(`SDK worker process never printed ${pattern}; output was:\n${output}`);
}
