import { afterEach, describe, expect, test } from "bun:test";
import Redis from "ioredis";

import { RedisStateAdapter } from "../../../../src/modules/state/adapters/redis.ts";
import { parseUpdateOps } from "../../../../src/storage/index.ts";
import { createLogger } from "../../../../src/telemetry/logger.ts";
import { REDIS_URL, deleteKeysWithPrefix, freshKeyPrefix } from "../../../support/redis-keys.ts";
import { TcpProxy } from "../../../support/tcp-proxy.ts";
import { waitFor } from "../../../support/engine.ts";
import { runStateAdapterContract } from "../adapter-contract.ts";

const logger = createLogger("state-test");

runStateAdapterContract("Redis", async () => {
  const keyPrefix = freshKeyPrefix();
  const adapter = new RedisStateAdapter({ redisUrl: REDIS_URL, keyPrefix, logger });
  await adapter.open();
  return {
    adapter,
    cleanup: async () => {
      await adapter.close();
      await deleteKeysWithPrefix(keyPrefix);
    },
  };
});

describe("Redis state adapter", () => {
  const cleanups: Array<() => Promise<unknown>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function openAdapter(redisUrl: string, keyPrefix: string): Promise<RedisStateAdapter> {
    const adapter = new RedisStateAdapter({ redisUrl, keyPrefix, logger });
    await adapter.open();
    cleanups.push(() => adapter.close());
    return adapter;
  }

  test("stores one hash per scope with JSON fields", async () => {
    const keyPrefix = freshKeyPrefix();
    cleanups.push(() => deleteKeysWithPrefix(keyPrefix));
    const adapter = await openAdapter(REDIS_URL, keyPrefix);

    await adapter.set("orders", "o-1", { total: 5 });

    const raw = new Redis(REDIS_URL);
    cleanups.push(() => raw.quit());
    expect(await raw.hget(`${keyPrefix}state:orders`, "o-1")).toBe('{"total":5}');
  });

  test("two adapters see each other's writes and updates", async () => {
    const keyPrefix = freshKeyPrefix();
    cleanups.push(() => deleteKeysWithPrefix(keyPrefix));
    const first = await openAdapter(REDIS_URL, keyPrefix);
    const second = await openAdapter(REDIS_URL, keyPrefix);
    const ops = parseUpdateOps([{ type: "increment", path: "n", by: 1 }]);

    await Promise.all(Array.from({ length: 40 }, (_, position) => (position % 2 === 0 ? first : second).update("s", "k", ops)));

    expect(await first.get("s", "k")).toEqual({ n: 40 });
    expect(await second.get("s", "k")).toEqual({ n: 40 });
  });

  test("opens before Redis is up and connects later", async () => {
    const keyPrefix = freshKeyPrefix();
    cleanups.push(() => deleteKeysWithPrefix(keyPrefix));
    const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    proxy.cut();
    const adapter = new RedisStateAdapter({ redisUrl: `redis://127.0.0.1:${proxy.port}`, keyPrefix, logger });
    cleanups.push(() => adapter.close());

    await adapter.open();
    const error = await adapter.set("s", "k", 1).then(
      () => null,
      (caught: unknown) => caught as { code: string; message: string },
    );
    expect(error?.code).toBe("backend_unavailable");
    expect(error?.message).toContain(`127.0.0.1:${proxy.port}`);

    await proxy.restore();
    await waitFor("the adapter to connect", async () => adapter.set("s", "k", 2).catch(() => undefined), 10_000);
    expect(await adapter.get("s", "k")).toBe(2);
  });

  test("calls fail fast during an outage and work after it", async () => {
    const keyPrefix = freshKeyPrefix();
    cleanups.push(() => deleteKeysWithPrefix(keyPrefix));
    const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const adapter = await openAdapter(`redis://127.0.0.1:${proxy.port}`, keyPrefix);
    await adapter.set("s", "before", 1);

    proxy.cut();
    const error = await waitFor("a failing call during the outage", async () =>
      adapter.set("s", "during", 2).then(
        () => undefined,
        (caught: unknown) => caught as { code: string; message: string },
      ),
    );
    expect(error.code).toBe("backend_unavailable");
    expect(error.message).toContain("unavailable");

    await proxy.restore();
    await waitFor("the adapter to reconnect", async () => adapter.get("s", "before").catch(() => undefined), 10_000);
    expect(await adapter.get("s", "before")).toBe(1);
  });
});
