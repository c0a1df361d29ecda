import { describe, expect, test } from "bun:test";

import { parseStreamConfig } from "../../../src/modules/stream/config.ts";

describe("parseStreamConfig", () => {
  test("default set stores items on disk", () => {
    const config = parseStreamConfig(undefined, "defaults.modules::stream::StreamModule", "/data", true);
    expect(config.host).toBe("127.0.0.1");
    expect(config.port).toBe(3112);
    expect(config.maxSendBufferBytes).toBe(16 * 1024 * 1024);
    expect(config.adapter).toMatchObject({ type: "kv_store", store: { method: "file_based", filePath: "/data/stream" } });
  });

  test("listed module keeps items in memory", () => {
    const config = parseStreamConfig({}, "modules[0].config", "/data");
    expect(config.adapter).toMatchObject({ type: "kv_store", store: { method: "in_memory" } });
  });

  test("unknown module key is rejected", () => {
    expect(() => parseStreamConfig({ prot: 1 }, "modules[2].config", "/data")).toThrow("modules[2].config.prot: unknown key 'prot'");
  });

  test("unknown adapter class is rejected", () => {
    expect(() => parseStreamConfig({ adapter: { class: "modules::stream::adapters::Bridge" } }, "modules[2].config", "/data")).toThrow(
      "modules[2].config.adapter.class: unknown adapter 'modules::stream::adapters::Bridge'",
    );
  });

  test("redis adapter reads url and prefix", () => {
    const config = parseStreamConfig(
      { adapter: { class: "modules::stream::adapters::RedisAdapter", config: { redis_url: "redis://h:1", key_prefix: "t:" } } },
      "modules[0].config",
      "/data",
    );
    expect(config.adapter).toEqual({ type: "redis", redisUrl: "redis://h:1", keyPrefix: "t:" });
  });
});
