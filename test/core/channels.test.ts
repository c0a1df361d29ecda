import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { HTTP_ONLY_CONFIG, startEngine, waitFor, type TestEngine } from "../support/engine.ts";
import { RawWorker, type Frame } from "../support/raw-worker.ts";

interface ChannelRef {
  channel_id: string;
  access_key: string;
  direction: "read" | "write";
}

type Item = string | Uint8Array;

const ABANDONED_AFTER_MS = 5 * 60_000;

/** A client end of a channel that records what it receives and how it closed. */
class ChannelClient {
  readonly socket: WebSocket;
  readonly items: Item[] = [];
  closed: { code: number; reason: string } | null = null;
  readonly opened: Promise<void>;

  constructor(engine: TestEngine, ref: ChannelRef, direction: "read" | "write" = ref.direction) {
    const url = `ws://127.0.0.1:${engine.engine.port}/ws/channels/${ref.channel_id}?key=${ref.access_key}&dir=${direction}`;
    this.socket = new WebSocket(url);
    this.socket.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve());
      this.socket.addEventListener("error", () => reject(new Error(`channel socket ${url} failed`)));
    });
    this.socket.addEventListener("message", (event) => {
      this.items.push(typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer));
    });
    this.socket.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
    });
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    return waitFor("the channel socket to close", () => this.closed ?? undefined);
  }
}

async function createChannel(worker: RawWorker, bufferSize?: number): Promise<{ writer: ChannelRef; reader: ChannelRef }> {
  const reply = await worker.call("engine::channels::create", bufferSize === undefined ? {} : { buffer_size: bufferSize });
  if (reply.error) throw new Error(`engine::channels::create failed: ${JSON.stringify(reply.error)}`);
  return reply.result as { writer: ChannelRef; reader: ChannelRef };
}

function channelHttpUrl(engine: TestEngine, id: string, key: string, direction = "read"): string {
  return `http://127.0.0.1:${engine.engine.port}/ws/channels/${id}?key=${key}&dir=${direction}`;
}

