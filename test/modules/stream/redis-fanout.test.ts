import { expect, test } from "bun:test";
import Redis from "ioredis";

import { startEngine, waitFor } from "../../support/engine.ts";
import { StreamClient, streamPort } from "./stream-client.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

function configFor(prefix: string): string {
  return `
port: 0
modules:
  - class: modules::stream::StreamModule
    config:
      port: 0
      adapter:
        class: modules::stream::adapters::RedisAdapter
        config:
          redis_url: ${REDIS_URL}
          key_prefix: "${prefix}"
`;
}

test("write on one engine reaches sockets on another", async () => {
  const prefix = `test:stream:${crypto.randomUUID()}:`;
  const redis = new Redis(REDIS_URL);
  await using engineA = await startEngine(configFor(prefix));
  await using engineB = await startEngine(configFor(prefix));
  const clientB = await StreamClient.connect(`ws://127.0.0.1:${streamPort(engineB.engine)}`);
  const clientA = await StreamClient.connect(`ws://127.0.0.1:${streamPort(engineA.engine)}`);

  try {
    clientB.join("b", "todos", "shared", "item-1");
    clientA.join("a", "todos", "shared");
    expect((await clientB.next("sync on engine B")).event).toEqual({ type: "sync", data: null });
    await clientA.next("sync on engine A");

    const outcome = await engineA.engine.context.invoke("stream::set", {
      stream_name: "todos",
      group_id: "shared",
      item_id: "item-1",
      data: { from: "A" },
    });
    expect(outcome.type).toBe("success");

    const onB = await clientB.next("create event on engine B");
    expect(onB.event).toEqual({ type: "create", data: { from: "A" } });
    expect(onB.id).toBe("item-1");
    const onA = await clientA.next("create event on engine A");
    expect(onA.event).toEqual({ type: "create", data: { from: "A" } });

    const readOnB = await engineB.engine.context.invoke("stream::get", { stream_name: "todos", group_id: "shared", item_id: "item-1" });
    expect(readOnB).toMatchObject({ type: "success", result: { from: "A" } });

    // Each engine delivers the event once: nothing more arrives before a later marker.
    await engineB.engine.context.invoke("stream::send", { stream_name: "todos", group_id: "shared", id: "item-1", type: "marker", data: null });
    expect((await clientB.next("marker on engine B")).event.type).toBe("event");
    await waitFor("marker on engine A", () => (clientA.unread > 0 ? true : undefined));
    expect((await clientA.next("marker on engine A")).event.type).toBe("event");
    expect(clientA.unread).toBe(0);
    expect(clientB.unread).toBe(0);
  } finally {
    await clientA.close();
    await clientB.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});

test("send fails while redis is unreachable", async () => {
  // Nothing listens on port 1, so the engine starts with the adapter reconnecting in the background.
  const config = configFor("test:stream:down:").replace(REDIS_URL, "redis://127.0.0.1:1");
  await using engine = await startEngine(config);

  const outcome = await engine.engine.context.invoke("stream::send", { stream_name: "todos", group_id: "shared", type: "ping", data: 1 });

  expect(outcome.type).toBe("failure");
  expect(outcome.type === "failure" ? outcome.error.code : null).toBe("backend_unavailable");
});
