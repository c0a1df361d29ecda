import { afterEach, describe, expect, test } from "bun:test";
import { startEngine, waitFor, type TestEngine } from "../support/engine.ts";
import { RawWorker } from "../support/raw-worker.ts";

let engine: TestEngine | null = null;

afterEach(async () => {
  await engine?.stop();
  engine = null;
});

function upgradeStatus(url: string): Promise<number> {
  return fetch(url.replace("ws:", "http:"), {
    headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
  }).then((response) => response.status);
}

describe("connection limits", () => {
  test("worker port rejects connections past max_worker_connections", async () => {
    engine = await startEngine("port: 0\nmax_worker_connections: 2\n");
    const first = await RawWorker.connect(engine.workerUrl);
    const second = await RawWorker.connect(engine.workerUrl);
    expect(await upgradeStatus(engine.workerUrl)).toBe(503);

    first.close();
    await waitFor("first worker gone", () => (engine!.engine.workers.size === 1 ? true : undefined));
    const third = await RawWorker.connect(engine.workerUrl);
    expect(third.workerId).not.toBe("");
    second.close();
    third.close();
  });

  test("stream port rejects connections past max_connections", async () => {
    engine = await startEngine(`
port: 0
modules:
  - class: modules::stream::StreamModule
    config: { port: 0, max_connections: 1 }
`);
    const stream = engine.engine.modules.find((module) => module.className === "modules::stream::StreamModule") as unknown as { port: number };
    const url = `ws://127.0.0.1:${stream.port}`;
    const client = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      client.onopen = () => resolve();
      client.onerror = () => reject(new Error("first stream client was rejected"));
    });
    expect(await upgradeStatus(url)).toBe(503);
    client.close();
  });
});