describe("data channels", () => {
  let engine: TestEngine;
  let worker: RawWorker;

  beforeEach(async () => {
    engine = await startEngine(HTTP_ONLY_CONFIG);
    worker = await RawWorker.connect(engine.workerUrl);
  });

  afterEach(async () => {
    worker.close();
    await engine.stop();
  });

  test("create returns both ends of one channel", async () => {
    const { writer, reader } = await createChannel(worker);
    expect(writer.direction).toBe("write");
    expect(reader.direction).toBe("read");
    expect(writer.channel_id).toBe(reader.channel_id);
    expect(writer.access_key).toBe(reader.access_key);
  });

  test("create rejects a negative buffer size", async () => {
    const reply = await worker.call("engine::channels::create", { buffer_size: -1 });
    expect(reply.error).toMatchObject({ code: "deserialization_error" });
  });

  test("delivers text and binary items in order", async () => {
    const { writer, reader } = await createChannel(worker, 4);
    const readEnd = new ChannelClient(engine, reader);
    await readEnd.opened;
    const writeEnd = new ChannelClient(engine, writer);
    await writeEnd.opened;

    const sent: Item[] = [];
    for (let index = 0; index < 40; index++) {
      const item = index % 2 === 0 ? `text ${index}` : new Uint8Array([index, 255 - index, 0]);
      sent.push(item);
      writeEnd.socket.send(item);
    }
    writeEnd.socket.close();

    expect(await readEnd.waitClosed()).toMatchObject({ code: 1000 });
    expect(readEnd.items).toEqual(sent);
  });

  test("passes empty items and later ones", async () => {
    const { writer, reader } = await createChannel(worker);
    const readEnd = new ChannelClient(engine, reader);
    await readEnd.opened;
    const writeEnd = new ChannelClient(engine, writer);
    await writeEnd.opened;

    const sent: Item[] = ["a", "", "b", new Uint8Array(0), "c"];
    for (const item of sent) writeEnd.socket.send(item);
    writeEnd.socket.close();

    expect(await readEnd.waitClosed()).toMatchObject({ code: 1000 });
    expect(readEnd.items).toEqual(sent);
  });

  test("keeps items written before the reader connects", async () => {
    const { writer, reader } = await createChannel(worker);
    const writeEnd = new ChannelClient(engine, writer);
    await writeEnd.opened;
    writeEnd.socket.send("first");
    writeEnd.socket.send(new Uint8Array([1, 2, 3]));
    writeEnd.socket.close();
    await writeEnd.waitClosed();

    const readEnd = new ChannelClient(engine, reader);
    await readEnd.waitClosed();
    expect(readEnd.items).toEqual(["first", new Uint8Array([1, 2, 3])]);
  });

  test("takes each end only once", async () => {
    const { writer, reader } = await createChannel(worker);
    const firstReader = new ChannelClient(engine, reader);
    await firstReader.opened;
    const secondReader = new ChannelClient(engine, reader);
    expect(await secondReader.waitClosed()).toMatchObject({ code: 1008 });

    const firstWriter = new ChannelClient(engine, writer);
    await firstWriter.opened;
    const secondWriter = new ChannelClient(engine, writer);
    expect(await secondWriter.waitClosed()).toMatchObject({ code: 1008 });

    firstWriter.socket.send("still works");
    firstWriter.socket.close();
    await firstReader.waitClosed();
    expect(firstReader.items).toEqual(["still works"]);
    expect(secondReader.items).toEqual([]);
  });

  test("answers 404 for a wrong key or an unknown channel", async () => {
    const { reader } = await createChannel(worker);

    const wrongKey = await fetch(channelHttpUrl(engine, reader.channel_id, crypto.randomUUID()));
    expect(wrongKey.status).toBe(404);
    expect(await wrongKey.text()).toBe("Channel not found");

    const unknown = await fetch(channelHttpUrl(engine, crypto.randomUUID(), reader.access_key));
    expect(unknown.status).toBe(404);

    const badEscape = await fetch(channelHttpUrl(engine, "%zz", reader.access_key));
    expect(badEscape.status).toBe(404);

    const noDirection = await fetch(`http://127.0.0.1:${engine.engine.port}/ws/channels/${reader.channel_id}?key=${reader.access_key}`);
    expect(noDirection.status).toBe(400);
  });

  test("sweep removes channels with an end never taken", async () => {
    const manager = engine.engine.channels;
    const abandoned = await createChannel(worker);
    const halfTaken = await createChannel(worker);
    const inUse = await createChannel(worker);

    const halfReader = new ChannelClient(engine, halfTaken.reader);
    await halfReader.opened;
    const inUseReader = new ChannelClient(engine, inUse.reader);
    const inUseWriter = new ChannelClient(engine, inUse.writer);
    await Promise.all([inUseReader.opened, inUseWriter.opened]);
    expect(manager.size).toBe(3);

    manager.sweep(Date.now());
    expect(manager.size).toBe(3);

    manager.sweep(Date.now() + ABANDONED_AFTER_MS + 1_000);
    expect(manager.size).toBe(1);
    expect((await fetch(channelHttpUrl(engine, abandoned.reader.channel_id, abandoned.reader.access_key))).status).toBe(404);
    // The reader of a swept channel gets a normal close.
    expect(await halfReader.waitClosed()).toMatchObject({ code: 1000 });

    inUseWriter.socket.send("after the sweep");
    inUseWriter.socket.close();
    await inUseReader.waitClosed();
    expect(inUseReader.items).toEqual(["after the sweep"]);
  });
});

