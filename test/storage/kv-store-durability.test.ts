import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { KvStore } from "../../src/storage/kv-store";
import type { KvStoreLogger } from "../../src/storage/kv-store-options";
import { encodeHeader, encodeLine } from "../../src/storage/log-format";

const CHILD_SCRIPT = path.join(import.meta.dir, "kv-writer-child.ts");
const CHILD_WAIT_MS = 15_000;
const NO_AUTO_COMPACTION = 1 << 30;

interface RecordingLogger extends KvStoreLogger {
  warnings: string[];
}

interface WriterChild {
  pid: number;
  waitForOutput(pattern: RegExp): Promise<void>;
  killAndCollectOutput(): Promise<string>;
}

let dir: string;
const openStores: KvStore[] = [];
const children: Array<ReturnType<typeof Bun.spawn>> = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "iii-kv-durability-"));
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill("SIGKILL");
    await child.exited;
  }
  await Promise.all(openStores.splice(0).map((store) => store.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function createRecordingLogger(): RecordingLogger {
  const warnings: string[] = [];
  return {
    warnings,
    warn: (message, ...args) => warnings.push(formatMessage(message, args)),
    info: () => undefined,
    debug: () => undefined,
  };
}

function formatMessage(message: string, args: unknown[]): string {
  let position = 0;
  return message.replace(/%[sd]/g, () => String(args[position++]));
}

async function openStore(options: { logger?: KvStoreLogger; compactionMinBytes?: number } = {}): Promise<KvStore> {
  const store = await KvStore.open({ method: "file_based", filePath: dir, saveIntervalMs: 1000, ...options });
  openStores.push(store);
  return store;
}

function fileNames(): string[] {
  return fs.readdirSync(dir).sort();
}

function onlyLogPath(): string {
  const logs = fileNames().filter((name) => name.endsWith(".log"));
  expect(logs).toHaveLength(1);
  return path.join(dir, logs[0]!);
}

function spawnWriter(count: number, mode = ""): WriterChild {
  const child = Bun.spawn(["bun", CHILD_SCRIPT, dir, String(count), mode], { stdout: "pipe", stderr: "inherit" });
  children.push(child);

  let output = "";
  const listeners = new Set<() => void>();
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      output += decoder.decode(chunk, { stream: true });
      for (const listener of listeners) listener();
    }
  })();

  return {
    pid: child.pid,
    waitForOutput: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`writer child printed no line matching ${pattern} within ${CHILD_WAIT_MS} ms`));
        }, CHILD_WAIT_MS);
        const check = (): void => {
          if (!pattern.test(output)) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        check();
      }),
    killAndCollectOutput: async () => {
      child.kill("SIGKILL");
      await child.exited;
      await reading;
      return output;
    },
  };
}

describe("KvStore durability", () => {
  test("keeps every write across a graceful restart", async () => {
    let store = await openStore();
    for (let position = 0; position < 5000; position++) store.set("items", `k${position}`, { position });
    await store.close();

    store = await openStore();
    expect(store.size("items")).toBe(5000);
    expect(store.get("items", "k0")).toEqual({ position: 0 });
    expect(store.get("items", "k4999")).toEqual({ position: 4999 });
    expect(store.keys("items").slice(0, 3)).toEqual(["k0", "k1", "k2"]);
  });

  test("keeps acknowledged writes after kill -9", async () => {
    const writer = spawnWriter(2000);
    await writer.waitForOutput(/done 2000/);
    await writer.killAndCollectOutput();

    const store = await openStore();
    expect(store.size("items")).toBe(2000);
    expect(store.get("items", "k1999")).toEqual({ position: 1999, text: "payload \u2028 \ud83d\ude80" });
  });

  test("keeps acknowledged writes when killed while compacting", async () => {
    // Each round kills the writer at a later point; each starts from k0 again.
    for (const killAfter of [1500, 3000, 4500]) {
      const writer = spawnWriter(200_000, "compact");
      await writer.waitForOutput(new RegExp(`acked ${killAfter}\n`));
      const output = await writer.killAndCollectOutput();
      const acked = Math.max(...[...output.matchAll(/acked (\d+)/g)].map((match) => Number(match[1])));

      const store = await openStore();
      const size = store.size("items");
      expect(size).toBeGreaterThanOrEqual(acked);
      expect(store.keys("items")).toEqual(Array.from({ length: size }, (_, position) => `k${position}`));
      expect(fileNames().filter((name) => name.endsWith(".snapshot")).length).toBeGreaterThan(0);
      expect(fileNames().filter((name) => name.endsWith(".tmp"))).toEqual([]);
      await store.close();
    }
  });

  test("drops a torn last record with one warning", async () => {
    const tails = ['1234abcd {"op":"set","index":"items","key":"c","val', '00000000 {"op":"delete"}\n'];

    for (const tail of tails) {
      let store = await openStore();
      store.set("items", "a", 1);
      store.set("items", "b", 2);
      await store.close();
      fs.appendFileSync(onlyLogPath(), tail);

      const logger = createRecordingLogger();
      store = await openStore({ logger });
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]).toContain("torn record");
      expect(store.entries("items")).toEqual([
        ["a", 1],
        ["b", 2],
      ]);

      store.set("items", "c", 3);
      await store.close();
      const quietLogger = createRecordingLogger();
      store = await openStore({ logger: quietLogger });
      expect(quietLogger.warnings).toEqual([]);
      expect(store.list("items")).toEqual([1, 2, 3]);

      store.delete("items", "a");
      store.delete("items", "b");
      store.delete("items", "c");
      await store.close();
    }
  });

  test("skips a corrupt middle record and keeps the rest", async () => {
    let store = await openStore();
    store.set("items", "a", "first");
    store.set("items", "b", "second");
    store.set("items", "c", "third");
    await store.close();

    const logPath = onlyLogPath();
    const lines = fs.readFileSync(logPath, "utf8").split("\n");
    lines[2] = lines[2]!.replace("second", "sEcond");
    fs.writeFileSync(logPath, lines.join("\n"));

    const logger = createRecordingLogger();
    store = await openStore({ logger });
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toContain("1 unreadable records");
    expect(store.entries("items")).toEqual([
      ["a", "first"],
      ["c", "third"],
    ]);
    expect(fileNames()).toContain(`${path.basename(logPath)}.damaged`);

    await store.close();
    const quietLogger = createRecordingLogger();
    store = await openStore({ logger: quietLogger });
    expect(quietLogger.warnings).toEqual([]);
    expect(store.list("items")).toEqual(["first", "third"]);
  });
});

