import { describe, expect, test } from "bun:test";
import Redis from "ioredis";

import { RedisStreamAdapter } from "../../../../src/modules/stream/adapters/redis.ts";
import { createLogger } from "../../../../src/telemetry/logger.ts";
import { runStreamAdapterContract } from "../adapter-contract.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Creates a key prefix no other test uses, with a cleanup that deletes its keys. */
function freshPrefix(): { prefix: string; cleanup(): Promise<void> } {
  const prefix = `test:stream:${crypto.randomUUID()}:`;
  return {
    prefix,
    async cleanup() {
      const redis = new Redis(REDIS_URL);
      try {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  };
}

let current = freshPrefix();

runStreamAdapterContract("Redis", {
  create: async () => {
    current = freshPrefix();
    return new RedisStreamAdapter({ redisUrl: REDIS_URL, keyPrefix: current.prefix, logger: createLogger("stream") });
  },
  cleanup: () => current.cleanup(),
});

describe("Redis stream adapter", () => {
  test("items live in prefixed hashes", async () => {
    const { prefix, cleanup } = freshPrefix();
    const adapter = new RedisStreamAdapter({ redisUrl: REDIS_URL, keyPrefix: prefix, logger: createLogger("stream") });
    const redis = new Redis(REDIS_URL);
    try {
      await adapter.open(() => undefined);
      await adapter.set("todos", "g1", "a", { v: 1 });
      expect(await redis.hget(`${prefix}stream:todos:g1`, "a")).toBe('{"v":1}');
    } finally {
      await adapter.close();
      redis.disconnect();
      await cleanup();
    }
  });

  test("events cross between adapters on one prefix", async () => {
    const { prefix, cleanup } = freshPrefix();
    const received: string[] = [];
    const sender = new RedisStreamAdapter({ redisUrl: REDIS_URL, keyPrefix: prefix, logger: createLogger("stream") });
    const receiver = new RedisStreamAdapter({ redisUrl: REDIS_URL, keyPrefix: prefix, logger: createLogger("stream") });
    try {
      await sender.open(() => undefined);
      await receiver.open((event) => received.push(event.groupId));
      await sender.publish({ type: "stream", timestamp: 1, streamName: "s", groupId: "from-sender", id: null, event: { type: "sync", data: [] } });
      const deadline = Date.now() + 3_000;
      while (received.length === 0 && Date.now() < deadline) await Bun.sleep(5);
      expect(received).toEqual(["from-sender"]);
    } finally {
      await sender.close();
      await receiver.close();
      await cleanup();
    }
  });

  test("unreachable redis opens and fails calls with its url", async () => {
    const adapter = new RedisStreamAdapter({ redisUrl: "redis://user:secret@127.0.0.1:1", keyPrefix: "", logger: createLogger("stream") });
    try {
      await adapter.open(() => undefined);
      const setting = adapter.set("s", "g", "i", 1);

      await expect(setting).rejects.toMatchObject({ code: "backend_unavailable" });
      await expect(setting).rejects.toThrow("redis://127.0.0.1:1");
      await setting.catch((error: Error) => expect(error.message).not.toContain("secret"));
    } finally {
      await adapter.close();
    }
  });
});
