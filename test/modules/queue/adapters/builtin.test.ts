import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEngine, waitFor } from "../../../support/engine.ts";
import { RawWorker } from "../../../support/raw-worker.ts";
import { connectSdk, SDK_VERSIONS } from "../../../support/sdk.ts";
import { engineYaml, runQueueContract, type QueueBackend } from "../adapter-contract.ts";

let dataDir: string | undefined;

const builtinBackend: QueueBackend = {
  name: "BuiltinQueueAdapter",
  adapterYaml(options = {}) {
    dataDir ??= mkdtempSync(join(tmpdir(), "iii-queue-"));
    const lines = Object.entries({ store_method: "file_based", file_path: dataDir, ...options }).map(
      ([key, value]) => `          ${key}: ${typeof value === "string" ? JSON.stringify(value) : value}`,
    );
    return ["      adapter:", "        class: modules::queue::BuiltinQueueAdapter", "        config:", ...lines].join("\n");
  },
  async cleanup() {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    dataDir = undefined;
  },
};

runQueueContract(builtinBackend);

describe("BuiltinQueueAdapter storage", () => {
  test("keeps waiting jobs and dead letters across a graceful restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "iii-queue-restart-"));
    const yaml = engineYaml(builtinBackend.adapterYaml({ file_path: dir, backoff_ms: 10, max_attempts: 1 }));
    const [, init] = SDK_VERSIONS[0];
    try {
      const first = await startEngine(yaml);
      const iii = connectSdk(init, first.workerUrl);
      iii.registerFunction({ id: "fail.handle" }, async () => {
        throw new Error("always");
      });
      iii.registerTrigger({ type: "queue", function_id: "fail.handle", config: { topic: "dead" } });
      await iii.call("enqueue", { topic: "dead", data: "x" });
      await iii.call("enqueue", { topic: "parked", data: { n: 1 } });
      await waitFor("dead letter", async () => {
        const stats = (await iii.call("engine::queue::topic_stats", { topic: "dead" })) as Record<string, number>;
        return stats.dead_lettered === 1 ? true : undefined;
      });
      await iii.shutdown();
      await first.stop();

      const second = await startEngine(yaml);
      const again = connectSdk(init, second.workerUrl);
      try {
        expect(await again.call("engine::queue::topic_stats", { topic: "dead" })).toMatchObject({ dead_lettered: 1 });
        expect(await again.call("engine::queue::list_topics", {})).toEqual({ topics: ["dead", "parked"] });

        const received: unknown[] = [];
        again.registerFunction({ id: "parked.handle" }, async (data: unknown) => {
          received.push(data);
        });
        again.registerTrigger({ type: "queue", function_id: "parked.handle", config: { topic: "parked" } });
        await waitFor("parked job delivered", () => (received.length === 1 ? true : undefined));
        expect(received[0]).toEqual({ n: 1 });
      } finally {
        await again.shutdown();
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await builtinBackend.cleanup();
    }
  });

  test("stores jobs under the data dir with no config", async () => {
    await using engine = await startEngine("port: 0\nmodules:\n  - class: modules::queue::QueueModule\n");
    const worker = await RawWorker.connect(engine.workerUrl);
    const reply = await worker.call("enqueue", { topic: "t", data: 1 });
    expect(reply.error).toBeUndefined();
    expect(existsSync(join(engine.dataDir, "queue"))).toBe(true);
    worker.close();
  });

  test("rejects unknown config keys with their path", async () => {
    const yaml = "port: 0\nmodules:\n  - class: modules::queue::QueueModule\n    config:\n      adapter:\n        config:\n          retries: 2\n";
    await expect(startEngine(yaml)).rejects.toThrow("modules[0].config.adapter.config.retries: unknown key 'retries'");
    const bad = "port: 0\nmodules:\n  - class: modules::queue::QueueModule\n    config:\n      adapter:\n        config:\n          mode: lifo\n";
    await expect(startEngine(bad)).rejects.toThrow("modules[0].config.adapter.config.mode: expected one of concurrent, fifo, got 'lifo'");
  });
});
