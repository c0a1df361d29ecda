import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { HTTP_ONLY_CONFIG, startEngine, waitFor, type TestEngine } from "../support/engine.ts";
import { RawWorker } from "../support/raw-worker.ts";

let engine: TestEngine;
const sockets: RawWorker[] = [];

async function connect(): Promise<RawWorker> {
  const worker = await RawWorker.connect(engine.workerUrl);
  sockets.push(worker);
  return worker;
}

async function assertStillServing(worker: RawWorker): Promise<void> {
  worker.send({ type: "ping" });
  expect((await worker.next((message) => message.type === "pong")).type).toBe("pong");
}

beforeEach(async () => {
  engine = await startEngine(`
port: 0
max_frame_bytes: 4096
modules:
  - class: modules::api::RestApiModule
    config: { port: 0 }
`);
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await engine.stop();
});

describe("connection", () => {
  test("first frame is workerregistered with a uuid", async () => {
    const worker = await connect();
    expect(worker.workerId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("ping gets pong", async () => {
    await assertStillServing(await connect());
  });

  test("other paths on the worker port are 404", async () => {
    const response = await fetch(engine.workerUrl.replace("ws:", "http:") + "/nope");
    expect(response.status).toBe(404);
  });
});

describe("malformed frames", () => {
  const cases: Array<[string, string]> = [
    ["not json", "{nope"],
    ["a json array", "[1,2]"],
    ["a json string", '"hello"'],
    ["unknown type", '{"type":"launchrockets"}'],
    ["missing type", '{"id":"x"}'],
    ["registerfunction without id", '{"type":"registerfunction"}'],
    ["function_id of the wrong type", '{"type":"invokefunction","invocation_id":"8d4e6f3a-1c2b-4d5e-9f80-123456789abc","function_id":5,"data":{}}'],
    ["numeric invocation id", '{"type":"invokefunction","invocation_id":7,"function_id":"engine::functions::list","data":{}}'],
    ["empty frame", "   "],
  ];

  for (const [name, frame] of cases) {
    test(`${name} is dropped and the connection stays open`, async () => {
      const worker = await connect();
      const bystander = await connect();
      worker.send(frame);
      await assertStillServing(worker);
      await assertStillServing(bystander);
      expect(worker.received.filter((message) => message.type === "invocationresult")).toEqual([]);
    });
  }

  test("frame over max_frame_bytes closes only that connection", async () => {
    const worker = await connect();
    const bystander = await connect();
    worker.send(JSON.stringify({ type: "registerfunction", id: "big", description: "x".repeat(8192) }));
    const closed = await worker.waitClosed();
    expect(closed.code).toBe(1009);
    await assertStillServing(bystander);
  });

  test("binary telemetry frame is not parsed as a message", async () => {
    const worker = await connect();
    worker.socket.send(new TextEncoder().encode('OTLP{"resourceSpans":[]}'));
    worker.socket.send(new TextEncoder().encode("MTRC not json at all"));
    worker.socket.send(new Uint8Array([0x4c, 0x4f, 0x47, 0x53, 0xff, 0xfe]));
    await assertStillServing(worker);
  });

  test("binary frame without telemetry prefix is parsed as json", async () => {
    const worker = await connect();
    worker.socket.send(new TextEncoder().encode('{"type":"ping"}'));
    expect((await worker.next((message) => message.type === "pong")).type).toBe("pong");
  });
});

describe("invocation", () => {
  test("unknown function answers function_not_found", async () => {
    const worker = await connect();
    const reply = await worker.call("no.such.function", {});
    expect(reply.error).toEqual({ code: "function_not_found", message: "Function no.such.function not found" });
    expect(reply.function_id).toBe("no.such.function");
  });

  test("unknown function without invocation id gets no reply", async () => {
    const worker = await connect();
    worker.send({ type: "invokefunction", function_id: "no.such.function", data: {} });
    await assertStillServing(worker);
    expect(worker.received.some((message) => message.type === "invocationresult")).toBe(false);
  });

  test("worker call carries caller id and returns the result", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "greet" });
    await assertStillServing(callee);

    const pending = caller.call("greet", { name: "ada" });
    const invocation = await callee.next((message) => message.type === "invokefunction");
    expect(invocation.function_id).toBe("greet");
    expect(invocation.data).toEqual({ name: "ada", _caller_worker_id: caller.workerId });
    callee.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: "greet", result: { hi: "ada" } });

    const reply = await pending;
    expect(reply.result).toEqual({ hi: "ada" });
    expect("error" in reply).toBe(false);
  });

  test("non-object data passes without caller id", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "echo" });
    await assertStillServing(callee);

    const pending = caller.call("echo", [1, 2]);
    const invocation = await callee.next((message) => message.type === "invokefunction");
    expect(invocation.data).toEqual([1, 2]);
    callee.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: "echo", result: invocation.data });
    expect((await pending).result).toEqual([1, 2]);
  });

  test("missing data arrives as null", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "nothing" });
    await assertStillServing(callee);

    caller.send({ type: "invokefunction", invocation_id: crypto.randomUUID(), function_id: "nothing" });
    const invocation = await callee.next((message) => message.type === "invokefunction");
    expect(invocation.data).toBeNull();
  });

  test("call action is ignored and the call runs", async () => {
    const caller = await connect();
    const invocationId = crypto.randomUUID();

    caller.send({ type: "invokefunction", invocation_id: invocationId, function_id: "engine::functions::list", data: {}, action: { type: "enqueue", queue: "jobs" } });
    const reply = await caller.next((message) => message.type === "invocationresult" && message.invocation_id === invocationId);

    expect(reply.error).toBeUndefined();
    expect(reply.result).toBeDefined();
  });

  test("non-UUID invocation id gets an error result", async () => {
    const caller = await connect();

    caller.send({ type: "invokefunction", invocation_id: "call-1", function_id: "engine::functions::list", data: {} });
    const reply = await caller.next((message) => message.type === "invocationresult");

    expect(reply.invocation_id).toBe("call-1");
    expect((reply.error as { code: string }).code).toBe("deserialization_error");
    expect((reply.error as { message: string }).message).toContain("'invocation_id' must be a UUID string");
    await assertStillServing(caller);
  });

  test("null result is sent with the result key omitted", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "void" });
    await assertStillServing(callee);

    const pending = caller.call("void", {});
    const invocation = await callee.next((message) => message.type === "invokefunction");
    callee.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: "void", result: null });
    const reply = await pending;
    expect("result" in reply).toBe(false);
    expect("error" in reply).toBe(false);
  });

  test("error wins over result and malformed errors still complete", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "fails" });
    await assertStillServing(callee);

    const first = caller.call("fails", {});
    const one = await callee.next((message) => message.type === "invokefunction");
    callee.send({ type: "invocationresult", invocation_id: one.invocation_id, function_id: "fails", result: 1, error: { code: "boom", message: "bad" } });
    expect((await first).error).toEqual({ code: "boom", message: "bad" });

    const second = caller.call("fails", {});
    const two = await callee.next((message) => message.type === "invokefunction");
    callee.send({ type: "invocationresult", invocation_id: two.invocation_id, error: "plain text failure" });
    expect((await second).error).toEqual({ code: "invocation_failed", message: "plain text failure" });
  });

  test("callee disconnect stops the call", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "slow" });
    await assertStillServing(callee);

    const pending = caller.call("slow", {});
    await callee.next((message) => message.type === "invokefunction");
    callee.close();
    expect((await pending).error).toEqual({ code: "invocation_stopped", message: "Invocation stopped" });
    expect(engine.engine.router.pendingCount).toBe(0);
  });

  test("caller disconnect releases the pending call", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "slow" });
    await assertStillServing(callee);

    caller.send({ type: "invokefunction", invocation_id: crypto.randomUUID(), function_id: "slow", data: {} });
    const invocation = await callee.next((message) => message.type === "invokefunction");
    caller.close();
    await waitFor("pending call released", () => (engine.engine.router.pendingCount === 0 ? true : undefined));
    callee.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: "slow", result: 1 });
    await assertStillServing(callee);
  });

  test("fire-and-forget still dispatches with an invocation id", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "log.it" });
    await assertStillServing(callee);

    caller.send({ type: "invokefunction", function_id: "log.it", data: { n: 1 } });
    const invocation = await callee.next((message) => message.type === "invokefunction");
    expect(typeof invocation.invocation_id).toBe("string");
    callee.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: "log.it", result: { ok: true } });
    await assertStillServing(caller);
    expect(caller.received.some((message) => message.type === "invocationresult")).toBe(false);
  });

  test("big integers and unicode pass through unchanged", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "exact" });
    await assertStillServing(callee);

    const payload = '{"big":9007199254740993,"max":18446744073709551615,"min":-9223372036854775808,"text":"\u2028 😀"}';
    const invocationId = crypto.randomUUID();
    const rawInvocations: string[] = [];
    callee.socket.addEventListener("message", (event) => rawInvocations.push(String(event.data)));
    caller.send(`{"type":"invokefunction","invocation_id":"${invocationId}","function_id":"exact","data":${payload}}`);
    const invocation = await callee.next((message) => message.type === "invokefunction");
    const raw = rawInvocations.find((text) => text.includes('"invokefunction"'))!;
    expect(raw).toContain('"big":9007199254740993');
    expect(raw).toContain('"max":18446744073709551615');
    expect(raw).toContain('"min":-9223372036854775808');
    expect(raw).toContain("\u2028 😀");

    const rawReplies: string[] = [];
    caller.socket.addEventListener("message", (event) => rawReplies.push(String(event.data)));
    callee.send(`{"type":"invocationresult","invocation_id":"${invocation.invocation_id}","function_id":"exact","result":${payload}}`);
    await caller.next((message) => message.type === "invocationresult");
    const reply = rawReplies.find((text) => text.includes('"invocationresult"'))!;
    expect(reply).toContain('"big":9007199254740993');
    expect(reply).toContain('"max":18446744073709551615');
  });
});

