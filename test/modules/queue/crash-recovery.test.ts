import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../support/engine.ts";
import { connectSdk, SDK_VERSIONS, type Sdk } from "../../support/sdk.ts";
import { deleteKeys, freshPrefix, REDIS_URL } from "./redis-keys.ts";

const JOB_COUNT = 20;
const FAST_JOBS = 8;
const CONCURRENCY = 3;
const [, init] = SDK_VERSIONS[0];

interface Scenario {
  name: string;
  adapterYaml(dir: string): string;
  cleanup(): Promise<void>;
}

const redisPrefix = freshPrefix();
const scenarios: Scenario[] = [
  {
    name: "BuiltinQueueAdapter",
    adapterYaml: (dir) => `
      adapter:
        class: modules::queue::BuiltinQueueAdapter
        config:
          store_method: file_based
          file_path: ${JSON.stringify(join(dir, "queue"))}`,
    cleanup: async () => undefined,
  },
  {
    name: "RedisAdapter",
    adapterYaml: () => `
      adapter:
        class: modules::queue::RedisAdapter
        config:
          redis_url: ${JSON.stringify(REDIS_URL)}
          key_prefix: ${JSON.stringify(redisPrefix)}
          visibility_timeout_ms: 1000`,
    cleanup: () => deleteKeys(redisPrefix),
  },
];

for (const scenario of scenarios) {
  describe(`queue crash recovery on ${scenario.name}`, () => {
    const children: Array<ReturnType<typeof Bun.spawn>> = [];
    const clients: Sdk[] = [];
    let dir = "";

    afterEach(async () => {
      for (const client of clients.splice(0)) await client.shutdown().catch(() => undefined);
      for (const child of children.splice(0)) {
        child.kill(9);
        await child.exited;
      }
      rmSync(dir, { recursive: true, force: true });
      await scenario.cleanup();
    });

    test("redelivers unacknowledged jobs after kill -9", async () => {
      dir = mkdtempSync(join(tmpdir(), "iii-queue-crash-"));
      const port = await freePort();
      const configPath = join(dir, "config.yaml");
      writeFileSync(configPath, `port: ${port}\nmodules:\n  - class: modules::queue::QueueModule\n    config:${scenario.adapterYaml(dir)}\n`);
      const url = `ws://127.0.0.1:${port}`;

      children.push(await startChild(configPath, dir, port));
      const first = connectSdk(init, url);
      clients.push(first);
      const acknowledged = new Set<number>();
      first.registerFunction({ id: "slow.handle" }, async (data: { n: number }) => {
        // Jobs past the fast ones hang until the engine is killed under them.
        if (data.n >= FAST_JOBS) await new Promise(() => undefined);
        acknowledged.add(data.n);
      });
      first.registerTrigger({
        type: "queue",
        function_id: "slow.handle",
        config: { topic: "work", metadata: { infrastructure: { queue: { concurrency: CONCURRENCY } } } },
      });
      for (let n = 0; n < JOB_COUNT; n++) await first.call("enqueue", { topic: "work", data: { n } });

      await waitFor("fast jobs acknowledged and slow jobs in flight", async () => {
        const stats = (await first.call("engine::queue::topic_stats", { topic: "work" })) as Record<string, number>;
        return stats.active === CONCURRENCY && stats.waiting + stats.active === JOB_COUNT - FAST_JOBS ? true : undefined;
      }, 10_000);
      expect(acknowledged.size).toBe(FAST_JOBS);

      const crashed = children.pop()!;
      crashed.kill(9);
      await crashed.exited;
      await first.shutdown().catch(() => undefined);
      clients.pop();

      children.push(await startChild(configPath, dir, port));
      const second = connectSdk(init, url);
      clients.push(second);
      const redelivered: number[] = [];
      second.registerFunction({ id: "slow.handle" }, async (data: { n: number }) => {
        redelivered.push(data.n);
      });
      second.registerTrigger({ type: "queue", function_id: "slow.handle", config: { topic: "work" } });

      await waitFor("every unacknowledged job processed", () => (new Set(redelivered).size === JOB_COUNT - FAST_JOBS ? true : undefined), 15_000);
      const expected = Array.from({ length: JOB_COUNT - FAST_JOBS }, (_, index) => FAST_JOBS + index);
      expect([...new Set(redelivered)].sort((a, b) => a - b)).toEqual(expected);
      expect(redelivered.filter((n) => acknowledged.has(n))).toEqual([]);
      expect(redelivered).toHaveLength(JOB_COUNT - FAST_JOBS);
    }, 40_000);
  });
}

async function startChild(configPath: string, dataDir: string, port: number): Promise<ReturnType<typeof Bun.spawn>> {
  const child = Bun.spawn(["bun", "src/main.ts", "-c", configPath], {
    cwd: join(import.meta.dir, "../../.."),
    env: { ...process.env, III_DATA_DIR: dataDir, III_LOG_LEVEL: "warn" },
    stdout: "ignore",
    stderr: "inherit",
  });
  await waitFor(`engine child on port ${port}`, async () => {
    const open = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (socket) => {
        socket.end();
        return true;
      },
      () => undefined,
    );
    return open;
  }, 15_000);
  return child;
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}
