import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startEngine, waitFor, type TestEngine } from "../support/engine.ts";
import { PipelinedWorker, type CallReply } from "./processes.ts";

const HANGING_WORKER = join(import.meta.dir, "hanging-worker.ts");
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A worker process that never replies to calls; `output` collects its stdout. */
interface HangingWorker {
  process: ReturnType<typeof Bun.spawn>;
  output: { text: string };
}

async function startHangingWorker(url: string, functionId: string, topic?: string): Promise<HangingWorker> {
  const child = Bun.spawn(["bun", HANGING_WORKER, url, functionId, ...(topic ? [topic] : [])], { stdout: "pipe", stderr: "inherit" });
  cleanups.push(async () => {
    child.kill("SIGKILL");
    await child.exited;
  });
  const output = { text: "" };
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) output.text += decoder.decode(chunk, { stream: true });
  })();
  await waitFor("hanging worker ready", () => (output.text.includes("ready") ? true : undefined), 10_000);
  return { process: child, output };
}

async function killWorker(worker: HangingWorker): Promise<void> {
  worker.process.kill("SIGKILL");
  await worker.process.exited;
}

async function start(yaml: string): Promise<TestEngine> {
  const engine = await startEngine(yaml);
  cleanups.push(() => engine.stop());
  return engine;
}

async function connect(url: string): Promise<PipelinedWorker> {
  const worker = await PipelinedWorker.connect(url);
  cleanups.push(() => worker.close());
  return worker;
}

describe("worker kill -9", () => {
  test("ends its pending calls with invocation_stopped", async () => {
    const engine = await start("port: 0\n");
    const victim = await startHangingWorker(engine.workerUrl, "victim.hang");
    const caller = await connect(engine.workerUrl);

    const total = 100;
    const replies: CallReply[] = [];
    const calls = Array.from({ length: total }, (_, n) => caller.call("victim.hang", { n }, 10_000).then((reply) => void replies.push(reply)));
    await waitFor("every call pending", () => (engine.engine.router.pendingCount === total ? true : undefined));

    const killedAt = Date.now();
    await killWorker(victim);
    await Promise.all(calls);
    const detectedMs = Date.now() - killedAt;
    const codes = new Map<string, number>();
    for (const reply of replies) codes.set(reply.error?.code ?? "success", (codes.get(reply.error?.code ?? "success") ?? 0) + 1);
    const after = await caller.call("victim.hang", {});
    console.log(
      `[reliability] worker kill -9: ${total} calls pending, replies ${JSON.stringify(Object.fromEntries(codes))} within ${detectedMs} ms, ` +
        `next call ${after.error?.code}`,
    );

    expect(Object.fromEntries(codes)).toEqual({ invocation_stopped: total });
    expect(engine.engine.router.pendingCount).toBe(0);
    expect(engine.engine.functions.has("victim.hang")).toBe(false);
    expect(after.error?.code).toBe("function_not_found");
  }, 30_000);

  test("hands its queue jobs to another subscriber", async () => {
    const engine = await start(`port: 0
modules:
  - class: modules::queue::QueueModule
    config:
      adapter:
        class: modules::queue::BuiltinQueueAdapter
        config:
          store_method: in_memory
          backoff_ms: 20
          concurrency: 10
`);
    const victim = await startHangingWorker(engine.workerUrl, "victim.handle", "jobs");
    const healthy = await connect(engine.workerUrl);
    const processed = new Map<number, number>();
    healthy.serve("healthy.handle", (data, invocationId) => {
      const n = (data as { n: number }).n;
      processed.set(n, (processed.get(n) ?? 0) + 1);
      healthy.answer("healthy.handle", invocationId, null);
    });
    healthy.send({ type: "registertrigger", id: "healthy-jobs", trigger_type: "queue", function_id: "healthy.handle", config: { topic: "jobs" } });
    await waitFor("two queue subscribers", () => (engine.engine.triggers.size === 2 ? true : undefined));

    const total = 200;
    const enqueued = await Promise.all(Array.from({ length: total }, (_, n) => healthy.call("enqueue", { topic: "jobs", data: { n } })));
    const taken = () => [...victim.output.text.matchAll(/^job (\d+)$/gm)].map((match) => Number(match[1]));
    await waitFor("victim holding ten jobs", () => (taken().length === 10 ? true : undefined));
    await waitFor("other jobs processed", () => (processed.size === total - 10 ? true : undefined), 10_000);

    const held = taken();
    await killWorker(victim);
    await waitFor("every job processed", () => (processed.size === total ? true : undefined), 10_000);
    const stats = await healthy.call("engine::queue::topic_stats", { topic: "jobs" });
    const repeated = [...processed.values()].filter((count) => count > 1).length;
    console.log(
      `[reliability] worker kill -9 with queue jobs: ${total} enqueued (${enqueued.filter((reply) => reply.error).length} failed), ` +
        `${held.length} held by the killed worker, ${processed.size} processed by the other, repeated ${repeated}, ` +
        `left ${JSON.stringify(stats.result)}`,
    );

    expect(enqueued.filter((reply) => reply.error)).toEqual([]);
    expect(held.every((n) => processed.get(n) === 1)).toBe(true);
    expect(repeated).toBe(0);
    expect(stats.result).toMatchObject({ waiting: 0, delayed: 0, active: 0, dead_lettered: 0 });
  }, 30_000);
});
