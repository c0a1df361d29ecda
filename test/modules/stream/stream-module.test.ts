import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import net from "node:net";

import type { JsonValue } from "../../../src/util/json.ts";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { StreamClient, streamModule, streamPort } from "./stream-client.ts";

const CONFIG = `
port: 0
modules:
  - class: modules::stream::StreamModule
    config:
      port: 0
      adapter:
        class: modules::stream::adapters::KvStore
`;

let engine: TestEngine;
let url: string;
const clients: StreamClient[] = [];

beforeEach(async () => {
  engine = await startEngine(CONFIG);
  url = `ws://127.0.0.1:${streamPort(engine.engine)}`;
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  await engine.stop();
});

async function connect(target = url): Promise<StreamClient> {
  const client = await StreamClient.connect(target);
  clients.push(client);
  return client;
}

async function call(functionId: string, data: JsonValue): Promise<JsonValue | undefined> {
  const outcome = await engine.engine.context.invoke(functionId, data);
  if (outcome.type === "failure") throw new Error(`${functionId} failed: ${outcome.error.code}: ${outcome.error.message}`);
  return outcome.result;
}

async function callError(functionId: string, data: JsonValue): Promise<{ code: string; message: string }> {
  const outcome = await engine.engine.context.invoke(functionId, data);
  if (outcome.type === "success") throw new Error(`${functionId} succeeded; expected an error`);
  return outcome.error;
}

/** Registers an in-process handler and a trigger of `type` bound to it. */
async function addTrigger(id: string, type: string, config: JsonValue, handler: (data: JsonValue) => JsonValue | undefined): Promise<void> {
  engine.engine.context.registerFunction({ id: `test.${id}` }, (data) => handler(data));
  await engine.engine.triggers.register({ id, trigger_type: type, function_id: `test.${id}`, config, worker_id: null });
}

const item = (id: string, data: JsonValue) => ({ stream_name: "todos", group_id: "g1", item_id: id, data });

