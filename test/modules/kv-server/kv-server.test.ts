import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parseKvServerConfig } from "../../../src/modules/kv-server/index.ts";
import { startEngine, type TestEngine } from "../../support/engine.ts";
import { SDK_VERSIONS, connectSdk, type Sdk } from "../../support/sdk.ts";

const KV_CONFIG = `
port: 0
modules:
  - class: modules::kv_server::KvServer
    config:
      store_method: in_memory
`;

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(yaml = KV_CONFIG, dataDir?: string): Promise<TestEngine> {
  const engine = await startEngine(yaml, { dataDir });
  cleanups.push(() => engine.stop());
  return engine;
}

function connect(engine: TestEngine, init: (typeof SDK_VERSIONS)[number][1]): Sdk {
  const sdk = connectSdk(init, engine.workerUrl);
  cleanups.push(() => sdk.shutdown());
  return sdk;
}

for (const [version, init] of SDK_VERSIONS) {
  describe(`kv server with SDK ${version}`, () => {
    test("every function round trips", async () => {
      const engine = await start();
      const sdk = connect(engine, init);

      expect(await sdk.call("kv_server::set", { index: "users", key: "u1", value: { name: "Ada" } })).toEqual({
        old_value: null,
        new_value: { name: "Ada" },
      });
      expect(await sdk.call("kv_server::get", { index: "users", key: "u1" })).toEqual({ name: "Ada" });
      expect(await sdk.call("kv_server::get", { index: "users", key: "missing" })).toBeUndefined();

      const updated = await sdk.call("kv_server::update", { index: "users", key: "u1", ops: [{ type: "increment", path: "visits", by: 2 }] });
      expect(updated).toEqual({ old_value: { name: "Ada" }, new_value: { name: "Ada", visits: 2 } });

      await sdk.call("kv_server::set", { index: "users", key: "u2", value: "second" });
      await sdk.call("kv_server::set", { index: "user_roles", key: "r", value: 1 });
      await sdk.call("kv_server::set", { index: "orders", key: "o", value: 1 });
      expect(await sdk.call("kv_server::list", { index: "users" })).toEqual([{ name: "Ada", visits: 2 }, "second"]);
      expect(await sdk.call("kv_server::list", { index: "none" })).toEqual([]);
      expect(await sdk.call("kv_server::list_keys_with_prefix", { prefix: "user" })).toEqual(["user_roles", "users"]);

      expect(await sdk.call("kv_server::delete", { index: "users", key: "u1" })).toEqual({ old_value: { name: "Ada", visits: 2 } });
      expect(await sdk.call("kv_server::delete", { index: "users", key: "u1" })).toEqual({ old_value: null });
      expect(await sdk.call("kv_server::get", { index: "users", key: "u1" })).toBeUndefined();
    });
  });
}

describe("kv server", () => {
  test("rejects bad input naming the field", async () => {
    const engine = await start();
    const cases: Array<[string, unknown, string]> = [
      ["kv_server::set", { key: "k", value: 1 }, "missing 'index'"],
      ["kv_server::set", { index: "i", value: 1 }, "missing 'key'"],
      ["kv_server::set", { index: "i", key: "k", data: 1 }, "missing 'value'"],
      ["kv_server::get", "text", "expected an object, got 'text'"],
      ["kv_server::update", { index: "i", key: "k", ops: [7] }, "ops[0]: expected an object"],
      ["kv_server::update", { index: "i", key: "k", ops: [{ type: "append", path: "a" }] }, "ops[0].type"],
      ["kv_server::update", { index: "i", key: "k", ops: [{ type: "decrement", path: "a", by: "1" }] }, "ops[0].by: expected an integer"],
      ["kv_server::list_keys_with_prefix", {}, "missing 'prefix'"],
    ];

    for (const [functionId, data, detail] of cases) {
      const outcome = await engine.engine.context.invoke(functionId, data as never);
      expect(outcome.type).toBe("failure");
      if (outcome.type !== "failure") continue;
      expect(outcome.error.code).toBe("deserialization_error");
      expect(outcome.error.message).toStartWith(`Failed to deserialize input for ${functionId}: `);
      expect(outcome.error.message).toContain(detail);
    }
  });

  test("file-based data survives a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "iii-kv-restart-"));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const yaml = "port: 0\nmodules:\n  - class: modules::kv_server::KvServer\n    config: { store_method: file_based }\n";
    const count = 200;

    const first = await startEngine(yaml, { dataDir });
    for (let position = 0; position < count; position++) {
      await first.engine.context.invoke("kv_server::set", { index: `i${position % 4}`, key: `k${position}`, value: position });
    }
    await first.stop();

    const second = await start(yaml, dataDir);
    expect(await second.engine.context.invoke("kv_server::list_keys_with_prefix", { prefix: "i" })).toEqual({
      type: "success",
      result: ["i0", "i1", "i2", "i3"],
    });
    for (let position = 0; position < count; position++) {
      const outcome = await second.engine.context.invoke("kv_server::get", { index: `i${position % 4}`, key: `k${position}` });
      expect(outcome).toEqual({ type: "success", result: position });
    }
  });

  test("config chooses the store", () => {
    expect(parseKvServerConfig({}, "defaults.modules::kv_server::KvServer", "/var/lib/iii", true)).toMatchObject({
      method: "file_based",
      filePath: "/var/lib/iii/kv_server",
      saveIntervalMs: 1000,
    });
    const listed = parseKvServerConfig({ save_interval_ms: 0 }, "modules[0].config", "/d");
    expect(listed.method).toBe("in_memory");
    expect(listed.saveIntervalMs).toBe(0);
    expect(parseKvServerConfig({ store_method: "file_based" }, "modules[0].config", "/d").filePath).toBe("/d/kv_server");
    const onDisk = parseKvServerConfig({ store_method: "file_based", file_path: "./kv" }, "modules[0].config", "/d");
    expect(onDisk.method).toBe("file_based");
    expect(onDisk.filePath).toBe("./kv");
    expect(() => parseKvServerConfig({ save_interval_ms: "soon" }, "modules[0].config", "/d")).toThrow(
      "modules[0].config.save_interval_ms",
    );
  });
});
