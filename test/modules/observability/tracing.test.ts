import { describe, expect, test } from "bun:test";
import { addLogListener, configureLogging } from "../../../src/telemetry/logger.ts";
import { startEngine, waitFor } from "../../support/engine.ts";
import type { RawWorker } from "../../support/raw-worker.ts";
import { callOk, connectWorker, observabilityConfig } from "./support.ts";

const TRACEPARENT_PATTERN = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

/** Sends an invocation with trace context and returns its invocation id. */
function invokeWithContext(worker: RawWorker, functionId: string, traceparent?: string, baggage?: string): string {
  const invocationId = crypto.randomUUID();
  worker.send({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data: {}, traceparent, baggage });
  return invocationId;
}

function answer(worker: RawWorker, invocation: Record<string, unknown>, result: unknown): void {
  worker.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: invocation.function_id, result });
}

async function registerFunction(engine: { engine: { functions: { has(id: string): boolean } } }, worker: RawWorker, id: string): Promise<void> {
  worker.send({ type: "registerfunction", id });
  await waitFor(`function '${id}' to register`, () => (engine.engine.functions.has(id) ? true : undefined));
}

describe("engine tracing", () => {
  test("one trace spans a call through two workers", async () => {
    await using engine = await startEngine(observabilityConfig());
    using caller = await connectWorker(engine.workerUrl);
    using workerA = await connectWorker(engine.workerUrl);
    using workerB = await connectWorker(engine.workerUrl);
    await registerFunction(engine, workerA, "a.step");
    await registerFunction(engine, workerB, "b.step");

    const callId = invokeWithContext(caller, "a.step", undefined, "tenant=acme");
    const atA = await workerA.next((message) => message.type === "invokefunction");
    const [, traceId, spanA] = TRACEPARENT_PATTERN.exec(atA.traceparent as string)!;
    expect(atA.baggage).toBe("tenant=acme");

    const nestedId = invokeWithContext(workerA, "b.step", atA.traceparent as string, atA.baggage as string);
    const atB = await workerB.next((message) => message.type === "invokefunction");
    const [, traceIdAtB] = TRACEPARENT_PATTERN.exec(atB.traceparent as string)!;
    expect(traceIdAtB).toBe(traceId!);
    expect(atB.baggage).toBe("tenant=acme");
    answer(workerB, atB, { from: "b" });
    await workerA.next((message) => message.invocation_id === nestedId);
    answer(workerA, atA, { from: "a" });
    await caller.next((message) => message.invocation_id === callId);

    const tree = await callOk(caller, "engine::traces::tree", { trace_id: traceId });
    const roots = tree.roots as Array<Record<string, unknown>>;
    expect(roots).toHaveLength(1);
    expect(roots[0]!.name).toBe("call a.step");
    expect(roots[0]!.span_id).toBe(spanA!);
    expect(roots[0]!.attributes).toContainEqual(["iii.function.kind", "user"]);
    const children = roots[0]!.children as Array<Record<string, unknown>>;
    expect(children.map((child) => child.name)).toEqual(["call b.step"]);

    const listed = await callOk(caller, "engine::traces::list", { name: "a.step" });
    expect(listed.total).toBe(1);
  });

  test("parents the invocation span on the caller's traceparent", async () => {
    await using engine = await startEngine(observabilityConfig());
    using caller = await connectWorker(engine.workerUrl);
    using callee = await connectWorker(engine.workerUrl);
    await registerFunction(engine, callee, "c.step");

    const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    invokeWithContext(caller, "c.step", parent, "user=alice");
    const received = await callee.next((message) => message.type === "invokefunction");
    const [, traceId, spanId] = TRACEPARENT_PATTERN.exec(received.traceparent as string)!;
    expect(traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(spanId).not.toBe("b7ad6b7169203331");

    const baggageId = invokeWithContext(callee, "engine::baggage::get_all", received.traceparent as string, received.baggage as string);
    const baggage = await callee.next((message) => message.invocation_id === baggageId);
    expect(baggage.result).toEqual({ baggage: { user: "alice" } });
    answer(callee, received, null);

    const runtime = (engine.engine.modules.find((m) => m.className.includes("Otel")) as unknown as { runtime: { spans: { tree(id: string): unknown[] } } }).runtime;
    expect(runtime.spans.tree("0af7651916cd43dd8448eb211c80319c")).toEqual([]);
  });

  test("propagates an unsampled context when the ratio is 0", async () => {
    await using engine = await startEngine(observabilityConfig("sampling_ratio: 0"));
    using caller = await connectWorker(engine.workerUrl);
    using callee = await connectWorker(engine.workerUrl);
    await registerFunction(engine, callee, "d.step");

    invokeWithContext(caller, "d.step");
    const received = await callee.next((message) => message.type === "invokefunction");
    expect(received.traceparent as string).toMatch(/-00$/);
    answer(callee, received, null);

    const listed = await callOk(caller, "engine::traces::list", { include_internal: true });
    expect(listed.total).toBe(0);
  });

  test("answers memory_exporter_not_enabled when tracing is off", async () => {
    await using engine = await startEngine(observabilityConfig("enabled: false"));
    using caller = await connectWorker(engine.workerUrl);
    const reply = await caller.call("engine::traces::list", {});
    expect((reply.error as Record<string, unknown>).code).toBe("memory_exporter_not_enabled");
  });

  test("exports engine spans to an OTLP/HTTP receiver", async () => {
    const bodies: Array<Record<string, unknown>> = [];
    const receiver = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        if (new URL(request.url).pathname === "/v1/traces") bodies.push((await request.json()) as Record<string, unknown>);
        return Response.json({});
      },
    });
    try {
      await using engine = await startEngine(observabilityConfig(`exporter: otlp\nendpoint: http://127.0.0.1:${receiver.port}`));
      using caller = await connectWorker(engine.workerUrl);
      await callOk(caller, "engine::health::check", {});

      const names = await waitFor("the receiver to get the span", () => {
        const found = bodies.flatMap((body) => spanNames(body));
        return found.includes("call engine::health::check") ? found : undefined;
      });
      expect(names).toContain("call engine::health::check");
      const reply = await caller.call("engine::traces::list", { include_internal: true });
      expect((reply.result as Record<string, unknown>).total).toBe(0);
    } finally {
      receiver.stop(true);
    }
  });

  test("warns when the OTLP endpoint is down and keeps answering", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const deadPort = closed.port;
    closed.stop(true);
    const warnings: string[] = [];
    // Listeners see only lines at enabled levels; the test runner's default level is error.
    configureLogging({ level: "warn" });
    const stopListening = addLogListener((line) => {
      if (line.level === "warn" && line.message.includes("exporting engine spans")) warnings.push(line.message);
    });
    try {
      await using engine = await startEngine(observabilityConfig(`exporter: both\nendpoint: http://127.0.0.1:${deadPort}`));
      using caller = await connectWorker(engine.workerUrl);
      for (let i = 0; i < 20; i++) await callOk(caller, "engine::health::check", {});
      await waitFor("an export warning", () => (warnings.length > 0 ? true : undefined), 5_000);
      expect(warnings[0]).toContain(`127.0.0.1:${deadPort}`);
      const listed = await callOk(caller, "engine::traces::list", { include_internal: true });
      expect(listed.total as number).toBeGreaterThanOrEqual(20);
    } finally {
      stopListening();
      configureLogging({ level: "error" });
    }
  });
});

function spanNames(body: Record<string, unknown>): string[] {
  const names: string[] = [];
  for (const resourceSpans of (body.resourceSpans as Array<Record<string, unknown>>) ?? []) {
    for (const scopeSpans of (resourceSpans.scopeSpans as Array<Record<string, unknown>>) ?? []) {
      for (const span of (scopeSpans.spans as Array<Record<string, unknown>>) ?? []) names.push(span.name as string);
    }
  }
  return names;
}