describe("KvStore compaction", () => {
  test("keeps data and order", async () => {
    let store = await openStore({ compactionMinBytes: NO_AUTO_COMPACTION });
    for (let position = 0; position < 100; position++) store.set("items", `k${position}`, position);
    for (let position = 0; position < 100; position += 2) store.set("items", `k${position}`, -position - 1);
    store.delete("items", "k10");
    store.delete("items", "k11");
    store.set("items", "k10", "again");
    store.set("other", "x", { nested: [1, 2] });
    const expected = store.entries("items");

    await store.compact();
    expect(fileNames()).toEqual(["kv-1.log", "kv-1.snapshot", "kv.lock"]);
    store.set("items", "after", true);
    await store.close();

    store = await openStore();
    expect(store.entries("items")).toEqual([...expected, ["after", true]]);
    expect(store.get("other", "x")).toEqual({ nested: [1, 2] });
    expect(store.keys("items").at(-2)).toBe("k10");
  });

  test("compacts a growing log in the background", async () => {
    let store = await openStore({ compactionMinBytes: 4096 });
    for (let round = 0; round < 200; round++) {
      for (let key = 0; key < 5; key++) store.set("counters", `c${key}`, round);
    }
    await store.compact();

    const logBytes = fs.statSync(onlyLogPath()).size;
    expect(logBytes).toBeLessThan(4096 * 2);
    expect(fileNames().filter((name) => name.endsWith(".snapshot"))).toHaveLength(1);

    await store.close();
    store = await openStore();
    expect(store.entries("counters")).toEqual([0, 1, 2, 3, 4].map((key) => [`c${key}`, 199]));
  });

  test("recovers when a crash leaves the temp snapshot", async () => {
    let store = await openStore();
    store.set("items", "a", 1);
    store.set("items", "b", 2);
    await store.close();

    // State after the log was rotated but before the snapshot was renamed.
    const newLog = Buffer.concat([
      encodeHeader("log"),
      encodeLine({ op: "delete", index: "items", key: "a" }),
      encodeLine({ op: "set", index: "items", key: "c", value: 3 }),
    ]);
    fs.writeFileSync(path.join(dir, "kv-1.log"), newLog);
    fs.writeFileSync(path.join(dir, "kv-1.snapshot.tmp"), Buffer.concat([encodeHeader("snapshot"), Buffer.from("0bad")]));

    store = await openStore();
    expect(store.entries("items")).toEqual([
      ["b", 2],
      ["c", 3],
    ]);
    expect(fileNames()).not.toContain("kv-1.snapshot.tmp");

    store.set("items", "d", 4);
    await store.close();
    store = await openStore();
    expect(store.keys("items")).toEqual(["b", "c", "d"]);
  });

  test("recovers when a crash leaves the replaced log", async () => {
    let store = await openStore({ compactionMinBytes: NO_AUTO_COMPACTION });
    store.set("items", "a", 1);
    store.set("items", "b", 2);
    store.set("items", "c", 3);
    store.delete("items", "a");
    await store.flush();
    const oldLogPath = onlyLogPath();
    const oldLog = fs.readFileSync(oldLogPath);

    await store.compact();
    store.set("items", "d", 4);
    await store.close();
    // State after the snapshot was renamed but before the old log was removed.
    fs.writeFileSync(oldLogPath, oldLog);

    store = await openStore();
    expect(store.entries("items")).toEqual([
      ["b", 2],
      ["c", 3],
      ["d", 4],
    ]);
    expect(fs.existsSync(oldLogPath)).toBe(false);
  });
});

describe("KvStore directory lock", () => {
  test("rejects a second store in one process", async () => {
    const store = await openStore();

    await expect(openStore()).rejects.toThrow("is already used by another module of this engine");
    await store.close();
    const reopened = await openStore();
    expect(reopened.size("items")).toBe(0);
  });

  test("rejects a directory held by another process", async () => {
    const writer = spawnWriter(10);
    await writer.waitForOutput(/done 10/);

    const error = await openStore().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(`'${fs.realpathSync(dir)}'`);
    expect((error as Error).message).toContain(`process ${writer.pid}`);

    await writer.killAndCollectOutput();
    const store = await openStore();
    expect(store.size("items")).toBe(10);
  });

  test("replaces a stale lock file", async () => {
    fs.writeFileSync(path.join(dir, "kv.lock"), "2147483646\n");

    const store = await openStore();
    expect(fs.readFileSync(path.join(dir, "kv.lock"), "utf8").trim()).toBe(String(process.pid));

    await store.close();
    expect(fileNames()).not.toContain("kv.lock");
  });
});