describe("ownership", () => {
  test("function id served by two workers survives one leaving", async () => {
    const first = await connect();
    const second = await connect();
    const caller = await connect();
    first.send({ type: "registerfunction", id: "shared" });
    second.send({ type: "registerfunction", id: "shared" });
    await assertStillServing(first);
    await assertStillServing(second);

    const toNewest = caller.call("shared", {});
    const invocation = await second.next((message) => message.type === "invokefunction");
    second.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: "shared", result: "second" });
    expect((await toNewest).result).toBe("second");

    second.close();
    await waitFor("second worker gone", () => (engine.engine.workers.has(second.workerId) ? undefined : true));
    const toOlder = caller.call("shared", {});
    const again = await first.next((message) => message.type === "invokefunction");
    first.send({ type: "invocationresult", invocation_id: again.invocation_id, function_id: "shared", result: "first" });
    expect((await toOlder).result).toBe("first");
  });

  test("unregisterfunction removes only the sender's claim", async () => {
    const owner = await connect();
    const stranger = await connect();
    owner.send({ type: "registerfunction", id: "mine" });
    await assertStillServing(owner);
    stranger.send({ type: "unregisterfunction", id: "mine" });
    await assertStillServing(stranger);
    expect(engine.engine.functions.has("mine")).toBe(true);
  });

  test("workers cannot replace built-in functions", async () => {
    const worker = await connect();
    worker.send({ type: "registerfunction", id: "engine::functions::list" });
    worker.send({ type: "unregisterfunction", id: "engine::functions::list" });
    await assertStillServing(worker);
    const reply = await worker.call("engine::functions::list", {});
    expect(Array.isArray((reply.result as { functions: unknown[] }).functions)).toBe(true);
  });
});

