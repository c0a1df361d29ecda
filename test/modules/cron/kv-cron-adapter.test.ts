import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { KvCronAdapter, parseCronConfig, type KvCronAdapterConfig } from "../../../src/modules/cron/index.ts";
import { createLogger } from "../../../src/telemetry/logger.ts";
import { KvStore } from "../../../src/storage/index.ts";
import type { JsonValue } from "../../../src/util/json.ts";
import { runCronLockContract } from "./adapter-contract.ts";
import { startCronEngine } from "./cron-engine.ts";
import { FakeClock } from "./fake-clock.ts";

const SILENT = { warn() {}, info() {}, debug() {} };
const logger = createLogger("cron-test");

function kvConfig(adapterConfig: { [key: string]: JsonValue }, dataDir = "/nonexistent"): KvCronAdapterConfig {
  const parsed = parseCronConfig(
    { adapter: { class: "modules::cron::KvCronAdapter", config: adapterConfig } },
    "modules[0].config",
    { dataDir, logger: SILENT },
  );
  return parsed.adapter as KvCronAdapterConfig;
}

describe("KvCronAdapter", () => {
  runCronLockContract(async () => {
    const config = kvConfig({ lock_index: `locks_${crypto.randomUUID()}` });
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    return [
      await KvCronAdapter.open(config, "engine-a", clock, logger),
      await KvCronAdapter.open(config, "engine-b", clock, logger),
    ];
  });

  test("logs once that locks are process-local", async () => {
    const messages: string[] = [];
    const recorder = { ...logger, info: (message: string) => messages.push(message) };
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    const adapter = await KvCronAdapter.open(kvConfig({ lock_index: `locks_${crypto.randomUUID()}` }), "engine-a", clock, recorder);

    await adapter.tryAcquire("report", 1_000);
    await adapter.tryAcquire("report", 2_000);

    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain("cron locks are process-local");
    expect(messages[0]).toContain("modules::cron::RedisCronAdapter");
    await adapter.close();
  });

  test("frees a tick once its lock expires", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    const config = kvConfig({ lock_index: `locks_${crypto.randomUUID()}`, lock_ttl_ms: 500 });
    const first = await KvCronAdapter.open(config, "engine-a", clock, logger);
    const second = await KvCronAdapter.open(config, "engine-b", clock, logger);

    expect(await first.tryAcquire("report", 1_000)).toBe(true);
    await clock.advanceBy(499);
    expect(await second.tryAcquire("report", 1_000)).toBe(false);
    await clock.advanceBy(1);
    expect(await second.tryAcquire("report", 1_000)).toBe(true);

    await first.close();
    await second.close();
  });

  test("deletes expired locks from the index", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "iii-cron-kv-"));
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    const config = kvConfig({ store_method: "file_based", lock_ttl_ms: 100 }, dataDir);
    const adapter = await KvCronAdapter.open(config, "engine-a", clock, logger);

    for (let tick = 0; tick < 20; tick++) {
      expect(await adapter.tryAcquire("report", tick * 1_000)).toBe(true);
      await clock.advanceBy(50);
    }
    await adapter.close();

    const store = await KvStore.open({ method: "file_based", filePath: join(dataDir, "cron"), saveIntervalMs: 0 });
    expect(store.size("cron_locks")).toBeLessThanOrEqual(3);
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("treats an unreadable lock entry as free", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "iii-cron-kv-"));
    const seed = await KvStore.open({ method: "file_based", filePath: join(dataDir, "cron"), saveIntervalMs: 0 });
    seed.set("cron_locks", "report:1000", "not a lock");
    await seed.close();
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    const adapter = await KvCronAdapter.open(kvConfig({ store_method: "file_based" }, dataDir), "engine-a", clock, logger);

    expect(await adapter.tryAcquire("report", 1_000)).toBe(true);

    await adapter.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("shares one file store between engines in one process", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "iii-cron-kv-"));
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    const config = kvConfig({ store_method: "file_based" }, dataDir);
    const first = await KvCronAdapter.open(config, "engine-a", clock, logger);
    const second = await KvCronAdapter.open(config, "engine-b", clock, logger);

    expect(await first.tryAcquire("report", 1_000)).toBe(true);
    expect(await second.tryAcquire("report", 1_000)).toBe(false);
    await first.close();
    expect(await second.tryAcquire("report", 2_000)).toBe(true);

    await second.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe("cron module config", () => {
  test("defaults to process-local locks in memory", () => {
    const config = parseCronConfig({}, "modules[0].config", { dataDir: "/data", logger: SILENT });

    expect(config.adapter).toMatchObject({
      className: "modules::cron::KvCronAdapter",
      lockTtlMs: 30_000,
      lockIndex: "cron_locks",
      store: { method: "in_memory", filePath: "/data/cron" },
    });
  });

  test("keeps the default set's locks in a file store", () => {
    const config = parseCronConfig({}, "defaults.modules::cron::CronModule", { dataDir: "/data", defaultSet: true, logger: SILENT });

    expect(config.adapter).toMatchObject({ store: { method: "file_based", filePath: "/data/cron" } });
  });

  test("reads the redis adapter keys", () => {
    const config = parseCronConfig(
      { adapter: { class: "modules::cron::RedisCronAdapter", config: { redis_url: "redis://cache:6380/2", key_prefix: "app:", lock_ttl_ms: 5000 } } },
      "modules[0].config",
      { dataDir: "/data", logger: SILENT },
    );

    expect(config.adapter).toEqual({
      className: "modules::cron::RedisCronAdapter",
      redisUrl: "redis://cache:6380/2",
      keyPrefix: "app:",
      lockTtlMs: 5000,
    });
  });

  const invalid: Array<[string, unknown, string]> = [
    ["an unknown module key", { schedule: 1 }, "modules[0].config.schedule: unknown key 'schedule'; known keys: adapter"],
    [
      "an unknown adapter",
      { adapter: { class: "modules::cron::Etcd" } },
      "modules[0].config.adapter.class: unknown adapter 'modules::cron::Etcd'; known adapters: modules::cron::KvCronAdapter, modules::cron::RedisCronAdapter",
    ],
    [
      "an unknown adapter key",
      { adapter: { class: "modules::cron::RedisCronAdapter", config: { lock_index: "x" } } },
      "modules[0].config.adapter.config.lock_index: unknown key 'lock_index'",
    ],
    [
      "a zero lock TTL",
      { adapter: { class: "modules::cron::KvCronAdapter", config: { lock_ttl_ms: 0 } } },
      "modules[0].config.adapter.config.lock_ttl_ms: expected an integer from 1",
    ],
    [
      "an empty lock index",
      { adapter: { config: { lock_index: "" } } },
      "modules[0].config.adapter.config.lock_index: expected a non-empty index name",
    ],
  ];
  for (const [name, raw, message] of invalid) {
    test(`rejects ${name}`, () => {
      expect(() => parseCronConfig(raw, "modules[0].config", { dataDir: "/data", logger: SILENT })).toThrow(message);
    });
  }
});

describe("cron engines in one process", () => {
  test("run each tick once with the shared in-memory store", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    const adapter = { class: "modules::cron::KvCronAdapter", config: { store_method: "in_memory", lock_index: `locks_${crypto.randomUUID()}` } };
    await using first = await startCronEngine(clock, adapter);
    await using second = await startCronEngine(clock, adapter);
    const runs = new Map<string, string[]>();
    for (const [name, cron] of [["first", first], ["second", second]] as const) {
      cron.engine.context.registerFunction({ id: "jobs.tick" }, (data) => {
        const scheduled = String((data as { scheduled_time: string }).scheduled_time);
        runs.set(scheduled, [...(runs.get(scheduled) ?? []), name]);
        return null;
      });
      await cron.addTrigger("shared-tick", "jobs.tick", { expression: "* * * * * *" });
    }

    await clock.advanceTo("2026-03-01T00:00:10.000Z");

    expect(runs.size).toBe(10);
    for (const [scheduled, engines] of runs) expect({ scheduled, engines: engines.length }).toEqual({ scheduled, engines: 1 });
  });
});
