import { afterEach, describe, expect, test } from "bun:test";
import { startEngine, waitFor, type TestEngine } from "../../../support/engine.ts";
import { connectSdk, SDK_VERSIONS, type Sdk } from "../../../support/sdk.ts";
import { engineYaml, runQueueContract, type QueueBackend } from "../adapter-contract.ts";
import { deleteKeys, freshPrefix, REDIS_URL } from "../redis-keys.ts";

let prefix: string | undefined;

/** Builds the adapter block for a Redis queue under `keyPrefix`, with extra adapter keys. */
function redisAdapterYaml(keyPrefix: string, options: Record<string, string | number> = {}, url = REDIS_URL): string {
  const lines = Object.entries({ redis_url: url, key_prefix: keyPrefix, ...options }).map(
    ([key, value]) => `          ${key}: ${typeof value === "string" ? JSON.stringify(value) : value}`,
  );
  return ["      adapter:", "        class: modules::queue::RedisAdapter", "        config:", ...lines].join("\n");
}

const redisBackend: QueueBackend = {
  name: "RedisAdapter",
  adapterYaml(options = {}) {
    prefix = freshPrefix();
    return redisAdapterYaml(prefix, options);
  },
  async cleanup() {
    if (prefix) await deleteKeys(prefix);
    prefix = undefined;
  },
};

runQueueContract(redisBackend);

describe("RedisAdapter across engines", () => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  test("processes 1000 jobs exactly once with three subscribers on two engines", async () => {
    const keyPrefix = freshPrefix();
    cleanups.push(() => deleteKeys(keyPrefix));
    const [, init] = SDK_VERSIONS[0];
    const engines: TestEngine[] = [];
    const clients: Sdk[] = [];
    for (let index = 0; index < 2; index++) {
      const engine = await startEngine(engineYaml(redisAdapterYaml(keyPrefix, { concurrency: 20 })));
      engines.push(engine);
      cleanups.push(() => engine.stop());
    }

    const seen = new Map<number, number>();
    const perSubscriber = [0, 0, 0];
    for (const [index, engine] of [engines[0]!, engines[0]!, engines[1]!].entries()) {
      const sdk = connectSdk(init, engine.workerUrl);
      clients.push(sdk);
      cleanups.push(() => sdk.shutdown());
      sdk.registerFunction({ id: `bulk.handle.${index}` }, async (data: { n: number }) => {
        seen.set(data.n, (seen.get(data.n) ?? 0) + 1);
        perSubscriber[index]!++;
      });
      sdk.registerTrigger({ type: "queue", function_id: `bulk.handle.${index}`, config: { topic: "bulk" } });
    }
    await waitFor("three queue triggers", () =>
      engines[0]!.engine.triggers.size === 2 && engines[1]!.engine.triggers.size === 1 ? true : undefined,
    );

    for (let start = 0; start < 1000; start += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, offset) => clients[offset % 3]!.call("enqueue", { topic: "bulk", data: { n: start + offset } })));
    }
    await waitFor("1000 distinct jobs processed", () => (seen.size === 1000 ? true : undefined), 30_000);
    await waitFor("queue drained", async () => {
      const stats = (await clients[0]!.call("engine::queue::topic_stats", { topic: "bulk" })) as Record<string, number>;
      return stats.waiting === 0 && stats.active === 0 ? true : undefined;
    });

    expect([...seen.values()].filter((count) => count !== 1)).toEqual([]);
    expect(perSubscriber.reduce((sum, count) => sum + count, 0)).toBe(1000);
    expect(perSubscriber[2]).toBeGreaterThan(0);
  }, 60_000);
});

describe("RedisAdapter during an outage", () => {
  test("fails enqueue while redis is down and resumes after", async () => {
    const port = randomRedisPort();
    let redis = await startPrivateRedis(port);
    const url = `redis://127.0.0.1:${port}`;

    const engine = await startEngine(engineYaml(redisAdapterYaml("outage:", { backoff_ms: 20 }, url)));
    const [, init] = SDK_VERSIONS[0];
    const iii = connectSdk(init, engine.workerUrl);
    try {
      const received: unknown[] = [];
      iii.registerFunction({ id: "outage.handle" }, async (data: unknown) => {
        received.push(data);
      });
      iii.registerTrigger({ type: "queue", function_id: "outage.handle", config: { topic: "outage" } });
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));
      await iii.call("enqueue", { topic: "outage", data: "before" });
      await waitFor("first job", () => (received.length === 1 ? true : undefined));

      redis.kill(9);
      await redis.exited;
      const failure = await iii.call("enqueue", { topic: "outage", data: "lost?" }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: "backend_unavailable" });
      expect((failure as { message: string }).message).toContain(`127.0.0.1:${port}`);
      for (const [functionId, data] of [
        ["engine::queue::topic_stats", { topic: "outage" }],
        ["engine::queue::dlq_messages", { topic: "outage" }],
        ["iii::queue::redrive", { topic: "outage" }],
      ] as const) {
        const toolFailure = await iii.call(functionId, data, 5_000).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect({ functionId, failure: toolFailure }).toMatchObject({ functionId, failure: { code: "backend_unavailable" } });
      }

      redis = await startPrivateRedis(port);
      await waitFor(
        "enqueue accepted again",
        () => iii.call("enqueue", { topic: "outage", data: "after" }).then(() => true, () => undefined),
        10_000,
      );
      await waitFor("job after the outage processed", () => (received.includes("after") ? true : undefined), 15_000);
    } finally {
      await iii.shutdown();
      await engine.stop();
      redis.kill(9);
      await redis.exited;
    }
  }, 40_000);
});

describe("RedisAdapter started before redis", () => {
  test("processes jobs of a subscription made while redis was down", async () => {
    const port = randomRedisPort();
    const engine = await startEngine(engineYaml(redisAdapterYaml("late:", {}, `redis://127.0.0.1:${port}`)));
    const [, init] = SDK_VERSIONS[0];
    const iii = connectSdk(init, engine.workerUrl);
    let redis: ReturnType<typeof Bun.spawn> | null = null;
    try {
      const received: unknown[] = [];
      iii.registerFunction({ id: "late.handle" }, async (data: unknown) => {
        received.push(data);
      });
      iii.registerTrigger({ type: "queue", function_id: "late.handle", config: { topic: "late" } });
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      redis = await startPrivateRedis(port);
      await waitFor(
        "enqueue accepted",
        () => iii.call("enqueue", { topic: "late", data: "after start" }).then(() => true, () => undefined),
        10_000,
      );

      await waitFor("job processed", () => (received.includes("after start") ? true : undefined), 15_000);
    } finally {
      await iii.shutdown();
      await engine.stop();
      redis?.kill(9);
      await redis?.exited;
    }
  }, 40_000);
});

function randomRedisPort(): number {
  return 20_000 + Math.floor(Math.random() * 20_000);
}

/** Starts a throwaway redis-server on 127.0.0.1 without persistence and waits until it replies to PING. */
async function startPrivateRedis(port: number): Promise<ReturnType<typeof Bun.spawn>> {
  const redis = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdout: "ignore",
    stderr: "ignore",
  });
  await waitFor("private redis", async () => ((await fetchPing(port)) ? true : undefined));
  return redis;
}

async function fetchPing(port: number): Promise<boolean> {
  const probe = Bun.spawn(["redis-cli", "-p", String(port), "ping"], { stdout: "pipe", stderr: "ignore" });
  const output = await new Response(probe.stdout).text();
  await probe.exited;
  return output.trim() === "PONG";
}