describe("stream socket", () => {
  test("item join receives sync then changes in order", async () => {
    await call("stream::set", item("a", { title: "first" }));
    const client = await connect();

    client.join("s1", "todos", "g1", "a");
    const sync = await client.next("sync of item a");
    expect(sync.type).toBe("stream");
    expect(sync.streamName).toBe("todos");
    expect(sync.groupId).toBe("g1");
    expect(sync.id).toBe("a");
    expect(sync.event).toEqual({ type: "sync", data: { title: "first" } });
    expect(typeof sync.timestamp).toBe("number");

    await call("stream::set", item("a", { title: "second" }));
    await call("stream::delete", { stream_name: "todos", group_id: "g1", item_id: "a" });
    await call("stream::set", item("a", { title: "third" }));
    await call("stream::send", { stream_name: "todos", group_id: "g1", id: "a", type: "ping", data: { n: 1 } });

    expect((await client.next("update")).event).toEqual({ type: "update", data: { title: "second" } });
    expect((await client.next("delete")).event).toEqual({ type: "delete", data: { title: "second" } });
    expect((await client.next("create")).event).toEqual({ type: "create", data: { title: "third" } });
    expect((await client.next("custom event")).event).toEqual({ type: "event", event: { type: "ping", data: { n: 1 } } });
  });

  test("group join receives the group and its item events", async () => {
    await call("stream::set", item("a", 1));
    await call("stream::set", item("b", 2));
    await call("stream::set", { stream_name: "todos", group_id: "other", item_id: "x", data: 9 });
    const client = await connect();

    client.join("s1", "todos", "g1");
    const sync = await client.next("group sync");
    expect(sync.id).toBeNull();
    expect(sync.event).toEqual({ type: "sync", data: [1, 2] });

    await call("stream::set", { stream_name: "todos", group_id: "other", item_id: "x", data: 10 });
    await call("stream::update", { stream_name: "todos", group_id: "g1", item_id: "c", ops: [{ type: "set", path: "n", value: 3 }] });
    await call("stream::send", { stream_name: "todos", group_id: "g1", type: "note", data: "hi" });

    const created = await client.next("create of c");
    expect(created.id).toBe("c");
    expect(created.event).toEqual({ type: "create", data: { n: 3 } });
    const sent = await client.next("group event");
    expect(sent.id).toBeNull();
    expect(sent.event).toEqual({ type: "event", event: { type: "note", data: "hi" } });
  });

  test("missing item syncs null", async () => {
    const client = await connect();
    client.join("s1", "todos", "g1", "missing");
    expect((await client.next("sync")).event).toEqual({ type: "sync", data: null });
  });

  test("leave stops delivery", async () => {
    const client = await connect();
    client.join("s1", "todos", "g1");
    await client.next("sync");

    client.leave("s1", "todos", "g1");
    client.join("s2", "todos", "marker");
    await client.next("sync of the marker group, sent after the leave");

    await call("stream::set", item("a", 1));
    await call("stream::set", { stream_name: "todos", group_id: "marker", item_id: "m", data: 1 });
    const next = await client.next("marker event");
    expect(next.groupId).toBe("marker");
    expect(client.unread).toBe(0);
  });

  test("two matching subscriptions receive an event twice", async () => {
    const client = await connect();
    client.join("group", "todos", "g1");
    client.join("item", "todos", "g1", "a");
    client.join("group-again", "todos", "g1");
    await client.next("sync 1");
    await client.next("sync 2");
    await client.next("sync 3");

    await call("stream::set", item("a", 1));
    for (let copy = 0; copy < 3; copy++) expect((await client.next(`copy ${copy + 1}`)).event.type).toBe("create");

    await call("stream::set", item("b", 1));
    expect((await client.next("first copy for b")).id).toBe("b");
    expect((await client.next("second copy for b")).id).toBe("b");
    await call("stream::send", { stream_name: "todos", group_id: "marker", type: "end", data: null });
    client.join("marker", "todos", "marker");
    await client.next("marker sync");
    expect(client.unread).toBe(0);
  });

  test("send without id skips item subscriptions", async () => {
    const client = await connect();
    client.join("item", "todos", "g1", "a");
    await client.next("sync");

    await call("stream::send", { stream_name: "todos", group_id: "g1", type: "group-only", data: null });
    await call("stream::send", { stream_name: "todos", group_id: "g1", id: "a", type: "for-a", data: null });

    const received = await client.next("event for item a");
    expect(received.event.event?.type).toBe("for-a");
    expect(client.unread).toBe(0);
  });

  test("rejoin with the same id replaces the subscription", async () => {
    const client = await connect();
    client.join("s1", "todos", "g1");
    await client.next("first sync");
    client.join("s1", "todos", "g2");
    await client.next("second sync");

    await call("stream::set", item("a", 1));
    await call("stream::set", { stream_name: "todos", group_id: "g2", item_id: "b", data: 2 });
    expect((await client.next("event of g2")).groupId).toBe("g2");
    expect(client.unread).toBe(0);
  });

  test("other paths answer 404", async () => {
    const response = await fetch(`http://127.0.0.1:${streamPort(engine.engine)}/elsewhere`);
    expect(response.status).toBe(404);
  });

  test("unusable frames are ignored", async () => {
    const client = await connect();
    client.sendRaw("not json");
    client.sendRaw("[1,2]");
    client.sendJson({ type: "subscribe", data: {} });
    client.sendJson({ type: "join" });
    client.sendRaw(new TextEncoder().encode(JSON.stringify({ type: "join", data: { subscriptionId: "b", streamName: "todos", groupId: "g1" } })));

    const sync = await client.next("sync for the binary join frame");
    expect(sync.event.type).toBe("sync");
    expect(client.unread).toBe(0);
  });

  test("join without group gets an error event", async () => {
    const client = await connect();
    client.sendJson({ type: "join", data: { subscriptionId: "s1", streamName: "todos" } });

    const reply = await client.next("error event");
    expect(reply.event.type).toBe("error");
    expect(reply.event.error?.code).toBe("invalid_join");
    expect(reply.event.error?.message).toContain("groupId");

    await call("stream::set", item("a", 1));
    client.join("marker", "todos", "marker");
    expect((await client.next("marker sync")).groupId).toBe("marker");
    expect(client.unread).toBe(0);
  });

  test("slow client is disconnected", async () => {
    await engine.stop();
    engine = await startEngine(`
port: 0
modules:
  - class: modules::stream::StreamModule
    config:
      port: 0
      max_send_buffer_bytes: 65536
      adapter:
        class: modules::stream::adapters::KvStore
`);
    const port = streamPort(engine.engine);
    const socket = await openUnreadSocket(port);
    socket.write(maskedTextFrame(JSON.stringify({ type: "join", data: { subscriptionId: "s", streamName: "big", groupId: "g" } })));
    await waitFor("the raw client to connect", () => (streamModule(engine.engine).connectionCount === 1 ? true : undefined));

    // The kernel buffers a few MB first, so up to 64 MB are sent before the module's own buffer fills.
    const payload = "x".repeat(64 * 1024);
    for (let index = 0; index < 1000 && streamModule(engine.engine).connectionCount > 0; index++) {
      await call("stream::send", { stream_name: "big", group_id: "g", type: "blob", data: payload });
      if (index % 10 === 0) await Bun.sleep(1);
    }
    await waitFor("the slow client to be disconnected", () => (streamModule(engine.engine).connectionCount === 0 ? true : undefined));
    socket.destroy();
  }, 20_000);
});

