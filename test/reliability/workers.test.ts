import { afterEach, describe, expect, test } from "bun:test";
import { connect as connectTcp, type Socket } from "node:net";
import { startEngine, waitFor, type TestEngine } from "../support/engine.ts";
import { RawWorker } from "../support/raw-worker.ts";

let engine: TestEngine | null = null;

afterEach(async () => {
  await engine?.stop();
  engine = null;
});

/** Replies to every invocation of `functionId` with its own data. */
function serveEcho(worker: RawWorker, functionId: string): void {
  worker.send({ type: "registerfunction", id: functionId });
  worker.socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    if (message.type !== "invokefunction" || message.function_id !== functionId) return;
    worker.send({ type: "invocationresult", invocation_id: message.invocation_id, function_id: functionId, result: message.data });
  });
}

async function pingPong(worker: RawWorker): Promise<void> {
  worker.send({ type: "ping" });
  await worker.next((message) => message.type === "pong");
}

describe("worker churn", () => {
  test("500 workers connecting and leaving leak nothing", async () => {
    engine = await startEngine("port: 0\nmodules:\n  - class: modules::api::RestApiModule\n    config: { port: 0 }\n");
    const baselineFunctions = engine.engine.functions.size;
    const caller = await RawWorker.connect(engine.workerUrl);
    const echo = await RawWorker.connect(engine.workerUrl);
    serveEcho(echo, "echo");
    await pingPong(echo);

    let answered = 0;
    const calls: Promise<void>[] = [];
    for (let round = 0; round < 10; round++) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => RawWorker.connect(engine!.workerUrl)));
      batch.forEach((worker, index) => {
        worker.send({ type: "registerfunction", id: `churn.${round}.${index}` });
        worker.send({ type: "registertrigger", id: `churn-route-${round}-${index}`, trigger_type: "http", function_id: `churn.${round}.${index}`, config: { api_path: `c/${round}/${index}` } });
        // Half of them leave with a call to them still waiting.
        if (index % 2 === 0) caller.send({ type: "invokefunction", invocation_id: crypto.randomUUID(), function_id: `churn.${round}.${index}`, data: {} });
      });
      for (let i = 0; i < 20; i++) calls.push(caller.call("echo", { round, i }).then(() => void answered++));
      await Promise.all(batch.map((worker) => pingPong(worker)));
      batch.forEach((worker) => worker.close());
    }
    await Promise.all(calls);

    await waitFor("churned workers gone", () => (engine!.engine.workers.size === 2 ? true : undefined), 10_000);
    expect(answered).toBe(200);
    expect(engine.engine.functions.size).toBe(baselineFunctions + 1);
    expect(engine.engine.triggers.size).toBe(0);
    expect(engine.engine.router.pendingCount).toBe(0);
    expect(engine.engine.channels.size).toBe(0);
    caller.close();
    echo.close();
  }, 30_000);
});

