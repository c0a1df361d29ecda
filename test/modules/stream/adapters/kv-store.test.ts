import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { KvStoreStreamAdapter } from "../../../../src/modules/stream/adapters/kv-store.ts";
import { runStreamAdapterContract } from "../adapter-contract.ts";

runStreamAdapterContract("KvStore", {
  create: async () => new KvStoreStreamAdapter({ method: "in_memory", filePath: "", saveIntervalMs: 0 }),
  cleanup: async () => undefined,
});

describe("KvStore stream adapter", () => {
  test("file store keeps items across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "iii-stream-"));
    try {
      const options = { method: "file_based" as const, filePath: dir, saveIntervalMs: 0 };
      const first = new KvStoreStreamAdapter(options);
      await first.open(() => undefined);
      await first.set("s", "g", "a", { kept: true });
      await first.close();

      const second = new KvStoreStreamAdapter(options);
      await second.open(() => undefined);
      expect(await second.get("s", "g", "a")).toEqual({ kept: true });
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("list keeps insertion order", async () => {
    const adapter = new KvStoreStreamAdapter({ method: "in_memory", filePath: "", saveIntervalMs: 0 });
    await adapter.open(() => undefined);
    await adapter.set("s", "g", "b", 2);
    await adapter.set("s", "g", "a", 1);
    await adapter.set("s", "g", "c", 3);
    expect(await adapter.list("s", "g")).toEqual([2, 1, 3]);
    await adapter.close();
  });
});
