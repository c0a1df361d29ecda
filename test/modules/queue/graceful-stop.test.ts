import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEngine, waitFor } from "../../support/engine.ts";
import { RawWorker } from "../../support/raw-worker.ts";

const CONFIG = `
port: 0
modules:
  - class: modules::queue::QueueModule
    config:
      adapter:
        class: modules::queue::BuiltinQueueAdapter
        config: { max_attempts: 1, store_method: file_based, save_interval_ms: 0 }
`;

test("graceful stop keeps job attempts", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "iii-queue-stop-"));
  try {
    const first = await startEngine(CONFIG, { dataDir });
    const slow = await RawWorker.connect(first.workerUrl);
    slow.send({ type: "registerfunction", id: "jobs.handle" });
    slow.send({ type: "registertrigger", id: "q", trigger_type: "queue", function_id: "jobs.handle", config: { topic: "jobs" } });
    await slow.sync();
    await slow.call("enqueue", { topic: "jobs", data: { n: 1 } });
    await slow.next((frame) => frame.type === "invokefunction" && frame.function_id === "jobs.handle");
    await first.stop();
    slow.close();

    await using second = await startEngine(CONFIG, { dataDir });
    const worker = await RawWorker.connect(second.workerUrl);
    const delivered: unknown[] = [];
    worker.onInvoke = (frame) => {
      delivered.push(frame.data);
      worker.send({ type: "invocationresult", invocation_id: frame.invocation_id, function_id: frame.function_id, result: { ok: true } });
    };
    worker.send({ type: "registerfunction", id: "jobs.handle" });
    worker.send({ type: "registertrigger", id: "q", trigger_type: "queue", function_id: "jobs.handle", config: { topic: "jobs" } });
    await waitFor("redelivery after restart", () => (delivered.length > 0 ? true : undefined));
    expect(delivered).toEqual([{ n: 1 }]);

    const stats = await worker.call("engine::queue::topic_stats", { topic: "jobs" });
    expect((stats.result as { dead_lettered: number }).dead_lettered).toBe(0);
    worker.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