describe("triggers", () => {
  test("unknown trigger type is answered with an error", async () => {
    const worker = await connect();
    worker.send({ type: "registertrigger", id: "t1", trigger_type: "nope", function_id: "f", config: {} });
    const result = await worker.next((message) => message.type === "triggerregistrationresult");
    expect(result.id).toBe("t1");
    expect((result.error as { code: string }).code).toBe("trigger_type_not_found");
  });

  test("registertrigger without config defaults to an empty object", async () => {
    const provider = await connect();
    const user = await connect();
    provider.send({ type: "registertriggertype", id: "custom", description: "custom events" });
    await assertStillServing(provider);
    user.send({ type: "registertrigger", id: "t2", trigger_type: "custom", function_id: "handler" });
    const forwarded = await provider.next((message) => message.type === "registertrigger");
    expect(forwarded).toEqual({ type: "registertrigger", id: "t2", trigger_type: "custom", function_id: "handler", config: {} });
  });

  test("worker trigger types forward, unregister and replay", async () => {
    const provider = await connect();
    const user = await connect();
    provider.send({ type: "registertriggertype", id: "webhook", description: "webhooks" });
    await assertStillServing(provider);

    user.send({ type: "registertrigger", id: "hook-1", trigger_type: "webhook", function_id: "on.hook", config: { path: "/x" } });
    expect((await provider.next((message) => message.type === "registertrigger")).id).toBe("hook-1");

    provider.close();
    await waitFor("provider gone", () => (engine.engine.workers.has(provider.workerId) ? undefined : true));
    const next = await connect();
    next.send({ type: "registertriggertype", id: "webhook", description: "webhooks" });
    expect((await next.next((message) => message.type === "registertrigger")).id).toBe("hook-1");

    user.send({ type: "unregistertrigger", id: "hook-1" });
    const removed = await next.next((message) => message.type === "unregistertrigger");
    expect(removed).toEqual({ type: "unregistertrigger", id: "hook-1", trigger_type: "webhook" });
  });

  test("worker cannot replace a built-in trigger type", async () => {
    const worker = await connect();
    worker.send({ type: "registertriggertype", id: "http", description: "mine now" });
    await assertStillServing(worker);
    worker.send({ type: "registertrigger", id: "route", trigger_type: "http", function_id: "f", config: { api_path: "x" } });
    await assertStillServing(worker);
    expect(worker.received.some((message) => message.type === "registertrigger")).toBe(false);
  });

  test("triggers of a disconnected worker are removed", async () => {
    const worker = await connect();
    worker.send({ type: "registertrigger", id: "route-1", trigger_type: "http", function_id: "f", config: { api_path: "gone" } });
    await assertStillServing(worker);
    expect(engine.engine.triggers.get("route-1")?.worker_id).toBe(worker.workerId);
    worker.close();
    await waitFor("trigger removed", () => (engine.engine.triggers.get("route-1") ? undefined : true));
  });

  test("registerservice without name and unregistertriggertype are accepted", async () => {
    const worker = await connect();
    worker.send({ type: "registerservice", id: "svc" });
    worker.send({ type: "registertriggertype", id: "temp", description: "" });
    worker.send({ type: "unregistertriggertype", id: "temp" });
    await assertStillServing(worker);
    expect(engine.engine.triggers.hasType("temp")).toBe(false);
  });
});

describe("shutdown", () => {
  test("pending calls end with invocation_stopped", async () => {
    const callee = await connect();
    const caller = await connect();
    callee.send({ type: "registerfunction", id: "forever" });
    await assertStillServing(callee);

    const pending = caller.call("forever", {});
    await callee.next((message) => message.type === "invokefunction");
    const stopping = engine.engine.stop();
    expect((await pending).error).toEqual({ code: "invocation_stopped", message: "Invocation stopped" });
    await stopping;
  });
});

test("http-only config starts without other modules", async () => {
  await using other = await startEngine(HTTP_ONLY_CONFIG);
  expect(other.httpUrl).not.toBeNull();
});
