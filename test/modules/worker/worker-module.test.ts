import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { RawWorker } from "../../support/raw-worker.ts";
import { connectSdk, SDK_VERSIONS } from "../../support/sdk.ts";

let engine: TestEngine;
const sockets: RawWorker[] = [];

async function connect(): Promise<RawWorker> {
  const worker = await RawWorker.connect(engine.workerUrl);
  sockets.push(worker);
  return worker;
}

beforeEach(async () => {
  engine = await startEngine("port: 0\nmodules:\n  - class: modules::api::RestApiModule\n    config: { port: 0 }\n");
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await engine.stop();
});

describe("listing functions", () => {
  test("engine functions are hidden unless asked for", async () => {
    const worker = await connect();
    worker.send({ type: "registerfunction", id: "orders.create", description: "Create an order", metadata: { team: "a" } });
    worker.send({ type: "ping" });
    await worker.next((message) => message.type === "pong");

    const plain = (await worker.call("engine::functions::list", {})).result as { functions: Array<Record<string, unknown>> };
    expect(plain.functions).toEqual([
      { function_id: "orders.create", description: "Create an order", request_format: null, response_format: null, metadata: { team: "a" } },
    ]);
    const all = (await worker.call("engine::functions::list", { include_internal: true })).result as { functions: Array<{ function_id: string }> };
    expect(all.functions.map((info) => info.function_id)).toContain("engine::workers::list");
  });

  test("triggers list hides engine handlers unless asked for", async () => {
    const worker = await connect();
    worker.send({ type: "registertrigger", id: "t-user", trigger_type: "http", function_id: "user.fn", config: { api_path: "u" } });
    worker.send({ type: "registertrigger", id: "t-engine", trigger_type: "engine::workers-available", function_id: "engine::x", config: {} });
    await waitFor("triggers", () => (engine.engine.triggers.size === 2 ? true : undefined));

    const plain = (await worker.call("engine::triggers::list", {})).result as { triggers: Array<Record<string, unknown>> };
    expect(plain.triggers).toEqual([{ id: "t-user", trigger_type: "http", function_id: "user.fn", config: { api_path: "u" } }]);
    const all = (await worker.call("engine::triggers::list", { include_internal: true })).result as { triggers: unknown[] };
    expect(all.triggers).toHaveLength(2);
  });
});

describe("input checks", () => {
  const cases: Array<[string, unknown, string]> = [
    ["engine::functions::list", { include_internal: "yes" }, "'include_internal' must be true or false"],
    ["engine::triggers::list", { include_internal: "x" }, "'include_internal' must be true or false"],
    ["engine::workers::list", { worker_id: 5 }, "'worker_id' must be a string"],
    ["engine::functions::list", 5, "expected an object"],
    ["engine::channels::create", { buffer_size: 1.5 }, "'buffer_size' must be a non-negative integer"],
    ["engine::workers::register", { runtime: 5 }, "'runtime' must be a string"],
    ["engine::workers::register", { telemetry: "x" }, "'telemetry' must be an object"],
  ];

  for (const [functionId, data, message] of cases) {
    test(`${functionId} rejects ${JSON.stringify(data)}`, async () => {
      const worker = await connect();
      const reply = await worker.call(functionId, data);
      expect(reply.error).toMatchObject({ code: "deserialization_error" });
      expect((reply.error as { message: string }).message).toContain(message);
    });
  }

  test("listing accepts null input", async () => {
    const worker = await connect();
    const reply = await worker.call("engine::workers::list", null);
    expect(reply.error).toBeUndefined();
  });
});

