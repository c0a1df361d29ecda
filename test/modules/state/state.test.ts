import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parseStateConfig } from "../../../src/modules/state/index.ts";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { REDIS_URL, deleteKeysWithPrefix, freshKeyPrefix } from "../../support/redis-keys.ts";
import { SDK_VERSIONS, connectSdk, type Sdk } from "../../support/sdk.ts";

const STATE_CONFIG = `
port: 0
modules:
  - class: modules::state::StateModule
    config:
      adapter:
        class: modules::state::adapters::KvStore
`;

interface WireError {
  code: string;
  message: string;
}

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(yaml = STATE_CONFIG, dataDir?: string): Promise<TestEngine> {
  const engine = await startEngine(yaml, { dataDir });
  cleanups.push(() => engine.stop());
  return engine;
}

function connect(engine: TestEngine, init: (typeof SDK_VERSIONS)[number][1] = SDK_VERSIONS[0][1]): Sdk {
  const sdk = connectSdk(init, engine.workerUrl);
  cleanups.push(() => sdk.shutdown());
  return sdk;
}

async function callError(sdk: Sdk, functionId: string, data: unknown): Promise<WireError> {
  return sdk.call(functionId, data).then(
    () => {
      throw new Error(`${functionId} succeeded but was expected to fail`);
    },
    (error: unknown) => error as WireError,
  );
}

async function waitForTrigger(engine: TestEngine, functionId: string): Promise<void> {
  await waitFor(`a trigger for '${functionId}'`, () =>
    engine.engine.context.listTriggers().some((trigger) => trigger.function_id === functionId) || undefined,
  );
}

for (const [version, init] of SDK_VERSIONS) {
  describe(`state functions with SDK ${version}`, () => {
    test("set, get, update, list and delete", async () => {
      const engine = await start();
      const sdk = connect(engine, init);

      expect(await sdk.call("state::set", { scope: "s", key: "a", data: { n: 1 } })).toEqual({ old_value: null, new_value: { n: 1 } });
      expect(await sdk.call("state::set", { scope: "s", key: "a", value: { n: 2 } })).toEqual({ old_value: { n: 1 }, new_value: { n: 2 } });
      expect(await sdk.call("state::get", { scope: "s", key: "a" })).toEqual({ n: 2 });

      const updated = await sdk.call("state::update", { scope: "s", key: "a", ops: [{ type: "increment", path: "n", by: 3 }] });
      expect(updated).toEqual({ old_value: { n: 2 }, new_value: { n: 5 } });

      await sdk.call("state::set", { scope: "s", key: "b", data: "second" });
      await sdk.call("state::set", { scope: "other", key: "c", data: true });
      expect(await sdk.call("state::list", { scope: "s" })).toEqual([{ n: 5 }, "second"]);
      expect(await sdk.call("state::list", { scope: "empty" })).toEqual([]);
      expect(await sdk.call("state::list_groups", {})).toEqual({ groups: ["other", "s"] });

      expect(await sdk.call("state::delete", { scope: "s", key: "a" })).toEqual({ n: 5 });
      expect(await sdk.call("state::get", { scope: "s", key: "a" })).toBeUndefined();
      expect(await sdk.call("state::delete", { scope: "s", key: "a" })).toBeUndefined();
    });

    test("state trigger receives created, updated and deleted events", async () => {
      const engine = await start();
      const sdk = connect(engine, init);
      const events: Array<Record<string, unknown>> = [];
      sdk.registerFunction({ id: "test.state.changed" }, async (event: Record<string, unknown>) => {
        events.push(event);
        return null;
      });
      sdk.registerTrigger({ type: "state", function_id: "test.state.changed", config: { scope: "s", key: "k" } });
      await waitForTrigger(engine, "test.state.changed");

      await sdk.call("state::set", { scope: "s", key: "k", data: { v: 1 } });
      await sdk.call("state::update", { scope: "s", key: "k", ops: [{ type: "set", path: "v", value: 2 }] });
      await sdk.call("state::set", { scope: "s", key: "other", data: { v: 1 } });
      await sdk.call("state::delete", { scope: "s", key: "k" });
      await sdk.call("state::delete", { scope: "s", key: "k" });
      await waitFor("four state events", () => (events.length >= 4 ? true : undefined));

      const base = { type: "state", scope: "s", key: "k" };
      expect(events).toEqual([
        { ...base, event_type: "state:created", old_value: null, new_value: { v: 1 } },
        { ...base, event_type: "state:updated", old_value: { v: 1 }, new_value: { v: 2 } },
        { ...base, event_type: "state:deleted", old_value: { v: 2 }, new_value: null },
        { ...base, event_type: "state:deleted", old_value: null, new_value: null },
      ]);
    });
  });
}

