/**
 * Enqueue-and-process throughput of small jobs on each queue adapter, next to
 * BullMQ driven directly on the same Redis in the same run. Each figure is the
 * time from the first enqueue to the last processed job, with the official SDK
 * enqueuing in concurrent batches and one subscriber of concurrency 10.
 *
 *   bun scripts/bench/queue.ts [--quick]
 */
import { Queue, Worker } from "bullmq";
import { init } from "iii-sdk";
import IORedis from "ioredis";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine } from "../../src/cli/start.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { configureLogging } from "../../src/telemetry/logger.ts";
import { compare, formatLine, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "queue";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const BATCH = 500;
const CONCURRENCY = 10;

export async function run(options: RunOptions): Promise<Measurement[]> {
  configureLogging({ level: "error" });
  const jobs = options.quick ? 5_000 : 20_000;
  const note = `${jobs} jobs of ~20 bytes, enqueued ${BATCH} at a time, subscriber concurrency ${CONCURRENCY}`;

  const bullmq = await measureBullmq(jobs);
  const builtin = await measureEngine(jobs, (dir) => builtinAdapterYaml(dir));
  const redis = await measureEngine(jobs, (_, prefix) => redisAdapterYaml(prefix));
  const baseline = { name: "BullMQ driven directly", value: bullmq };

  return [
    compare({ suite: SUITE, name: "BuiltinQueueAdapter (file_based), enqueue + process", value: builtin, unit: "jobs/s", baseline, note }),
    compare({ suite: SUITE, name: "RedisAdapter, enqueue + process", value: redis, unit: "jobs/s", baseline, note }),
  ];
}

async function measureEngine(jobs: number, adapterYaml: (dir: string, prefix: string) => string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "iii-bench-queue-"));
  const prefix = `bench:queue:${crypto.randomUUID()}:`;
  const yaml = `port: 0\nmodules:\n  - class: modules::queue::QueueModule\n    config:\n${adapterYaml(dir, prefix)}\n`;
  const env = { ...process.env, III_DATA_DIR: dir };
  const engine = await createEngine({ ...parseConfigText(yaml, "bench.yaml", env), port: 0 }, env);
  await engine.start();
  const iii = init(`ws://127.0.0.1:${engine.port}`);

  try {
    let processed = 0;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    iii.registerFunction({ id: "bench.handle" }, async () => {
      if (++processed === jobs) resolveDone();
      return null;
    });
    iii.registerTrigger({ type: "queue", function_id: "bench.handle", config: { topic: "bench" } });
    await iii.call("engine::queue::topic_stats", { topic: "bench" });

    const startedAt = performance.now();
    for (let sent = 0; sent < jobs; sent += BATCH) {
      const count = Math.min(BATCH, jobs - sent);
      await Promise.all(Array.from({ length: count }, (_, index) => iii.call("enqueue", { topic: "bench", data: { n: sent + index } })));
    }
    await done;
    return jobs / ((performance.now() - startedAt) / 1000);
  } finally {
    await iii.shutdown();
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
    await deleteKeys(prefix);
  }
}

async function measureBullmq(jobs: number): Promise<number> {
  const prefix = `bench:queue:${crypto.randomUUID()}:bull`;
  const producer = new IORedis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const consumer = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
  await new Promise((resolve) => producer.once("ready", resolve));
  const queue = new Queue("bench", { connection: producer, prefix });

  let processed = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const worker = new Worker(
    "bench",
    async () => {
      if (++processed === jobs) resolveDone();
    },
    { connection: consumer, prefix, concurrency: CONCURRENCY, removeOnComplete: { count: 0 } },
  );
  await worker.waitUntilReady();

  try {
    const startedAt = performance.now();
    for (let sent = 0; sent < jobs; sent += BATCH) {
      const count = Math.min(BATCH, jobs - sent);
      await Promise.all(Array.from({ length: count }, (_, index) => queue.add("job", { n: sent + index }, { removeOnComplete: true })));
    }
    await done;
    return jobs / ((performance.now() - startedAt) / 1000);
  } finally {
    await worker.close();
    await queue.close();
    producer.disconnect();
    consumer.disconnect();
    await deleteKeys(prefix);
  }
}

function builtinAdapterYaml(dir: string): string {
  return `      adapter:\n        class: modules::queue::BuiltinQueueAdapter\n        config:\n          store_method: file_based\n          file_path: ${JSON.stringify(join(dir, "queue"))}`;
}

function redisAdapterYaml(prefix: string): string {
  return `      adapter:\n        class: modules::queue::RedisAdapter\n        config:\n          redis_url: ${JSON.stringify(REDIS_URL)}\n          key_prefix: ${JSON.stringify(prefix)}`;
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new IORedis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

if (import.meta.main) {
  const measurements = await run({ quick: process.argv.includes("--quick") });
  for (const measurement of measurements) console.log(formatLine(measurement));
  process.exit(0);
}