describe("workers", () => {
  test("register records metadata that the listing shows", async () => {
    const worker = await connect();
    worker.send({ type: "registerfunction", id: "a.b" });
    const registered = await worker.call("engine::workers::register", {
      runtime: "python",
      version: "1.2.3",
      name: "billing",
      os: "linux",
      telemetry: { language: "en", project_name: "shop", framework: "none" },
    });
    expect(registered.result).toEqual({ success: true });

    const listing = (await worker.call("engine::workers::list", { worker_id: worker.workerId })).result as {
      workers: Array<Record<string, unknown>>;
      timestamp: number;
    };
    expect(listing.workers).toHaveLength(1);
    expect(listing.workers[0]).toMatchObject({
      id: worker.workerId,
      name: "billing",
      runtime: "python",
      version: "1.2.3",
      os: "linux",
      ip_address: "127.0.0.1",
      status: "connected",
      function_count: 1,
      functions: ["a.b"],
      latest_metrics: null,
    });
    expect(typeof listing.workers[0]!.connected_at_ms).toBe("number");
    expect(typeof listing.timestamp).toBe("number");
  });

  test("register without runtime sets unknown", async () => {
    const worker = await connect();
    await worker.call("engine::workers::register", {});
    expect(engine.engine.workers.get(worker.workerId)?.runtime).toBe("unknown");
  });

  test("workers-available fires on connect, metadata and disconnect", async () => {
    const watcher = await connect();
    watcher.send({ type: "registerfunction", id: "on.workers" });
    watcher.send({ type: "registertrigger", id: "w", trigger_type: "engine::workers-available", function_id: "on.workers", config: {} });
    await waitFor("trigger", () => (engine.engine.triggers.get("w") ? true : undefined));

    const other = await connect();
    const connected = await watcher.next((message) => message.type === "invokefunction");
    expect(connected.data).toEqual({ event: "worker_connected", worker_id: other.workerId });

    await other.call("engine::workers::register", { name: "x" });
    const updated = await watcher.next((message) => message.type === "invokefunction");
    expect(updated.data).toEqual({ event: "worker_metadata_updated", worker_id: other.workerId });

    other.close();
    const gone = await watcher.next((message) => message.type === "invokefunction");
    expect(gone.data).toEqual({ event: "worker_disconnected", worker_id: other.workerId });
  });
});

describe("functions-available", () => {
  test("notifies within 200 ms and coalesces bursts", async () => {
    const watcher = await connect();
    watcher.send({ type: "registerfunction", id: "on.functions" });
    watcher.send({ type: "registertrigger", id: "f", trigger_type: "engine::functions-available", function_id: "on.functions", config: {} });
    await waitFor("trigger", () => (engine.engine.triggers.get("f") ? true : undefined));
    await Bun.sleep(250);
    watcher.received.length = 0;

    const other = await connect();
    const started = performance.now();
    for (let i = 0; i < 20; i++) other.send({ type: "registerfunction", id: `burst.${i}` });
    const notice = await watcher.next((message) => message.type === "invokefunction", 1_000);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1_000);

    const data = notice.data as { event: string; functions: Array<{ function_id: string }> };
    expect(data.event).toBe("functions_changed");
    expect(data.functions.map((info) => info.function_id)).toContain("burst.19");
    await Bun.sleep(250);
    expect(watcher.received.filter((message) => message.type === "invokefunction")).toHaveLength(0);
  });

  for (const [version, init] of SDK_VERSIONS) {
    test(`onFunctionsAvailable works with iii-sdk ${version}`, async () => {
      const iii = connectSdk(init, engine.workerUrl);
      try {
        const seen: string[][] = [];
        iii.onFunctionsAvailable((functions: Array<{ function_id: string }>) => seen.push(functions.map((info) => info.function_id)));
        iii.registerFunction({ id: "late.arrival" }, async () => null);
        await waitFor("notification with late.arrival", () => (seen.some((ids) => ids.includes("late.arrival")) ? true : undefined), 3_000);
      } finally {
        await iii.shutdown();
      }
    });
  }
});

describe("channels", () => {
  test("create returns matching reader and writer ends", async () => {
    const worker = await connect();
    const reply = (await worker.call("engine::channels::create", { buffer_size: 4 })).result as Record<string, Record<string, string>>;
    expect(reply.writer!.channel_id).toBe(reply.reader!.channel_id);
    expect(reply.writer!.access_key).toBe(reply.reader!.access_key);
    expect(reply.writer!.direction).toBe("write");
    expect(reply.reader!.direction).toBe("read");
  });
});
