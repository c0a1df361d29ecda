import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { ConfigError } from "../../src/core/errors";
import { KvStore } from "../../src/storage/kv-store";
import { parseKvStoreOptions, type KvStoreLogger } from "../../src/storage/kv-store-options";
import { parseUpdateOps } from "../../src/storage/update-ops";
import { parseJson, stringifyJson, type JsonValue } from "../../src/util/json";

interface RecordingLogger extends KvStoreLogger {
  warnings: string[];
}

function createRecordingLogger(): RecordingLogger {
  const warnings: string[] = [];
  return {
    warnings,
    warn: (message) => warnings.push(message),
    info: () => undefined,
    debug: () => undefined,
  };
}

let dir: string;
const openStores: KvStore[] = [];

async function openFileStore(logger?: KvStoreLogger): Promise<KvStore> {
  const store = await KvStore.open({ method: "file_based", filePath: dir, saveIntervalMs: 1000, logger });
  openStores.push(store);
  return store;
}

async function openMemoryStore(): Promise<KvStore> {
  const store = await KvStore.open({ method: "in_memory", filePath: dir, saveIntervalMs: 1000 });
  openStores.push(store);
  return store;
}

async function reopen(store: KvStore, logger?: KvStoreLogger): Promise<KvStore> {
  await store.close();
  return openFileStore(logger);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "iii-kv-store-"));
});

