import { afterEach, describe, expect, test } from "bun:test";

import { RedisPubSubAdapter } from "../../../../src/modules/pubsub/adapters/redis.ts";
import { createLogger } from "../../../../src/telemetry/logger.ts";
import { waitFor } from "../../../support/engine.ts";
import { REDIS_URL, freshKeyPrefix } from "../../../support/redis-keys.ts";
import { TcpProxy } from "../../../support/tcp-proxy.ts";
import { createInbox, runPubSubAdapterContract } from "../adapter-contract.ts";

const logger = createLogger("pubsub-test");

runPubSubAdapterContract("Redis", async () => {
  const adapter = new RedisPubSubAdapter({ redisUrl: REDIS_URL, keyPrefix: freshKeyPrefix(), logger });
  await adapter.open();
  return { adapter, cleanup: () => adapter.close() };
});

describe("Redis pubsub adapter", () => {
  const cleanups: Array<() => Promise<unknown>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function openAdapter(redisUrl: string, keyPrefix: string): Promise<RedisPubSubAdapter> {
    const adapter = new RedisPubSubAdapter({ redisUrl, keyPrefix, logger });
    await adapter.open();
    cleanups.push(() => adapter.close());
    return adapter;
  }

  test("a message reaches every subscription on every adapter once", async () => {
    const keyPrefix = freshKeyPrefix();
    const first = await openAdapter(REDIS_URL, keyPrefix);
    const second = await openAdapter(REDIS_URL, keyPrefix);
    const inboxes = [createInbox(), createInbox(), createInbox()];
    await first.subscribe("orders", "a", inboxes[0]!.handler);
    await second.subscribe("orders", "b", inboxes[1]!.handler);
    await second.subscribe("orders", "c", inboxes[2]!.handler);

    await first.publish("orders", 1);
    await second.publish("orders", 2);
    await waitFor("two messages everywhere", () => (inboxes.every((inbox) => inbox.messages.length >= 2) ? true : undefined));
    await second.unsubscribe("orders", "c");
    await first.publish("orders", 3);
    await waitFor("the third message", () => (inboxes[1]!.messages.length >= 3 ? true : undefined));
    await waitFor("the third message on the first adapter", () => (inboxes[0]!.messages.length >= 3 ? true : undefined));

    expect(inboxes[0]!.messages).toEqual([1, 2, 3]);
    expect(inboxes[1]!.messages).toEqual([1, 2, 3]);
    expect(inboxes[2]!.messages).toEqual([1, 2]);
  });

  test("publish fails fast during an outage and subscriptions resume after it", async () => {
    const keyPrefix = freshKeyPrefix();
    const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const adapter = await openAdapter(`redis://127.0.0.1:${proxy.port}`, keyPrefix);
    const publisher = await openAdapter(REDIS_URL, keyPrefix);
    const inbox = createInbox();
    await adapter.subscribe("orders", "s1", inbox.handler);

    proxy.cut();
    const error = await waitFor("a failing publish during the outage", async () =>
      adapter.publish("orders", "during").then(
        () => undefined,
        (caught: unknown) => caught as { code: string; message: string },
      ),
    );
    expect(error.code).toBe("backend_unavailable");
    expect(error.message).toContain(`127.0.0.1:${proxy.port}`);

    await proxy.restore();
    await waitFor(
      "a message after the reconnect",
      async () => {
        await publisher.publish("orders", "after");
        await Bun.sleep(20);
        return inbox.messages.includes("after") ? true : undefined;
      },
      10_000,
    );
  });

  test("subscription made while Redis is down starts when it is back", async () => {
    const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const adapter = await openAdapter(`redis://127.0.0.1:${proxy.port}`, freshKeyPrefix());
    proxy.cut();
    await waitFor("the adapter to notice the outage", async () =>
      adapter.publish("x", 1).then(
        () => undefined,
        () => true,
      ),
    );

    const received: unknown[] = [];
    await adapter.subscribe("orders", "s1", (data) => void received.push(data));
    await proxy.restore();

    await waitFor(
      "a message published after the outage",
      async () => {
        await adapter.publish("orders", { n: 1 }).catch(() => undefined);
        return received.length > 0 ? true : undefined;
      },
      10_000,
    );
    expect(received[0]).toEqual({ n: 1 });
  });
});
