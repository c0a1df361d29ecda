import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { KvStoreStateAdapter } from "../../../../src/modules/state/index.ts";
import { runStateAdapterContract } from "../adapter-contract.ts";

const dirs: string[] = [];

function createTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "iii-state-"));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

runStateAdapterContract("in-memory KvStore", async () => {
  const adapter = new KvStoreStateAdapter({ method: "in_memory", filePath: "unused", saveIntervalMs: 1000 });
  await adapter.open();
  return { adapter, cleanup: () => adapter.close() };
});

runStateAdapterContract("file-based KvStore", async () => {
  const adapter = new KvStoreStateAdapter({ method: "file_based", filePath: createTempDir(), saveIntervalMs: 0 });
  await adapter.open();
  return { adapter, cleanup: () => adapter.close() };
});

describe("file-based KvStore state adapter", () => {
  test("values survive a reopen", async () => {
    const filePath = createTempDir();
    const first = new KvStoreStateAdapter({ method: "file_based", filePath, saveIntervalMs: 1000 });
    await first.open();
    await first.set("scope", "kept", { n: 1 });
    await first.set("scope", "dropped", { n: 2 });
    await first.delete("scope", "dropped");
    await first.close();

    const second = new KvStoreStateAdapter({ method: "file_based", filePath, saveIntervalMs: 1000 });
    await second.open();
    expect(await second.get("scope", "kept")).toEqual({ n: 1 });
    expect(await second.get("scope", "dropped")).toBeUndefined();
    expect(await second.list("scope")).toEqual([{ n: 1 }]);
    await second.close();
  });

  test("list keeps insertion order", async () => {
    const adapter = new KvStoreStateAdapter({ method: "in_memory", filePath: "unused", saveIntervalMs: 1000 });
    await adapter.open();
    await adapter.set("scope", "z", "first");
    await adapter.set("scope", "a", "second");
    await adapter.set("scope", "m", "third");

    expect(await adapter.list("scope")).toEqual(["first", "second", "third"]);
    await adapter.close();
  });
});