describe("HTTP streaming through channels", () => {
  let engine: TestEngine;
  let worker: RawWorker;

  beforeEach(async () => {
    engine = await startEngine(HTTP_ONLY_CONFIG);
    worker = await RawWorker.connect(engine.workerUrl);
  });

  afterEach(async () => {
    worker.close();
    await engine.stop();
  });

  /** Registers `POST /upload`, served by `handle`, which gets the invocation frame. */
  async function serveUpload(handle: (frame: Frame) => Promise<void>): Promise<void> {
    worker.onInvoke = (frame) => {
      void handle(frame).then(() => worker.send({ type: "invocationresult", invocation_id: frame.invocation_id, function_id: frame.function_id }));
    };
    worker.send({ type: "registerfunction", id: "files.upload" });
    worker.send({ type: "registertrigger", id: "upload-route", trigger_type: "http", function_id: "files.upload", config: { api_path: "upload", http_method: "POST" } });
    await worker.sync();
  }

  test("streams an upload in and a response out", async () => {
    await serveUpload(async (frame) => {
      const data = frame.data as { request_body: ChannelRef; response: ChannelRef };

      // Status and headers go out before the request body is read.
      const response = new ChannelClient(engine, data.response);
      await response.opened;
      response.socket.send(JSON.stringify({ type: "set_status", status_code: 201 }));
      response.socket.send(JSON.stringify({ type: "set_headers", headers: { "content-type": "application/octet-stream", "x-chunks": "3" } }));

      const body = new ChannelClient(engine, data.request_body);
      await body.waitClosed();
      const uploaded = Buffer.concat(body.items.map((item) => (typeof item === "string" ? Buffer.from(item) : Buffer.from(item))));

      const third = Math.ceil(uploaded.length / 3);
      for (let start = 0; start < uploaded.length; start += third) {
        response.socket.send(uploaded.subarray(start, start + third).reverse());
      }
      response.socket.close();
    });

    const chunks = [new Uint8Array(1000).fill(1), new Uint8Array(1000).fill(2), new Uint8Array(1000).fill(3)];
    const upload = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    const response = await fetch(`${engine.httpUrl}/upload`, {
      method: "POST",
      body: upload,
      headers: { "content-type": "application/octet-stream" },
    });

    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(response.headers.get("x-chunks")).toBe("3");
    const received = new Uint8Array(await response.arrayBuffer());
    const uploaded = Buffer.concat(chunks);
    const expected = Buffer.concat([0, 1000, 2000].map((start) => Buffer.from(uploaded.subarray(start, start + 1000)).reverse()));
    expect(received.length).toBe(3000);
    expect(Buffer.from(received).equals(expected)).toBe(true);
  });

  test("closes the body channel of an empty request", async () => {
    let bodyItems: Item[] | null = null;
    await serveUpload(async (frame) => {
      const body = new ChannelClient(engine, (frame.data as { request_body: ChannelRef }).request_body);
      await body.waitClosed();
      bodyItems = body.items;
    });

    const response = await fetch(`${engine.httpUrl}/upload`, { method: "POST" });

    expect(response.status).toBe(204);
    expect(bodyItems as Item[] | null).toEqual([]);
  });

  test("ends an empty streamed response with its status", async () => {
    await serveUpload(async (frame) => {
      const data = frame.data as { response: ChannelRef };
      const response = new ChannelClient(engine, data.response);
      await response.opened;
      response.socket.send(JSON.stringify({ type: "set_status", status_code: 202 }));
      response.socket.close();
      await response.waitClosed();
    });

    const response = await fetch(`${engine.httpUrl}/upload`, { method: "POST", body: "x" });
    expect(response.status).toBe(202);
    expect(await response.text()).toBe("");
  });

  test("keeps the request body readable after streaming starts", async () => {
    await serveUpload(async (frame) => {
      const data = frame.data as { request_body: ChannelRef; response: ChannelRef };
      const response = new ChannelClient(engine, data.response);
      await response.opened;
      response.socket.send(new TextEncoder().encode("received: "));

      // The response is already streaming when the request body is opened.
      await waitFor("the response to start", () => (responseStarted ? true : undefined));
      const body = new ChannelClient(engine, data.request_body);
      await body.waitClosed();
      for (const item of body.items) response.socket.send(item);
      response.socket.close();
    });

    let responseStarted = false;
    const response = await fetch(`${engine.httpUrl}/upload`, { method: "POST", body: "hello", headers: { "content-type": "text/plain" } });
    responseStarted = true;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("received: hello");
  });

  test("frees both channels once the stream ends", async () => {
    await serveUpload(async (frame) => {
      const data = frame.data as { request_body: ChannelRef; response: ChannelRef };
      const body = new ChannelClient(engine, data.request_body);
      await body.waitClosed();
      const response = new ChannelClient(engine, data.response);
      await response.opened;
      response.socket.send(new Uint8Array([7]));
      response.socket.close();
    });

    const response = await fetch(`${engine.httpUrl}/upload`, { method: "POST", body: "abc" });
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(new Uint8Array([7]));
    await waitFor("both channels to be removed", () => (engine.engine.channels.size === 0 ? true : undefined));
  });
});