afterEach(async () => {
  await Promise.all(openStores.splice(0).map((store) => store.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("KvStore", () => {
  test("persists set and delete across restarts", async () => {
    let store = await openFileStore();
    expect(store.set("users", "u1", { name: "Ada" })).toEqual({ oldValue: null });
    expect(store.set("users", "u2", { name: "Lin" })).toEqual({ oldValue: null });

    store = await reopen(store);
    expect(store.get("users", "u1")).toEqual({ name: "Ada" });
    expect(store.delete("users", "u1")).toEqual({ name: "Ada" });
    expect(store.delete("users", "u2")).toEqual({ name: "Lin" });

    store = await reopen(store);
    expect(store.get("users", "u1")).toBeUndefined();
    expect(store.get("users", "u2")).toBeUndefined();
    expect(store.indexes()).toEqual([]);
  });

  test("returns the previous value on overwrite", async () => {
    const store = await openMemoryStore();
    store.set("scope", "k", 1);

    expect(store.set("scope", "k", 2)).toEqual({ oldValue: 1 });
    expect(store.get("scope", "k")).toBe(2);
  });

  test("deletes a missing key without change", async () => {
    const store = await openFileStore();
    const logBytesBefore = totalFileBytes(dir);

    expect(store.delete("scope", "missing")).toBeUndefined();
    expect(totalFileBytes(dir)).toBe(logBytesBefore);
  });

  test("keeps insertion order in memory and after reload", async () => {
    let store = await openFileStore();
    for (const key of ["c", "a", "b", "d"]) store.set("order", key, key.toUpperCase());
    store.set("order", "a", "A2");
    store.delete("order", "c");
    store.set("order", "c", "C2");

    const expected: Array<[string, JsonValue]> = [
      ["a", "A2"],
      ["b", "B"],
      ["d", "D"],
      ["c", "C2"],
    ];
    expect(store.entries("order")).toEqual(expected);
    expect(store.list("order")).toEqual(["A2", "B", "D", "C2"]);
    expect(store.keys("order")).toEqual(["a", "b", "d", "c"]);

    store = await reopen(store);
    expect(store.entries("order")).toEqual(expected);
  });

  test("lists non-empty indexes sorted by prefix", async () => {
    const store = await openMemoryStore();
    store.set("stream:chat:b", "1", 1);
    store.set("stream:chat:a", "1", 1);
    store.set("stream:news:a", "1", 1);
    store.set("other", "1", 1);
    store.set("stream:chat:c", "1", 1);
    store.delete("stream:chat:c", "1");

    expect(store.indexes("stream:chat:")).toEqual(["stream:chat:a", "stream:chat:b"]);
    expect(store.indexes()).toEqual(["other", "stream:chat:a", "stream:chat:b", "stream:news:a"]);
    expect(store.size("stream:chat:a")).toBe(1);
    expect(store.size("missing")).toBe(0);
    expect(store.list("missing")).toEqual([]);
  });

  test("keeps big integers and unicode exact", async () => {
    const text =
      '{"max":18446744073709551615,"min":-9223372036854775808,"next":9007199254740993,' +
      '"line":"a\u2028b\u2029c","emoji":"\ud83d\ude80 \ud83d\udc69\u200d\ud83d\udcbb","nul":"\\u0000"}';
    let store = await openFileStore();
    store.set("values", "v", parseJson(text));

    store = await reopen(store);
    expect(stringifyJson(store.get("values", "v"))).toBe(stringifyJson(parseJson(text)));
    expect(stringifyJson(store.get("values", "v"))).toContain("18446744073709551615");
  });

  test("rejects writes after close", async () => {
    const store = await openFileStore();
    await store.close();

    expect(() => store.set("a", "b", 1)).toThrow(`kv store '${fs.realpathSync(dir)}' is closed`);
    await store.close();
  });

  test("rejects values that are not JSON", async () => {
    const store = await openFileStore();

    expect(() => store.set("a", "b", undefined as unknown as JsonValue)).toThrow("is undefined; store null instead");
    expect(() => store.set("a", "b", { n: 1n } as unknown as JsonValue)).toThrow("is not valid JSON");
    expect(store.get("a", "b")).toBeUndefined();
    expect(store.indexes()).toEqual([]);
  });

  test("writes nothing to disk in memory", async () => {
    const store = await openMemoryStore();
    store.set("a", "b", 1);
    await store.flush();

    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test("fsyncs every write with a zero interval", async () => {
    const store = await KvStore.open({ method: "file_based", filePath: dir, saveIntervalMs: 0 });
    openStores.push(store);
    store.set("a", "b", 1);
    await store.close();

    const reopened = await openFileStore();
    expect(reopened.get("a", "b")).toBe(1);
  });
});

describe("KvStore.update", () => {
  test("sets, increments, decrements, removes and merges", async () => {
    const store = await openMemoryStore();
    store.set("items", "x", { name: "A", count: 0, tag: "t" });

    const renamed = store.update("items", "x", parseUpdateOps([{ type: "set", path: "name", value: "B" }]));
    expect(renamed.oldValue).toEqual({ name: "A", count: 0, tag: "t" });
    expect(renamed.newValue).toEqual({ name: "B", count: 0, tag: "t" });

    store.update("items", "x", parseUpdateOps([{ type: "increment", path: "count", by: 5 }]));
    const lowered = store.update("items", "x", parseUpdateOps([{ type: "decrement", path: "count", by: 2 }]));
    expect(lowered.newValue).toEqual({ name: "B", count: 3, tag: "t" });

    const removed = store.update("items", "x", parseUpdateOps([{ type: "remove", path: "tag" }]));
    expect(removed.newValue).toEqual({ name: "B", count: 3 });

    const merged = store.update("items", "x", parseUpdateOps([{ type: "merge", path: "", value: { extra: true } }]));
    expect(merged.newValue).toEqual({ name: "B", count: 3, extra: true });
    expect(store.get("items", "x")).toEqual({ name: "B", count: 3, extra: true });
  });

  test("applies several ops in one call", async () => {
    const store = await openMemoryStore();
    store.set("items", "x", { a: 1 });

    const result = store.update(
      "items",
      "x",
      parseUpdateOps([
        { type: "increment", path: "a", by: 1 },
        { type: "set", path: "b", value: "two" },
        { type: "merge", value: { c: 3 } },
      ]),
    );

    expect(result.newValue).toEqual({ a: 2, b: "two", c: 3 });
    expect(store.get("items", "x")).toEqual({ a: 2, b: "two", c: 3 });
  });

  test("increments a missing item from nothing", async () => {
    const store = await openMemoryStore();

    const result = store.update("items", "new", parseUpdateOps([{ type: "increment", path: "n", by: 1 }]));

    expect(result).toEqual({ oldValue: null, newValue: { n: 1 } });
    expect(store.get("items", "new")).toEqual({ n: 1 });
  });

  test("loses no concurrent updates", async () => {
    let store = await openFileStore();
    const ops = parseUpdateOps([{ type: "increment", path: "n", by: 1 }]);

    await Promise.all(
      Array.from({ length: 500 }, async (_, position) => {
        await Bun.sleep(position % 3);
        store.update("counters", "c", ops);
      }),
    );
    expect(store.get("counters", "c")).toEqual({ n: 500 });

    store = await reopen(store);
    expect(store.get("counters", "c")).toEqual({ n: 500 });
  });

  test("logs an ignored nested merge", async () => {
    const logger = createRecordingLogger();
    const store = await KvStore.open({ method: "in_memory", filePath: dir, saveIntervalMs: 1000, logger });

    store.update("items", "x", parseUpdateOps([{ type: "merge", path: "a", value: { b: 1 } }]));

    expect(store.get("items", "x")).toEqual({});
    expect(logger.warnings).toHaveLength(1);
  });
});

describe("parseKvStoreOptions", () => {
  const defaults = { filePath: "kv_store_data.db" };

  test("reads every key", () => {
    const options = parseKvStoreOptions(
      { store_method: "file_based", file_path: "/data/state", save_interval_ms: 0, channel_size: 8 },
      "modules[1].config",
      defaults,
    );

    expect(options.method).toBe("file_based");
    expect(options.filePath).toBe("/data/state");
    expect(options.saveIntervalMs).toBe(0);
  });

  test("fills in defaults", () => {
    for (const config of [undefined, null, {}]) {
      const options = parseKvStoreOptions(config, "modules[0].config", defaults);
      expect(options.method).toBe("in_memory");
      expect(options.filePath).toBe("kv_store_data.db");
      expect(options.saveIntervalMs).toBe(1000);
    }
    expect(parseKvStoreOptions({}, "x", { filePath: "d", saveIntervalMs: 5000 }).saveIntervalMs).toBe(5000);
    expect(parseKvStoreOptions({}, "x", { method: "file_based", filePath: "d" }).method).toBe("file_based");
  });

  test("falls back to memory on an unknown method", async () => {
    const logger = createRecordingLogger();
    const options = parseKvStoreOptions(
      { store_method: "rocksdb", file_path: dir },
      "modules[3].config",
      defaults,
      logger,
    );

    expect(options.method).toBe("in_memory");
    expect(logger.warnings).toHaveLength(1);

    const store = await KvStore.open(options);
    openStores.push(store);
    store.set("a", "b", 1);
    expect(store.get("a", "b")).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test("rejects wrong types with the yaml path", () => {
    const cases: Array<[unknown, string]> = [
      [{ save_interval_ms: "abc" }, "modules[2].config.save_interval_ms: expected a non-negative integer, got 'abc'"],
      [{ save_interval_ms: -1 }, "modules[2].config.save_interval_ms: expected a non-negative integer, got -1"],
      [{ save_interval_ms: 1.5 }, "modules[2].config.save_interval_ms: expected a non-negative integer, got 1.5"],
      [{ store_method: 3 }, "modules[2].config.store_method: expected 'in_memory' or 'file_based', got 3"],
      [{ file_path: "" }, "modules[2].config.file_path: expected a directory path, got ''"],
      [{ file_path: ["a"] }, "modules[2].config.file_path: expected a directory path, got an array"],
      ["text", "modules[2].config: expected a mapping, got 'text'"],
    ];

    for (const [config, message] of cases) {
      expect(() => parseKvStoreOptions(config, "modules[2].config", defaults)).toThrow(ConfigError);
      expect(() => parseKvStoreOptions(config, "modules[2].config", defaults)).toThrow(message);
    }
  });
});

function totalFileBytes(directory: string): number {
  return fs.readdirSync(directory).reduce((sum, name) => sum + fs.statSync(path.join(directory, name)).size, 0);
}