describe("state module", () => {
  test("rejects bad input naming the field", async () => {
    const engine = await start();
    const sdk = connect(engine);
    const cases: Array<[string, unknown, string]> = [
      ["state::set", { key: "k", value: 1 }, "missing 'scope'"],
      ["state::get", { scope: "s" }, "missing 'key'"],
      ["state::get", { scope: 5, key: "k" }, "'scope' must be a string, got 5"],
      ["state::set", { scope: "s", key: "k" }, "missing 'value'"],
      ["state::set", { scope: "s", key: "k", value: 1, data: 2 }, "got both 'value' and 'data'"],
      ["state::update", { scope: "s", key: "k" }, "missing 'ops'"],
      ["state::update", { scope: "s", key: "k", ops: ["x"] }, "ops[0]: expected an object"],
      ["state::update", { scope: "s", key: "k", ops: [{ type: "multiply", path: "n" }] }, "ops[0].type"],
      ["state::update", { scope: "s", key: "k", ops: [{ type: "increment", path: "n", by: 1.5 }] }, "ops[0].by: expected an integer"],
      ["state::list", {}, "missing 'scope'"],
    ];

    for (const [functionId, data, detail] of cases) {
      const error = await callError(sdk, functionId, data);
      expect(error.code).toBe("deserialization_error");
      expect(error.message).toStartWith(`Failed to deserialize input for ${functionId}: `);
      expect(error.message).toContain(detail);
    }
  });

  test("get of a missing key omits the result", async () => {
    const engine = await start();
    const outcome = await engine.engine.context.invoke("state::get", { scope: "s", key: "missing" });

    expect(outcome).toEqual({ type: "success" });
  });

  test("filters triggers by scope and key", async () => {
    const engine = await start();
    const sdk = connect(engine);
    const received: Record<string, string[]> = { scoped: [], keyed: [], all: [] };
    for (const [name, config] of [
      ["scoped", { scope: "a" }],
      ["keyed", { key: "k2" }],
      ["all", {}],
    ] as const) {
      sdk.registerFunction({ id: `test.state.${name}` }, async (event: { scope: string; key: string }) => {
        received[name]?.push(`${event.scope}/${event.key}`);
        return null;
      });
      sdk.registerTrigger({ type: "state", function_id: `test.state.${name}`, config });
      await waitForTrigger(engine, `test.state.${name}`);
    }

    await sdk.call("state::set", { scope: "a", key: "k1", data: 1 });
    await sdk.call("state::set", { scope: "b", key: "k2", data: 1 });
    await waitFor("both events on the unfiltered trigger", () => (received.all?.length === 2 ? true : undefined));
    await sdk.call("state::set", { scope: "fence", key: "fence", data: 1 });
    await waitFor("the fence event", () => (received.all?.length === 3 ? true : undefined));

    expect(received.scoped).toEqual(["a/k1"]);
    expect(received.keyed).toEqual(["b/k2"]);
    expect(received.all).toEqual(["a/k1", "b/k2", "fence/fence"]);
  });

  test("condition function decides whether a trigger runs", async () => {
    const engine = await start();
    const sdk = connect(engine);
    const conditions: Record<string, () => unknown> = {
      yes: () => true,
      text: () => "any value",
      no: () => false,
      nothing: () => null,
      fails: () => {
        throw new Error("condition failed");
      },
    };
    const ran: string[] = [];
    for (const [name, condition] of Object.entries(conditions)) {
      sdk.registerFunction({ id: `test.condition.${name}` }, async () => condition());
      sdk.registerFunction({ id: `test.handler.${name}` }, async () => {
        ran.push(name);
        return null;
      });
      sdk.registerTrigger({ type: "state", function_id: `test.handler.${name}`, config: { condition_function_id: `test.condition.${name}` } });
      await waitForTrigger(engine, `test.handler.${name}`);
    }
    sdk.registerFunction({ id: "test.handler.fence" }, async () => {
      ran.push("fence");
      return null;
    });
    sdk.registerTrigger({ type: "state", function_id: "test.handler.fence", config: {} });
    await waitForTrigger(engine, "test.handler.fence");

    await sdk.call("state::set", { scope: "s", key: "k", data: 1 });
    await waitFor("the last trigger to run", () => (ran.includes("fence") ? true : undefined));

    expect(ran.toSorted()).toEqual(["fence", "text", "yes"]);
  });

  test("events of one key arrive in write order", async () => {
    const engine = await start();
    const sdk = connect(engine);
    const seen: Array<{ old_value: number | null; new_value: number }> = [];
    sdk.registerFunction({ id: "test.state.order" }, async (event: { old_value: number | null; new_value: number }) => {
      seen.push({ old_value: event.old_value, new_value: event.new_value });
      return null;
    });
    sdk.registerTrigger({ type: "state", function_id: "test.state.order", config: { key: "k" } });
    await waitForTrigger(engine, "test.state.order");

    const count = 30;
    await Promise.all(Array.from({ length: count }, (_, value) => sdk.call("state::set", { scope: "s", key: "k", data: value })));
    await waitFor(`${count} events`, () => (seen.length === count ? true : undefined));

    // Each event replaces the value the previous event wrote, so the chain shows the order.
    expect(seen[0]?.old_value).toBeNull();
    for (let position = 1; position < count; position++) {
      expect(seen[position]?.old_value).toBe(seen[position - 1]?.new_value as number);
    }
    expect(await sdk.call("state::get", { scope: "s", key: "k" })).toBe(seen[count - 1]?.new_value as number);
  });

  test("reply does not wait for trigger functions", async () => {
    const engine = await start();
    const sdk = connect(engine);
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    sdk.registerFunction({ id: "test.state.slow" }, async () => {
      await blocked;
      return null;
    });
    sdk.registerTrigger({ type: "state", function_id: "test.state.slow", config: {} });
    await waitForTrigger(engine, "test.state.slow");

    const reply = await sdk.call("state::set", { scope: "s", key: "k", data: 1 });
    release();

    expect(reply).toEqual({ old_value: null, new_value: 1 });
  });

  test("stored state survives a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "iii-state-restart-"));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const yaml =
      "port: 0\nmodules:\n  - class: modules::state::StateModule\n    config: { adapter: { class: modules::state::adapters::KvStore, config: { store_method: file_based } } }\n";
    const count = 200;

    const first = await startEngine(yaml, { dataDir });
    for (let position = 0; position < count; position++) {
      await first.engine.context.invoke("state::set", { scope: `scope-${position % 3}`, key: `k${position}`, value: { position } });
    }
    await first.stop();

    const second = await start(yaml, dataDir);
    const groups = await second.engine.context.invoke("state::list_groups", {});
    expect(groups).toEqual({ type: "success", result: { groups: ["scope-0", "scope-1", "scope-2"] } });
    for (let position = 0; position < count; position++) {
      const outcome = await second.engine.context.invoke("state::get", { scope: `scope-${position % 3}`, key: `k${position}` });
      expect(outcome).toEqual({ type: "success", result: { position } });
    }
  });

  test("default set keeps state in files under the data dir", () => {
    const config = parseStateConfig(undefined, "defaults.modules::state::StateModule", "/var/lib/iii", true);

    expect(config.adapter).toMatchObject({ type: "kv_store", store: { method: "file_based", filePath: "/var/lib/iii/state", saveIntervalMs: 1000 } });
  });

  test("listed module keeps state in memory", () => {
    const config = parseStateConfig({ adapter: { class: "modules::state::adapters::KvStore", config: {} } }, "modules[0].config", "/d");

    expect(config.adapter).toMatchObject({ type: "kv_store", store: { method: "in_memory" } });
  });

  test("file_based without file_path uses the data dir", () => {
    const adapter = { class: "modules::state::adapters::KvStore", config: { store_method: "file_based" } };
    const config = parseStateConfig({ adapter }, "modules[0].config", "/d");

    expect(config.adapter).toMatchObject({ type: "kv_store", store: { method: "file_based", filePath: "/d/state" } });
  });

  test("store_method in_memory keeps state in memory", () => {
    const adapter = { class: "modules::state::adapters::KvStore", config: { store_method: "in_memory" } };
    const config = parseStateConfig({ adapter }, "modules[0].config", "/d");

    expect(config.adapter).toMatchObject({ type: "kv_store", store: { method: "in_memory" } });
  });

  test("points misplaced store keys to the adapter", () => {
    expect(() => parseStateConfig({ store_method: "file_based" }, "modules[0].config", "/d")).toThrow(
      "modules[0].config.store_method: store keys belong in the adapter's config",
    );
  });

  test("rejects a redis_url of another scheme", () => {
    const adapter = { class: "modules::state::adapters::RedisAdapter", config: { redis_url: "http://localhost:6379" } };

    expect(() => parseStateConfig({ adapter }, "modules[0].config", "/d")).toThrow(
      "modules[0].config.adapter.config.redis_url: expected a redis:// or rediss:// URL such as 'redis://localhost:6379', got 'http://localhost:6379'",
    );
  });

  test("rejects unknown keys and adapters", () => {
    expect(() => parseStateConfig({ adapters: {} }, "modules[1].config", "/d")).toThrow("modules[1].config.adapters: unknown key 'adapters'");
    expect(() => parseStateConfig({ adapter: { class: "modules::state::adapters::Mongo" } }, "modules[1].config", "/d")).toThrow(
      "modules[1].config.adapter.class: unknown adapter 'modules::state::adapters::Mongo'",
    );
    expect(() =>
      parseStateConfig({ adapter: { class: "modules::state::adapters::RedisAdapter", config: { url: "x" } } }, "modules[1].config", "/d"),
    ).toThrow("modules[1].config.adapter.config.url: unknown key 'url'");
  });
});

