import { afterEach, describe, expect, test } from "bun:test";
import { init } from "iii-sdk";
import { BridgeClientModule, bridgeClientModuleFactory, DEFAULT_BRIDGE_URL } from "../../../src/modules/bridge-client/index.ts";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { RawWorker } from "../../support/raw-worker.ts";
import type { Sdk } from "../../support/sdk.ts";

const PLAIN_ENGINE = "modules: []\n";

function bridgeEngineConfig(url: string): string {
  const config = {
    url,
    service_id: "engine-b",
    service_name: "Engine B",
    forward: [{ local_function: "b.to_a", remote_function: "a.echo", timeout_ms: 2_000 }],
    expose: [{ local_function: "b.greet", remote_function: "from_b.greet" }],
  };
  return `modules:\n  - class: modules::bridge_client::BridgeClientModule\n    config: ${JSON.stringify(config)}\n`;
}

/** Connects an SDK worker that reconnects quickly and sends no telemetry. */
function connectSdk(url: string): Sdk {
  return init(url, { otel: { enabled: false }, enableMetricsReporting: false, reconnectionConfig: { initialDelayMs: 50, maxDelayMs: 200 } });
}

function bridgeOf(engine: TestEngine): BridgeClientModule {
  const module = engine.engine.modules.find((candidate) => candidate instanceof BridgeClientModule);
  if (!module) throw new Error("the bridge client module is not loaded");
  return module as BridgeClientModule;
}

async function waitForFunction(engine: TestEngine, id: string): Promise<void> {
  await waitFor(`function '${id}' on the engine at ${engine.workerUrl}`, () => (engine.engine.functions.has(id) ? true : undefined), 10_000);
}

describe("BridgeClientModule", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function track<T extends TestEngine | Sdk | RawWorker>(resource: T): T {
    if ("shutdown" in resource) cleanups.push(() => resource.shutdown());
    else if ("stop" in resource) cleanups.push(() => resource.stop());
    else cleanups.push(() => resource.close());
    return resource;
  }

  test("forwards, exposes and survives a restart of the remote engine", async () => {
    let engineA: TestEngine | null = await startEngine(PLAIN_ENGINE);
    cleanups.push(() => engineA?.stop());
    const portA = engineA.engine.port;
    const engineB = track(await startEngine(bridgeEngineConfig(engineA.workerUrl)));

    const workerA = track(connectSdk(engineA.workerUrl));
    workerA.registerFunction({ id: "a.echo" }, async (data: unknown) => ({ echo: data, engine: "A" }));
    const workerB = track(connectSdk(engineB.workerUrl));
    workerB.registerFunction({ id: "b.greet" }, async (data: { name: string }) => ({ greeting: `hi ${data.name}` }));

    await waitForFunction(engineA, "a.echo");
    await waitForFunction(engineA, "from_b.greet");
    await waitForFunction(engineB, "b.greet");

    expect(await workerB.call("b.to_a", { x: 1 })).toMatchObject({ echo: { x: 1 }, engine: "A" });
    expect(await workerA.call("from_b.greet", { name: "ann" })).toEqual({ greeting: "hi ann" });
    expect(await workerB.call("bridge.invoke", { function_id: "a.echo", data: { y: 2 } })).toMatchObject({ echo: { y: 2 }, engine: "A" });

    await engineA.stop();
    engineA = null;
    await waitFor("the bridge to notice the stop", () => (bridgeOf(engineB).connected ? undefined : true));
    const rawB = track(await RawWorker.connect(engineB.workerUrl));
    const offline = await rawB.call("b.to_a", {});
    expect(offline.error).toMatchObject({ code: "bridge_error" });
    expect((offline.error as { message: string }).message).toContain("not connected");

    engineA = await startEngine(`port: ${portA}\n${PLAIN_ENGINE}`);
    await waitForFunction(engineA, "from_b.greet");
    await waitForFunction(engineA, "a.echo");

    expect(await workerB.call("b.to_a", { x: 3 })).toMatchObject({ echo: { x: 3 }, engine: "A" });
    const rawA = track(await RawWorker.connect(engineA.workerUrl));
    const reply = await rawA.call("from_b.greet", { name: "bo" });
    expect(reply.result).toEqual({ greeting: "hi bo" });
  }, 30_000);

  test("reports remote errors as bridge_error", async () => {
    const engineA = track(await startEngine(PLAIN_ENGINE));
    const engineB = track(await startEngine(bridgeEngineConfig(engineA.workerUrl)));
    await waitForFunction(engineA, "from_b.greet");
    const rawB = track(await RawWorker.connect(engineB.workerUrl));

    const missing = await rawB.call("bridge.invoke", { function_id: "a.missing", data: {} });
    expect(missing.error).toMatchObject({ code: "bridge_error" });
    expect((missing.error as { message: string }).message).toContain("function_not_found");

    const badInput = await rawB.call("bridge.invoke", { data: {} });
    expect(badInput.error).toMatchObject({ code: "deserialization_error" });

    // The exposed function is registered remotely, but nothing serves 'b.greet' locally yet.
    const rawA = track(await RawWorker.connect(engineA.workerUrl));
    const unserved = await rawA.call("from_b.greet", { name: "x" });
    expect(unserved.error).toMatchObject({ code: "function_not_found" });
  });

  test("times out a remote call", async () => {
    const engineA = track(await startEngine(PLAIN_ENGINE));
    const engineB = track(await startEngine(bridgeEngineConfig(engineA.workerUrl)));
    await waitForFunction(engineA, "from_b.greet");

    const silent = track(await RawWorker.connect(engineA.workerUrl));
    silent.onInvoke = () => {};
    silent.send({ type: "registerfunction", id: "a.silent" });
    await silent.sync();

    const rawB = track(await RawWorker.connect(engineB.workerUrl));
    const reply = await rawB.call("bridge.invoke", { function_id: "a.silent", data: {}, timeout_ms: 100 });
    expect(reply.error).toMatchObject({ code: "bridge_error" });
    expect((reply.error as { message: string }).message).toContain("did not return within 100 ms");
  });

  test("sends invoke_async without waiting", async () => {
    const engineA = track(await startEngine(PLAIN_ENGINE));
    const engineB = track(await startEngine(bridgeEngineConfig(engineA.workerUrl)));
    await waitForFunction(engineA, "from_b.greet");

    const receiver = track(await RawWorker.connect(engineA.workerUrl));
    const received: unknown[] = [];
    receiver.onInvoke = (frame) => {
      received.push(frame.data);
      receiver.send({ type: "invocationresult", invocation_id: frame.invocation_id, function_id: frame.function_id, result: null });
    };
    receiver.send({ type: "registerfunction", id: "a.sink" });
    await receiver.sync();

    const rawB = track(await RawWorker.connect(engineB.workerUrl));
    const reply = await rawB.call("bridge.invoke_async", { function_id: "a.sink", data: { n: 1 } });
    expect(reply).not.toHaveProperty("error");
    expect(reply).not.toHaveProperty("result");
    await waitFor("the async call to arrive", () => (received.length === 1 ? true : undefined));
    expect(received[0]).toEqual({ n: 1, _caller_worker_id: expect.any(String) });
  });

  test("starts without the remote engine", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const url = `ws://127.0.0.1:${closed.port}`;
    closed.stop(true);

    const engineB = track(await startEngine(bridgeEngineConfig(url)));
    expect(bridgeOf(engineB).connected).toBe(false);
    const rawB = track(await RawWorker.connect(engineB.workerUrl));
    const reply = await rawB.call("b.to_a", {});
    expect(reply.error).toMatchObject({ code: "bridge_error" });
  });
});