describe("stream functions", () => {
  test("set, get, delete and list round trip", async () => {
    expect(await call("stream::set", item("a", { v: 1 }))).toEqual({ old_value: null, new_value: { v: 1 } });
    expect(await call("stream::set", item("a", { v: 2 }))).toEqual({ old_value: { v: 1 }, new_value: { v: 2 } });
    expect(await call("stream::get", { stream_name: "todos", group_id: "g1", item_id: "a" })).toEqual({ v: 2 });
    expect(await call("stream::get", { stream_name: "todos", group_id: "g1", item_id: "zz" })).toBeUndefined();
    expect(await call("stream::list", { stream_name: "todos", group_id: "g1" })).toEqual([{ v: 2 }]);
    expect(await call("stream::delete", { stream_name: "todos", group_id: "g1", item_id: "a" })).toEqual({ old_value: { v: 2 } });
    expect(await call("stream::delete", { stream_name: "todos", group_id: "g1", item_id: "a" })).toEqual({ old_value: null });
    expect(await call("stream::list", { stream_name: "todos", group_id: "g1" })).toEqual([]);
  });

  test("list_groups and list_all report groups", async () => {
    await call("stream::set", { stream_name: "todos", group_id: "b", item_id: "1", data: 1 });
    await call("stream::set", { stream_name: "todos", group_id: "a", item_id: "1", data: 1 });
    await call("stream::set", { stream_name: "chat", group_id: "room", item_id: "1", data: 1 });

    expect(await call("stream::list_groups", { stream_name: "todos" })).toEqual(["a", "b"]);
    expect(await call("stream::list_all", {})).toEqual({
      stream: [
        { id: "chat", groups: ["room"] },
        { id: "todos", groups: ["a", "b"] },
      ],
      count: 2,
    });
  });

  test("update applies operations", async () => {
    const first = await call("stream::update", {
      stream_name: "todos",
      group_id: "g1",
      item_id: "n",
      ops: [{ type: "increment", path: "count", by: 2 }],
    });
    expect(first).toEqual({ old_value: null, new_value: { count: 2 } });
    const second = await call("stream::update", {
      stream_name: "todos",
      group_id: "g1",
      item_id: "n",
      ops: [{ type: "decrement", path: "count", by: 1 }],
    });
    expect(second).toEqual({ old_value: { count: 2 }, new_value: { count: 1 } });
  });

  test("send answers null", async () => {
    expect(await call("stream::send", { stream_name: "todos", group_id: "g1", type: "t", data: 1 })).toBeNull();
  });

  test("send without data is rejected", async () => {
    const error = await callError("stream::send", { stream_name: "todos", group_id: "g1", type: "t" });
    expect(error.code).toBe("deserialization_error");
    expect(error.message).toBe("Failed to deserialize input for stream::send: missing 'data'");
  });

  test("missing fields are deserialization errors", async () => {
    const error = await callError("stream::set", { stream_name: "todos", item_id: "a", data: 1 });
    expect(error.code).toBe("deserialization_error");
    expect(error.message).toBe("Failed to deserialize input for stream::set: missing 'group_id'");

    const opsError = await callError("stream::update", { stream_name: "todos", group_id: "g", item_id: "a", ops: [{ type: "increment", path: "n", by: 1.5 }] });
    expect(opsError.code).toBe("deserialization_error");
    expect(opsError.message).toStartWith("Failed to deserialize input for stream::update: ops[0].by");
  });
});