describe("state module on Redis", () => {
  test("two engines share state and each fires its own triggers", async () => {
    const keyPrefix = freshKeyPrefix();
    cleanups.push(() => deleteKeysWithPrefix(keyPrefix));
    const yaml = `
port: 0
modules:
  - class: modules::state::StateModule
    config:
      adapter:
        class: modules::state::adapters::RedisAdapter
        config:
          redis_url: ${REDIS_URL}
          key_prefix: "${keyPrefix}"
`;
    const engineA = await start(yaml);
    const engineB = await start(yaml);
    const sdkA = connect(engineA);
    const sdkB = connect(engineB, SDK_VERSIONS[1][1]);

    await sdkA.call("state::set", { scope: "shared", key: "k", data: { from: "A" } });
    expect(await sdkB.call("state::get", { scope: "shared", key: "k" })).toEqual({ from: "A" });

    const updated = await sdkB.call("state::update", { scope: "shared", key: "k", ops: [{ type: "set", path: "by", value: "B" }] });
    expect(updated).toEqual({ old_value: { from: "A" }, new_value: { from: "A", by: "B" } });
    expect(await sdkA.call("state::list_groups", {})).toEqual({ groups: ["shared"] });
    expect(await sdkA.call("state::delete", { scope: "shared", key: "k" })).toEqual({ from: "A", by: "B" });
    expect(await sdkB.call("state::get", { scope: "shared", key: "k" })).toBeUndefined();
  });
});