describe("BridgeClientModule config", () => {
  const create = (config: unknown, env: Record<string, string> = {}) =>
    bridgeClientModuleFactory.create(config, "modules[3].config", { dataDir: "/tmp/unused", env, defaultSet: false });

  test("takes the URL from config, then III_BRIDGE_URL, then the default", () => {
    expect(create({ url: "ws://10.0.0.5:49134" })).toBeInstanceOf(BridgeClientModule);
    expect(DEFAULT_BRIDGE_URL).toBe("ws://127.0.0.1:49134");
    expect(() => create({}, { III_BRIDGE_URL: "http://wrong" })).toThrow("modules[3].config.url: 'http://wrong' is not a WebSocket URL");
  });

  test("rejects incomplete entries and unknown keys", () => {
    expect(() => create({ forward: [{ local_function: "x" }] })).toThrow("modules[3].config.forward[0].remote_function: missing");
    expect(() => create({ expose: [{ remote_function: "x" }] })).toThrow("modules[3].config.expose[0].local_function: missing");
    expect(() => create({ forward: [{ local_function: "a", remote_function: "b", timeout_ms: 0 }] })).toThrow(
      "modules[3].config.forward[0].timeout_ms: expected an integer from 1",
    );
    expect(() => create({ expose: {} })).toThrow("modules[3].config.expose: expected a list");
    expect(() => create({ remote: "x" })).toThrow("modules[3].config.remote: unknown key 'remote'");
  });

  test("keeps a token in the URL out of messages", () => {
    expect(() => create({ url: "http://host:1/?token=secret-token" })).toThrow("'http://host:1' is not a WebSocket URL");
    expect(() => create({ url: "http://host:1/?token=secret-token" })).not.toThrow("secret-token");
  });
});
