import { afterEach, describe, expect, test } from "bun:test";

import { parsePubSubConfig } from "../../../src/modules/pubsub/index.ts";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { REDIS_URL, freshKeyPrefix } from "../../support/redis-keys.ts";
import { SDK_VERSIONS, connectSdk, type Sdk } from "../../support/sdk.ts";

const LOCAL_CONFIG = `
port: 0
modules:
  - class: modules::pubsub::PubSubModule
`;

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(yaml = LOCAL_CONFIG): Promise<TestEngine> {
  const engine = await startEngine(yaml);
  cleanups.push(() => engine.stop());
  return engine;
}

function connect(engine: TestEngine, init: (typeof SDK_VERSIONS)[number][1] = SDK_VERSIONS[0][1]): Sdk {
  const sdk = connectSdk(init, engine.workerUrl);
  cleanups.push(() => sdk.shutdown());
  return sdk;
}

/** Registers a function and a subscribe trigger for it, and waits until the engine has the trigger. */
async function subscribe(engine: TestEngine, sdk: Sdk, functionId: string, topic: string): Promise<unknown[]> {
  const received: unknown[] = [];
  sdk.registerFunction({ id: functionId }, async (data: unknown) => {
    received.push(data);
    return {};
  });
  sdk.registerTrigger({ type: "subscribe", function_id: functionId, config: { topic } });
  await waitFor(`the subscribe trigger of '${functionId}'`, () =>
    engine.engine.context.listTriggers().some((trigger) => trigger.function_id === functionId) || undefined,
  );
  return received;
}

for (const [version, init] of SDK_VERSIONS) {
  describe(`pubsub with SDK ${version}`, () => {
    test("publish reaches subscribers of its topic only", async () => {
      const engine = await start();
      const sdk = connect(engine, init);
      const orders = await subscribe(engine, sdk, "test.orders", "orders");
      const users = await subscribe(engine, sdk, "test.users", "users");

      expect(await sdk.call("publish", { topic: "orders", data: { message: "hello" } })).toBeUndefined();
      await sdk.call("publish", { topic: "users", data: "fence" });

      await waitFor("both messages", () => (orders.length > 0 && users.length > 0 ? true : undefined));
      expect(orders).toEqual([{ message: "hello" }]);
      expect(users).toEqual(["fence"]);
    });
  });
}

describe("pubsub module", () => {
  test("rejects a missing or empty topic", async () => {
    const engine = await start();
    const { invoke } = engine.engine.context;

    expect(await invoke("publish", { topic: "", data: 1 })).toEqual({
      type: "failure",
      error: { code: "topic_not_set", message: "Topic is not set" },
    });
    expect(await invoke("publish", { data: 1 })).toEqual({
      type: "failure",
      error: { code: "deserialization_error", message: "Failed to deserialize input for publish: missing 'topic'" },
    });
    expect(await invoke("publish", { topic: "news" })).toEqual({
      type: "failure",
      error: { code: "deserialization_error", message: "Failed to deserialize input for publish: missing 'data'" },
    });
    expect(await invoke("publish", { topic: "news", data: null })).toEqual({ type: "success", result: undefined });
  });

  test("rejects a subscribe trigger without a topic", async () => {
    const engine = await start();
    const sdk = connect(engine);
    sdk.registerFunction({ id: "test.no-topic" }, async () => ({}));
    sdk.registerTrigger({ type: "subscribe", function_id: "test.no-topic", config: { topic: "" } });
    const fence = await subscribe(engine, sdk, "test.fence", "fence");

    expect(fence).toEqual([]);
    expect(engine.engine.context.listTriggers().some((trigger) => trigger.function_id === "test.no-topic")).toBe(false);
  });

  test("unregistering one trigger keeps the others on its topic", async () => {
    const engine = await start();
    const sdk = connect(engine);
    const kept = await subscribe(engine, sdk, "test.kept", "orders");
    const dropped: unknown[] = [];
    sdk.registerFunction({ id: "test.dropped" }, async (data: unknown) => {
      dropped.push(data);
      return {};
    });
    const trigger = sdk.registerTrigger({ type: "subscribe", function_id: "test.dropped", config: { topic: "orders" } });
    await waitFor("the second trigger", () =>
      engine.engine.context.listTriggers().some((entry) => entry.function_id === "test.dropped") || undefined,
    );

    trigger.unregister();
    await waitFor("the second trigger to go", () =>
      engine.engine.context.listTriggers().some((entry) => entry.function_id === "test.dropped") ? undefined : true,
    );
    await sdk.call("publish", { topic: "orders", data: 1 });

    await waitFor("the message on the kept trigger", () => (kept.length > 0 ? true : undefined));
    expect(kept).toEqual([1]);
    expect(dropped).toEqual([]);
  });

  test("config accepts only known adapters and keys", () => {
    expect(parsePubSubConfig(undefined, "modules[0].config")).toEqual({ adapter: { type: "local" } });
    expect(() => parsePubSubConfig({ topics: [] }, "modules[0].config")).toThrow("modules[0].config.topics: unknown key 'topics'");
    expect(() =>
      parsePubSubConfig({ adapter: { class: "modules::pubsub::RedisAdapter", config: { redis: "x" } } }, "modules[0].config"),
    ).toThrow("modules[0].config.adapter.config.redis: unknown key 'redis'");
  });
});

describe("pubsub module on Redis", () => {
  test("publish on one engine reaches triggers on both exactly once", async () => {
    const keyPrefix = freshKeyPrefix();
    const yaml = `
port: 0
modules:
  - class: modules::pubsub::PubSubModule
    config:
      adapter:
        class: modules::pubsub::RedisAdapter
        config:
          redis_url: ${REDIS_URL}
          key_prefix: "${keyPrefix}"
`;
    const engineA = await start(yaml);
    const engineB = await start(yaml);
    const sdkA = connect(engineA);
    const sdkB = connect(engineB, SDK_VERSIONS[1][1]);
    const onA = await subscribe(engineA, sdkA, "test.on-a", "orders");
    const onB1 = await subscribe(engineB, sdkB, "test.on-b1", "orders");
    const onB2 = await subscribe(engineB, sdkB, "test.on-b2", "orders");

    await sdkA.call("publish", { topic: "orders", data: { n: 1 } });
    await waitFor("the message on every trigger", () => (onA.length > 0 && onB1.length > 0 && onB2.length > 0 ? true : undefined));
    await sdkA.call("publish", { topic: "orders", data: "fence" });
    await waitFor("the fence on every trigger", () =>
      [onA, onB1, onB2].every((received) => received.includes("fence")) ? true : undefined,
    );

    expect(onA).toEqual([{ n: 1 }, "fence"]);
    expect(onB1).toEqual([{ n: 1 }, "fence"]);
    expect(onB2).toEqual([{ n: 1 }, "fence"]);
  });
});