describe("stream triggers", () => {
  test("stream trigger needs stream_name", async () => {
    engine.engine.context.registerFunction({ id: "test.noop" }, () => undefined);
    const attempt = engine.engine.triggers.register({ id: "t1", trigger_type: "stream", function_id: "test.noop", config: {}, worker_id: null });
    await expect(attempt).rejects.toThrow("stream_name");
  });

  test("stream triggers filter and run in order", async () => {
    const seen: string[] = [];
    await addTrigger("all", "stream", { stream_name: "todos" }, (data) => {
      seen.push(`all:${(data as { id: string }).id}`);
      return undefined;
    });
    await addTrigger("item", "stream", { stream_name: "todos", group_id: "g1", item_id: "b" }, (data) => {
      seen.push(`item:${(data as { event: { type: string } }).event.type}`);
      return undefined;
    });
    engine.engine.context.registerFunction({ id: "test.only-create" }, (data) => (data as { event: { type: string } }).event.type === "create");
    await addTrigger("conditional", "stream", { stream_name: "todos", condition_function_id: "test.only-create" }, () => {
      seen.push("conditional");
      return undefined;
    });

    await call("stream::set", item("a", 1));
    await call("stream::set", item("b", 1));
    await call("stream::set", item("b", 2));
    await call("stream::set", { stream_name: "chat", group_id: "g1", item_id: "b", data: 1 });

    await waitFor("six trigger runs", () => (seen.length >= 6 ? true : undefined));
    expect(seen.filter((entry) => entry.startsWith("all:"))).toEqual(["all:a", "all:b", "all:b"]);
    expect(seen.filter((entry) => entry.startsWith("item:"))).toEqual(["item:create", "item:update"]);
    expect(seen.filter((entry) => entry === "conditional")).toHaveLength(2);
  });

  test("stream trigger payload is the envelope", async () => {
    const payloads: JsonValue[] = [];
    await addTrigger("payload", "stream", { stream_name: "todos" }, (data) => {
      payloads.push(data);
      return undefined;
    });
    await call("stream::delete", { stream_name: "todos", group_id: "g1", item_id: "missing" });
    await call("stream::set", item("a", { v: 1 }));

    const payload = (await waitFor("trigger payload", () => payloads[0])) as Record<string, JsonValue>;
    expect(payloads).toHaveLength(1);
    expect(payload.type).toBe("stream");
    expect(payload.streamName).toBe("todos");
    expect(payload.groupId).toBe("g1");
    expect(payload.id).toBe("a");
    expect(payload.event).toEqual({ type: "create", data: { v: 1 } });
  });

  test("join handler can refuse a join", async () => {
    const joins: JsonValue[] = [];
    await addTrigger("gate", "stream:join", {}, (data) => {
      joins.push(data);
      return { unauthorized: (data as { group_id: string }).group_id === "secret" };
    });
    const client = await connect();

    client.join("s1", "todos", "secret", "a");
    const refusal = await client.next("unauthorized event");
    expect(refusal.event).toEqual({ type: "unauthorized" });
    expect(refusal.groupId).toBe("secret");
    expect(refusal.id).toBe("a");
    expect(joins[0]).toEqual({ subscription_id: "s1", stream_name: "todos", group_id: "secret", id: "a", context: null });

    await call("stream::set", { stream_name: "todos", group_id: "secret", item_id: "a", data: 1 });
    client.join("s2", "todos", "open");
    expect((await client.next("sync of the open group")).event.type).toBe("sync");
    expect(client.unread).toBe(0);
  });

  test("leave and close fire leave handlers", async () => {
    const leaves: JsonValue[] = [];
    await addTrigger("bye", "stream:leave", {}, (data) => {
      leaves.push(data);
      return undefined;
    });
    const client = await connect();
    client.join("s1", "todos", "g1");
    client.join("s2", "todos", "g1", "a");
    client.join("s3", "chat", "room");
    await client.next("sync 1");
    await client.next("sync 2");
    await client.next("sync 3");

    client.leave("s1", "todos", "g1");
    await waitFor("explicit leave", () => leaves[0]);
    expect(leaves[0]).toEqual({ subscription_id: "s1", stream_name: "todos", group_id: "g1", id: null, context: null });

    await client.close();
    await waitFor("leaves on close", () => (leaves.length === 3 ? true : undefined));
    const ids = leaves.slice(1).map((leave) => (leave as { subscription_id: string }).subscription_id);
    expect(ids.sort()).toEqual(["s2", "s3"]);
  });
});