describe("back-pressure", () => {
  test("a worker that stops reading is disconnected", async () => {
    engine = await startEngine("port: 0\nmax_send_buffer_bytes: 1048576\n");
    const port = engine.engine.port;

    // A raw TCP WebSocket client that completes the handshake and then stops reading.
    const socket: Socket = connectTcp(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    await new Promise<void>((resolve) => socket.once("data", () => resolve()));
    const frame = JSON.stringify({ type: "registerfunction", id: "sink" });
    socket.write(maskedTextFrame(frame));
    await waitFor("sink registered", () => (engine!.engine.functions.has("sink") ? true : undefined));
    socket.pause();

    const caller = await RawWorker.connect(engine.workerUrl);
    const payload = "x".repeat(256 * 1024);
    for (let i = 0; i < 400 && engine.engine.functions.has("sink"); i++) {
      caller.send({ type: "invokefunction", function_id: "sink", data: { payload } });
      if (i % 20 === 0) await Bun.sleep(5);
    }
    await waitFor("slow worker disconnected", () => (engine!.engine.functions.has("sink") ? undefined : true), 10_000);
    await pingPong(caller);
    expect(engine.engine.router.pendingCount).toBe(0);
    socket.destroy();
    caller.close();
  }, 30_000);
});

describe("liveness", () => {
  test("a silent half-open worker is closed and its calls stop", async () => {
    // Bun's own idle timeout is at least 8 s, so a stop within the call's 6 s comes from the engine's check.
    engine = await startEngine("port: 0\nworker_idle_timeout_ms: 1000\n");
    const socket: Socket = connectTcp(engine.engine.port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    // The client reads what it receives but never replies to the engine's pings.
    socket.on("data", () => {});
    socket.write(maskedTextFrame(JSON.stringify({ type: "registerfunction", id: "silent" })));
    await waitFor("silent registered", () => (engine!.engine.functions.has("silent") ? true : undefined));

    const caller = await RawWorker.connect(engine.workerUrl);
    const reply = await caller.call("silent", {}, 6_000);
    expect((reply.error as { code: string }).code).toBe("invocation_stopped");
    expect(engine.engine.functions.has("silent")).toBe(false);
    socket.destroy();
    caller.close();
  }, 30_000);
});

describe("liveness of answering workers", () => {
  test("a quiet worker that answers pings stays connected", async () => {
    engine = await startEngine("port: 0\nworker_idle_timeout_ms: 1000\n");
    const quiet = await RawWorker.connect(engine.workerUrl);
    await Bun.sleep(3_000);

    expect(quiet.closed).toBeNull();
    const reply = await quiet.call("engine::functions::list", {});
    expect(reply.error).toBeUndefined();
    quiet.close();
  });
});

describe("invocation flood", () => {
  test("every call is answered once and the engine stays responsive", async () => {
    engine = await startEngine("port: 0\n");
    const echo = await RawWorker.connect(engine.workerUrl);
    serveEcho(echo, "echo");
    await pingPong(echo);
    const caller = await RawWorker.connect(engine.workerUrl);
    const observer = await RawWorker.connect(engine.workerUrl);

    const total = 20_000;
    const ids = Array.from({ length: total }, () => crypto.randomUUID());
    const seen = new Map<string, number>();
    caller.socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data));
      if (message.type === "invocationresult") seen.set(message.invocation_id, (seen.get(message.invocation_id) ?? 0) + 1);
    });
    for (const id of ids) caller.send({ type: "invokefunction", invocation_id: id, function_id: "echo", data: { id } });

    const listing = await observer.call("engine::workers::list", {}, 10_000);
    expect((listing.result as { workers: unknown[] }).workers.length).toBe(3);

    await waitFor("all results", () => (seen.size === total ? true : undefined), 20_000);
    await Bun.sleep(50);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    expect(engine.engine.router.pendingCount).toBe(0);
    for (const worker of [echo, caller, observer]) worker.close();
  }, 40_000);

  test("calls past max_pending_invocations fail with limit_exceeded", async () => {
    engine = await startEngine("port: 0\nmax_pending_invocations: 5\n");
    const sleeper = await RawWorker.connect(engine.workerUrl);
    sleeper.send({ type: "registerfunction", id: "sleep" });
    await pingPong(sleeper);
    const caller = await RawWorker.connect(engine.workerUrl);

    for (let i = 0; i < 5; i++) caller.send({ type: "invokefunction", invocation_id: crypto.randomUUID(), function_id: "sleep", data: {} });
    await waitFor("five pending", () => (engine!.engine.router.pendingCount === 5 ? true : undefined));
    const rejected = await caller.call("sleep", {});
    expect((rejected.error as { code: string }).code).toBe("limit_exceeded");
    expect((rejected.error as { message: string }).message).toContain("max_pending_invocations");
    sleeper.close();
    caller.close();
  });
});

/** Encodes a client-to-server text frame (clients must mask, RFC 6455 section 5.3). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]);
  const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]!));
  return Buffer.concat([header, mask, masked]);
}
