/**
 * `state::set` + `state::get` round trips through the engine on the embedded
 * store (in memory and on disk) and on the Redis adapter, next to a direct
 * ioredis SET + GET loop on the same Redis with the same number in flight.
 *
 *   bun scripts/bench/index.ts --only=state
 */
import Redis from "ioredis";
import { median, startEngine } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "state";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const INFLIGHT = 64;

const ADAPTERS: Array<{ name: string; yaml: (prefix: string) => string }> = [
  { name: "embedded store, in memory", yaml: () => adapterYaml("modules::state::adapters::KvStore", "{ store_method: in_memory }") },
  { name: "embedded store, file_based", yaml: () => adapterYaml("modules::state::adapters::KvStore", "{ store_method: file_based, file_path: ./data/state }") },
  { name: "Redis adapter", yaml: (prefix) => adapterYaml("modules::state::adapters::RedisAdapter", `{ redis_url: "${REDIS_URL}", key_prefix: "${prefix}" }`) },
];

export async function run(options: RunOptions): Promise<Measurement[]> {
  const durationMs = options.quick ? 1_000 : 3_000;
  const repeats = options.quick ? 1 : 3;
  const note = `set then get of one key per round trip, ${INFLIGHT} in flight from one raw WebSocket client, ${durationMs / 1000} s, median of ${repeats}`;

  const direct: number[] = [];
  for (let run = 0; run < repeats; run++) direct.push(await measureIoredis(durationMs));
  const baseline = { name: `ioredis SET + GET, ${INFLIGHT} in flight`, value: median(direct) };

  const measurements: Measurement[] = [];
  for (const adapter of ADAPTERS) {
    const prefix = `bench:state:${crypto.randomUUID()}:`;
    const engine = await startEngine({ modulesYaml: `\n  - class: modules::state::StateModule\n    config:\n      adapter:\n${adapter.yaml(prefix)}` });
    try {
      const rates: number[] = [];
      for (let run = 0; run < repeats; run++) rates.push(await measureEngine(engine.workerUrl, durationMs));
      measurements.push(compare({ suite: SUITE, name: `state::set + state::get, ${adapter.name}`, value: median(rates), unit: "round trips/s", baseline, note }));
    } finally {
      await engine.stop();
      if (adapter.name === "Redis adapter") await deleteKeys(prefix);
    }
  }
  return measurements;
}

function adapterYaml(className: string, config: string): string {
  return `        class: ${className}\n        config: ${config}\n`;
}

/** Runs set+get pairs through the engine for `durationMs`, keeping INFLIGHT pairs outstanding. */
async function measureEngine(url: string, durationMs: number): Promise<number> {
  const socket = new WebSocket(url);
  await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));
  const waiting = new Map<string, () => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data as string);
    if (message.type === "invocationresult") waiting.get(message.invocation_id)?.();
  });
  const call = (functionId: string, data: unknown) =>
    new Promise<void>((resolve) => {
      const invocationId = crypto.randomUUID();
      waiting.set(invocationId, () => {
        waiting.delete(invocationId);
        resolve();
      });
      socket.send(JSON.stringify({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data }));
    });

  const rate = await measureLoop(durationMs, async (index) => {
    const key = `k${index % 1000}`;
    await call("state::set", { scope: "bench", key, value: { n: index } });
    await call("state::get", { scope: "bench", key });
  });
  socket.close();
  return rate;
}

async function measureIoredis(durationMs: number): Promise<number> {
  const redis = new Redis(REDIS_URL);
  const prefix = `bench:state:direct:${crypto.randomUUID()}:`;
  try {
    return await measureLoop(durationMs, async (index) => {
      const key = `${prefix}k${index % 1000}`;
      await redis.set(key, JSON.stringify({ n: index }));
      await redis.get(key);
    });
  } finally {
    await deleteKeys(prefix);
    redis.disconnect();
  }
}

/** Runs `step` from INFLIGHT concurrent loops for `durationMs` and returns completed steps per second. */
async function measureLoop(durationMs: number, step: (index: number) => Promise<void>): Promise<number> {
  let completed = 0;
  let next = 0;
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (performance.now() < deadline) {
        await step(next++);
        completed++;
      }
    }),
  );
  return completed / ((performance.now() - started) / 1000);
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}
