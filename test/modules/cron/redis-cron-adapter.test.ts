import { afterAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";

import { EngineError } from "../../../src/core/errors.ts";
import { RedisCronAdapter } from "../../../src/modules/cron/adapters/redis.ts";
import { SYSTEM_CLOCK, type CronClock, type RedisCronAdapterConfig } from "../../../src/modules/cron/index.ts";
import { createLogger } from "../../../src/telemetry/logger.ts";
import { waitFor } from "../../support/engine.ts";
import { runCronLockContract } from "./adapter-contract.ts";
import { startCronEngine, type CronEngine } from "./cron-engine.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const logger = createLogger("cron-test");
const prefixes: string[] = [];
const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });

/** Creates a key prefix no other test uses. Its keys are deleted after the file's tests. */
function freshPrefix(): string {
  const prefix = `iii-test-cron-${crypto.randomUUID()}:`;
  prefixes.push(prefix);
  return prefix;
}

function redisConfig(keyPrefix: string, lockTtlMs = 30_000, redisUrl = REDIS_URL): RedisCronAdapterConfig {
  return { className: "modules::cron::RedisCronAdapter", redisUrl, keyPrefix, lockTtlMs };
}

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

describe("RedisCronAdapter", () => {
  runCronLockContract(async () => {
    const config = redisConfig(freshPrefix());
    return [await RedisCronAdapter.open(config, "engine-a", logger), await RedisCronAdapter.open(config, "engine-b", logger)];
  });

  test("stores the lock under the prefixed tick key with a TTL", async () => {
    const prefix = freshPrefix();
    const adapter = await RedisCronAdapter.open(redisConfig(prefix, 20_000), "engine-a", logger);

    expect(await adapter.tryAcquire("report", 1_764_882_000_000)).toBe(true);

    const key = `${prefix}cron_lock:report:1764882000000`;
    expect(await redis.get(key)).toBe("engine-a");
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(20_000);
    await adapter.close();
  });

  test("frees a tick once its lock expires", async () => {
    const prefix = freshPrefix();
    const adapter = await RedisCronAdapter.open(redisConfig(prefix, 50), "engine-a", logger);

    expect(await adapter.tryAcquire("report", 1_000)).toBe(true);
    await waitFor("the lock key to expire", async () => ((await redis.exists(`${prefix}cron_lock:report:1000`)) === 0 ? true : undefined), 2_000);

    expect(await adapter.tryAcquire("report", 1_000)).toBe(true);
    await adapter.close();
  });

  test("rejects claims with backend_unavailable while redis is unreachable", async () => {
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = listener.port;
    listener.stop(true);
    const adapter = await RedisCronAdapter.open(redisConfig(freshPrefix(), 30_000, `redis://app:secret@127.0.0.1:${port}`), "engine-a", logger);

    const error = await adapter.tryAcquire("report", 1_000).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe("backend_unavailable");
    expect((error as EngineError).message).toContain(`redis://127.0.0.1:${port}`);
    expect((error as EngineError).message).not.toContain("secret");
    await adapter.close();
  });
});

/** Counts the runs of one trigger per scheduled time, over several engines. */
class TickLedger {
  readonly runs = new Map<string, string[]>();

  attach(cron: CronEngine, engineName: string): void {
    cron.engine.context.registerFunction({ id: "jobs.tick" }, (data) => {
      const scheduled = String((data as { scheduled_time: string }).scheduled_time);
      this.runs.set(scheduled, [...(this.runs.get(scheduled) ?? []), engineName]);
      return null;
    });
  }

  /** Scheduled times in order, each as whole seconds since the epoch. */
  get seconds(): number[] {
    return [...this.runs.keys()].map((time) => Date.parse(time) / 1000).sort((a, b) => a - b);
  }
}

function skewedClock(offsetMs: number): CronClock {
  return { now: () => Date.now() + offsetMs, setTimer: SYSTEM_CLOCK.setTimer };
}

describe("cron engines sharing redis", () => {
  const cases: Array<[string, number]> = [
    ["run each tick once", 0],
    ["run each tick once with clocks 900 ms apart", 900],
  ];

  for (const [name, offsetMs] of cases) {
    test(name, async () => {
      const adapter = { class: "modules::cron::RedisCronAdapter", config: { redis_url: REDIS_URL, key_prefix: freshPrefix() } };
      const ledger = new TickLedger();
      const first = await startCronEngine(SYSTEM_CLOCK, adapter);
      const second = await startCronEngine(skewedClock(offsetMs), adapter);
      ledger.attach(first, "first");
      ledger.attach(second, "second");

      await first.addTrigger("every-second", "jobs.tick", { expression: "*/1 * * * * *" });
      await second.addTrigger("every-second", "jobs.tick", { expression: "*/1 * * * * *" });
      await waitFor("six ticks", () => (ledger.runs.size >= 6 ? true : undefined), 10_000);
      await first.stop();
      await second.stop();

      for (const [scheduled, engines] of ledger.runs) expect({ scheduled, engines }).toEqual({ scheduled, engines: [engines[0]!] });
      const seconds = ledger.seconds;
      expect(seconds.at(-1)! - seconds[0]!).toBe(seconds.length - 1);
    }, 15_000);
  }
});
