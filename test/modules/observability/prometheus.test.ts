import { describe, expect, test } from "bun:test";
import { startEngine, waitFor } from "../../support/engine.ts";
import { callOk, connectWorker, findOtelModule, observabilityConfig } from "./support.ts";

const PROMTOOL = Bun.which("promtool");

/** Reads the value of one sample line (`name{labels} value`), or 0 when it is absent. */
function sampleValue(text: string, series: string): number {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe("prometheus endpoint", () => {
  test("serves iii metrics that promtool accepts", async () => {
    await using engine = await startEngine(`${observabilityConfig()}
  - class: modules::api::RestApiModule
    config:
      port: 0
`);
    const url = `http://127.0.0.1:${findOtelModule(engine).prometheusPort}/metrics`;
    using worker = await connectWorker(engine.workerUrl);
    await callOk(worker, "engine::health::check", {});
    await fetch(`${engine.httpUrl}/missing`);

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    for (const family of [
      "iii_invocations_total",
      "iii_invocation_duration_seconds",
      "iii_workers_connected",
      "iii_functions_registered",
      "iii_triggers_registered",
      "iii_http_requests_total",
      "iii_process_cpu_user_seconds_total",
      "iii_nodejs_heap_size_used_bytes",
    ]) {
      expect(text).toContain(`# TYPE ${family}`);
    }
    expect(sampleValue(text, "iii_workers_connected")).toBe(1);
    expect(sampleValue(text, 'iii_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);

    if (!PROMTOOL) {
      console.warn("skipping the promtool check: promtool is not installed (Debian package 'prometheus')");
      return;
    }
    const check = Bun.spawnSync([PROMTOOL, "check", "metrics"], { stdin: new TextEncoder().encode(text) });
    const report = `${check.stdout.toString()}${check.stderr.toString()}`;
    expect(report).not.toContain("error while linting");
    // Exit code 3 means lint findings only; prom-client names three of its Node.js gauges `*_total`.
    const findings = report.split("\n").filter((line) => line.trim() !== "");
    expect(findings.filter((line) => !line.startsWith("iii_nodejs_active_"))).toEqual([]);
    expect([0, 3]).toContain(check.exitCode);
  });

  test("counts invocations as they complete", async () => {
    await using engine = await startEngine(observabilityConfig());
    const url = `http://127.0.0.1:${findOtelModule(engine).prometheusPort}/metrics`;
    using caller = await connectWorker(engine.workerUrl);
    using callee = await connectWorker(engine.workerUrl);
    callee.send({ type: "registerfunction", id: "orders.create" });
    await waitFor("orders.create to register", () => (engine.engine.functions.has("orders.create") ? true : undefined));

    const success = 'iii_invocations_total{function_id="orders.create",outcome="success"}';
    const failure = 'iii_invocations_total{function_id="orders.create",outcome="error"}';
    const before = await (await fetch(url)).text();
    expect(sampleValue(before, success)).toBe(0);

    for (const outcome of ["success", "error", "success"]) {
      const invocationId = crypto.randomUUID();
      caller.send({ type: "invokefunction", invocation_id: invocationId, function_id: "orders.create", data: {} });
      const received = await callee.next((message) => message.type === "invokefunction");
      const reply = outcome === "success" ? { result: { ok: true } } : { error: { code: "bad_order", message: "rejected" } };
      callee.send({ type: "invocationresult", invocation_id: received.invocation_id, function_id: "orders.create", ...reply });
      await caller.next((message) => message.invocation_id === invocationId);
    }

    const after = await (await fetch(url)).text();
    expect(sampleValue(after, success)).toBe(2);
    expect(sampleValue(after, failure)).toBe(1);
    expect(sampleValue(after, 'iii_invocation_duration_seconds_count{function_id="orders.create"}')).toBe(3);
    expect(sampleValue(after, "iii_functions_registered") > 0).toBe(true);

    const stats = await callOk(caller, "engine::metrics::list", {});
    const invocations = (stats.engine_metrics as Record<string, Record<string, unknown>>).invocations!;
    expect((invocations.by_function as Record<string, number>)["orders.create"]).toBe(3);
    // Worker functions count as deferred only; the built-in metrics::list call counts as a success.
    expect(invocations.deferred).toBe(3);
    expect(invocations.error).toBe(0);
  });

  test("answers 404 outside /metrics", async () => {
    await using engine = await startEngine(observabilityConfig());
    const response = await fetch(`http://127.0.0.1:${findOtelModule(engine).prometheusPort}/other`);
    expect(response.status).toBe(404);
  });
});

describe("prometheus queue gauges", () => {
  test("report queue depth per topic", async () => {
    await using engine = await startEngine(`${observabilityConfig()}
  - class: modules::queue::QueueModule
`);
    const url = `http://127.0.0.1:${findOtelModule(engine).prometheusPort}/metrics`;
    using worker = await connectWorker(engine.workerUrl);
    const reply = await worker.call("enqueue", { topic: "orders", data: { id: 1 } });
    expect(reply.error).toBeUndefined();

    const text = await waitFor("the queue depth sample", async () => {
      const body = await (await fetch(url)).text();
      return body.includes('iii_queue_depth{topic="orders"}') ? body : undefined;
    });
    expect(sampleValue(text, 'iii_queue_depth{topic="orders"}')).toBe(1);
    expect(sampleValue(text, 'iii_queue_dlq_size{topic="orders"}')).toBe(0);
  });
});