describe("stream auth", () => {
  test("auth context reaches join handlers", async () => {
    await engine.stop();
    engine = await startEngine(`
port: 0
modules:
  - class: modules::stream::StreamModule
    config:
      port: 0
      auth_function: test.auth
      adapter:
        class: modules::stream::adapters::KvStore
`);
    url = `ws://127.0.0.1:${streamPort(engine.engine)}`;
    const authInputs: JsonValue[] = [];
    engine.engine.context.registerFunction({ id: "test.auth" }, (data) => {
      authInputs.push(data);
      const query = (data as { query_params: Record<string, string[]> }).query_params;
      if (query.fail) throw new Error("auth backend down");
      return { context: { user: query.user?.[0] ?? null } };
    });
    const joins: JsonValue[] = [];
    await addTrigger("gate", "stream:join", {}, (data) => {
      joins.push(data);
      return undefined;
    });

    const client = await connect(`${url}/?user=ada&tag=a&tag=b%20c&flag`);
    client.join("s1", "todos", "g1");
    await client.next("sync");
    expect(joins[0]).toMatchObject({ subscription_id: "s1", context: { user: "ada" } });

    const input = authInputs[0] as { headers: Record<string, string>; path: string; query_params: JsonValue; addr: string };
    expect(input.path).toBe("/");
    expect(input.query_params).toEqual({ user: ["ada"], tag: ["a", "b%20c"], flag: [""] });
    expect(input.headers["upgrade"]).toBe("websocket");
    expect(input.addr).toMatch(/^127\.0\.0\.1:\d+$/);

    const failing = await connect(`${url}/?fail=1`);
    failing.join("s2", "todos", "g1");
    await failing.next("sync after a failed auth call");
    expect(joins[1]).toMatchObject({ subscription_id: "s2", context: null });
  });
});

/** Opens a WebSocket by hand and stops reading after the handshake, like a stalled client. */
async function openUnreadSocket(port: number): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.write(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    socket.once("data", () => {
      socket.pause();
      resolve();
    });
  });
  return socket;
}

/** A client-to-server text frame (clients must mask, RFC 6455 section 5.3); payload under 126 bytes. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error("frame helper handles payloads under 126 bytes only");
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}
