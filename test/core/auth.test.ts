import { afterEach, describe, expect, test } from "bun:test";
import { parseAuthConfig } from "../../src/core/auth.ts";
import { addLogListener, configureLogging, type LogRecord } from "../../src/telemetry/logger.ts";
import { startEngine, type TestEngine } from "../support/engine.ts";
import { RawWorker } from "../support/raw-worker.ts";
import { connectSdk, SDK_VERSIONS } from "../support/sdk.ts";

const TOKEN = "a-very-long-worker-token-123";
let engine: TestEngine | null = null;

afterEach(async () => {
  await engine?.stop();
  engine = null;
});

function upgradeRequest(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url.replace("ws:", "http:"), {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      ...headers,
    },
  });
}

describe("worker authentication", () => {
  test("is off by default", async () => {
    engine = await startEngine("port: 0\n");
    using worker = await RawWorker.connect(engine.workerUrl);
    expect(worker.workerId).not.toBe("");
  });

  test("rejects missing and wrong tokens with 401 and never logs them", async () => {
    engine = await startEngine(`port: 0\nauth:\n  tokens: ["\${III_TEST_TOKEN}"]\n`, { env: { III_TEST_TOKEN: TOKEN } });
    const records: LogRecord[] = [];
    configureLogging({ level: "warn" });
    const remove = addLogListener((record) => records.push(record));
    try {
      expect((await upgradeRequest(engine.workerUrl)).status).toBe(401);
      expect((await upgradeRequest(`${engine.workerUrl}/?token=wrong-token-of-enough-length`)).status).toBe(401);
      expect((await upgradeRequest(engine.workerUrl, { authorization: "Bearer nope" })).status).toBe(401);
    } finally {
      remove();
      configureLogging({ level: "error" });
    }
    const warnings = records.filter((record) => record.message.includes("rejected worker connection from 127.0.0.1"));
    expect(warnings).toHaveLength(3);
    expect(records.some((record) => record.message.includes("wrong-token") || record.message.includes(TOKEN))).toBe(false);
  });

  test("accepts the token in the query or a bearer header", async () => {
    engine = await startEngine(`port: 0\nauth:\n  token_env: [III_TEST_TOKEN]\n`, { env: { III_TEST_TOKEN: TOKEN } });
    using byQuery = await RawWorker.connect(`${engine.workerUrl}/?token=${TOKEN}`);
    expect(byQuery.workerId).not.toBe("");
    const byHeader = new WebSocket(engine.workerUrl, { headers: { authorization: `Bearer ${TOKEN}` } } as never);
    await new Promise<void>((resolve, reject) => {
      byHeader.onmessage = () => resolve();
      byHeader.onerror = () => reject(new Error("bearer token was rejected"));
    });
    byHeader.close();
  });

  for (const [version, init] of SDK_VERSIONS) {
    test(`iii-sdk ${version} connects with the token in the url`, async () => {
      engine = await startEngine(`port: 0\nauth:\n  tokens: ["${TOKEN}"]\n`);
      const iii = connectSdk(init, `${engine.workerUrl}/?token=${TOKEN}`);
      try {
        const functions = await iii.listFunctions();
        expect(Array.isArray(functions)).toBe(true);
      } finally {
        await iii.shutdown();
      }
    });
  }
});

describe("auth config", () => {
  test("short tokens are rejected", () => {
    expect(() => parseAuthConfig({ tokens: ["short"] }, {})).toThrow("auth.tokens[0]: token is 5 characters long; use at least 16");
  });

  test("unset token variable is named", () => {
    expect(() => parseAuthConfig({ token_env: ["NOPE_TOKEN"] }, {})).toThrow("environment variable 'NOPE_TOKEN' is not set");
  });

  test("empty block is rejected", () => {
    expect(() => parseAuthConfig({}, {})).toThrow("auth: expected at least one token");
  });
});

describe("stream port authentication", () => {
  test("uses the same tokens as the worker port", async () => {
    engine = await startEngine(`
port: 0
auth:
  tokens: ["${TOKEN}"]
modules:
  - class: modules::stream::StreamModule
    config: { port: 0 }
`);
    const stream = engine.engine.modules.find((module) => module.className === "modules::stream::StreamModule") as unknown as { port: number };
    const url = `ws://127.0.0.1:${stream.port}`;
    expect((await upgradeRequest(url)).status).toBe(401);
    const client = new WebSocket(`${url}/?token=${TOKEN}`);
    await new Promise<void>((resolve, reject) => {
      client.onopen = () => resolve();
      client.onerror = () => reject(new Error("stream client with a valid token was rejected"));
    });
    client.close();
  });
});
