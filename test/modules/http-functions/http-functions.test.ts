import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Server, TCPSocketListener } from "bun";
import { createHmac } from "node:crypto";
import {
  HttpFunction,
  httpFunctionsModuleFactory,
  HttpFunctionsModule,
  parseInvocation,
  UrlPolicy,
  type HostLookup,
} from "../../../src/modules/http-functions/index.ts";
import { createLogger } from "../../../src/telemetry/logger.ts";
import { RawWorker } from "../../support/raw-worker.ts";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";

const SECRETS = { HF_SECRET: "s3cret-value", HF_TOKEN: "token-value", HF_API_KEY: "key-value" };

const OPEN_CONFIG = `
modules:
  - class: modules::http_functions::HttpFunctionsModule
    config:
      security:
        url_allowlist: ["127.0.0.1"]
        block_private_ips: false
        require_https: false
`;

interface SeenRequest {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/** Starts a local endpoint that records every request and replies according to the path. */
function startEndpoint(): { server: Server<unknown>; seen: SeenRequest[]; url: (path: string) => string } {
  const seen: SeenRequest[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const body = await request.text();
      seen.push({ method: request.method, path, headers: request.headers, body });
      switch (path) {
        case "/echo":
          return new Response(`{"received":${body || "null"},"method":"${request.method}"}`, { headers: { "content-type": "application/json" } });
        case "/empty":
          return new Response(null, { status: 200 });
        case "/text":
          return new Response("hello", { headers: { "content-type": "text/plain" } });
        case "/coded-error":
          return Response.json({ error: { code: "out_of_stock", message: "no items left" } }, { status: 422 });
        case "/plain-error":
          return new Response("oops", { status: 500 });
        case "/redirect":
          return new Response(null, { status: 302, headers: { location: "/echo" } });
        case "/slow":
          await Bun.sleep(2_000);
          return Response.json({ late: true });
        default:
          return new Response(null, { status: 404 });
      }
    },
  });
  return { server, seen, url: (path) => `http://127.0.0.1:${server.port}${path}` };
}

/** Starts a raw TCP listener that counts connections, to prove that nothing was sent. */
function startConnectionCounter(hostname: string): { listener: TCPSocketListener; connections: () => number } {
  let count = 0;
  const listener = Bun.listen({
    hostname,
    port: 0,
    socket: {
      open(socket) {
        count++;
        socket.end();
      },
      data() {},
    },
  });
  return { listener, connections: () => count };
}

async function registerHttpFunction(worker: RawWorker, id: string, invocation: Record<string, unknown>): Promise<void> {
  worker.send({ type: "registerfunction", id, description: `calls ${String(invocation.url)}`, invocation });
  await worker.sync();
}

describe("HttpFunctionsModule over HTTP", () => {
  const endpoint = startEndpoint();
  let engine: TestEngine;
  let worker: RawWorker;

  beforeAll(async () => {
    engine = await startEngine(OPEN_CONFIG, { env: SECRETS });
    worker = await RawWorker.connect(engine.workerUrl);
  });

  afterAll(async () => {
    worker.close();
    await engine.stop();
    endpoint.server.stop(true);
  });

  afterEach(() => {
    endpoint.seen.length = 0;
  });

  test("signs the body with HMAC", async () => {
    await registerHttpFunction(worker, "ext.hmac", {
      url: endpoint.url("/echo"),
      headers: { "x-team": "payments" },
      auth: { type: "hmac", secret_key: "HF_SECRET" },
    });

    // Sent as text, so the integer beyond 2^53 keeps every digit.
    const invocationId = crypto.randomUUID();
    worker.send(`{"type":"invokefunction","invocation_id":"${invocationId}","function_id":"ext.hmac","data":{"order":7,"big":9007199254740993}}`);
    const reply = await worker.next((frame) => frame.type === "invocationresult" && frame.invocation_id === invocationId);
    expect(reply.error).toBeUndefined();
    expect(reply.result).toMatchObject({ received: { order: 7 }, method: "POST" });

    const [request] = endpoint.seen;
    expect(request!.body).toBe(`{"order":7,"big":9007199254740993,"_caller_worker_id":"${worker.workerId}"}`);
    expect(request!.headers.get("content-type")).toBe("application/json");
    expect(request!.headers.get("x-iii-function-path")).toBe("ext.hmac");
    expect(request!.headers.get("x-iii-invocation-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(request!.headers.get("x-team")).toBe("payments");

    const timestamp = request!.headers.get("x-iii-timestamp")!;
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
    const expected = createHmac("sha256", SECRETS.HF_SECRET).update(`${timestamp}:${Buffer.from(request!.body).toString("base64")}`).digest("hex");
    expect(request!.headers.get("x-iii-signature")).toBe(`sha256=${expected}`);
  });

  test("sends a bearer token", async () => {
    await registerHttpFunction(worker, "ext.bearer", { url: endpoint.url("/echo"), method: "put", auth: { type: "bearer", token_key: "HF_TOKEN" } });
    const reply = await worker.call("ext.bearer", { a: 1 });
    expect(reply.result).toMatchObject({ method: "PUT" });
    expect(endpoint.seen[0]!.headers.get("authorization")).toBe(`Bearer ${SECRETS.HF_TOKEN}`);
    expect(endpoint.seen[0]!.headers.get("x-iii-signature")).toBeNull();
  });

  test("sends an api key header", async () => {
    await registerHttpFunction(worker, "ext.key", {
      url: endpoint.url("/echo"),
      auth: { type: "api_key", header: "X-Api-Key", value_key: "HF_API_KEY" },
    });
    await worker.call("ext.key", {});
    expect(endpoint.seen[0]!.headers.get("x-api-key")).toBe(SECRETS.HF_API_KEY);
    expect(endpoint.seen[0]!.headers.get("authorization")).toBeNull();
  });

  test("sends GET without a body", async () => {
    await registerHttpFunction(worker, "ext.get", { url: endpoint.url("/echo"), method: "GET" });
    const reply = await worker.call("ext.get", { ignored: true });
    expect(reply.result).toEqual({ received: null, method: "GET" });
    expect(endpoint.seen[0]!.body).toBe("");
  });

  test("omits the result for an empty reply", async () => {
    await registerHttpFunction(worker, "ext.empty", { url: endpoint.url("/empty") });
    const reply = await worker.call("ext.empty", {});
    expect(reply).not.toHaveProperty("result");
    expect(reply).not.toHaveProperty("error");
  });

  test("rejects a reply that is not JSON", async () => {
    await registerHttpFunction(worker, "ext.text", { url: endpoint.url("/text") });
    const reply = await worker.call("ext.text", {});
    expect(reply.error).toMatchObject({ code: "invalid_response" });
  });

  test("passes on a coded error body", async () => {
    await registerHttpFunction(worker, "ext.coded", { url: endpoint.url("/coded-error") });
    const reply = await worker.call("ext.coded", {});
    expect(reply.error).toEqual({ code: "out_of_stock", message: "no items left" });
  });

  test("maps other error statuses to http_error", async () => {
    await registerHttpFunction(worker, "ext.plain", { url: endpoint.url("/plain-error") });
    const reply = await worker.call("ext.plain", {});
    expect(reply.error).toEqual({ code: "http_error", message: "HTTP 500" });
  });

  test("does not follow redirects", async () => {
    await registerHttpFunction(worker, "ext.redirect", { url: endpoint.url("/redirect") });
    const reply = await worker.call("ext.redirect", {});
    expect(reply.error).toEqual({ code: "http_error", message: "HTTP 302" });
    expect(endpoint.seen.map((request) => request.path)).toEqual(["/redirect"]);
  });

  test("times out after timeout_ms", async () => {
    await registerHttpFunction(worker, "ext.slow", { url: endpoint.url("/slow"), timeout_ms: 100 });
    const reply = await worker.call("ext.slow", {});
    expect(reply.error).toMatchObject({ code: "http_request_failed" });
    expect((reply.error as { message: string }).message).toContain("timed out after 100 ms");
  });

  test("reports an unreachable endpoint", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const url = `http://127.0.0.1:${closed.port}/gone`;
    closed.stop(true);
    await registerHttpFunction(worker, "ext.unreachable", { url });
    const reply = await worker.call("ext.unreachable", {});
    expect(reply.error).toMatchObject({ code: "http_request_failed" });
  });

  test("rejects a registration whose secret is missing", async () => {
    await registerHttpFunction(worker, "ext.nosecret", { url: endpoint.url("/echo"), auth: { type: "bearer", token_key: "HF_UNSET" } });
    expect(engine.engine.functions.has("ext.nosecret")).toBe(false);
  });

  test("rejects a host outside the allowlist", async () => {
    await registerHttpFunction(worker, "ext.localhost", { url: `http://localhost:${endpoint.server.port}/echo` });
    expect(engine.engine.functions.has("ext.localhost")).toBe(false);
    expect(endpoint.seen).toHaveLength(0);
  });

  test("lists the function and removes it with its worker", async () => {
    const other = await RawWorker.connect(engine.workerUrl);
    other.send({ type: "registerfunction", id: "ext.owned", description: "owned", metadata: { team: "a" }, invocation: { url: endpoint.url("/echo") } });
    await other.sync();

    const listed = await worker.call("engine::functions::list", {});
    const functions = (listed.result as { functions: Array<{ function_id: string }> }).functions;
    expect(functions.find((info) => info.function_id === "ext.owned")).toMatchObject({ description: "owned", metadata: { team: "a" } });

    other.send({ type: "unregisterfunction", id: "ext.owned" });
    await other.sync();
    expect(engine.engine.functions.has("ext.owned")).toBe(false);

    other.send({ type: "registerfunction", id: "ext.owned", invocation: { url: endpoint.url("/echo") } });
    await other.sync();
    expect(engine.engine.functions.has("ext.owned")).toBe(true);
    other.close();
    await waitFor("the function to go with its worker", () => (engine.engine.functions.has("ext.owned") ? undefined : true));
  });
});

describe("HttpFunctionsModule with default security", () => {
  test("rejects private addresses without sending anything", async () => {
    const v4 = startConnectionCounter("127.0.0.1");
    const v6 = startConnectionCounter("::1");
    await using engine = await startEngine("modules:\n  - class: modules::http_functions::HttpFunctionsModule\n");
    const worker = await RawWorker.connect(engine.workerUrl);

    const port4 = v4.listener.port;
    const port6 = v6.listener.port;
    const urls = [
      `https://127.0.0.1:${port4}/fn`,
      `https://localhost:${port4}/fn`,
      `https://127.1:${port4}/fn`,
      `https://2130706433:${port4}/fn`,
      `https://0x7f000001:${port4}/fn`,
      `https://0177.0.0.1:${port4}/fn`,
      `https://0.0.0.0:${port4}/fn`,
      `https://[::ffff:127.0.0.1]:${port4}/fn`,
      `https://[::1]:${port6}/fn`,
      `https://[::]:${port6}/fn`,
      `http://127.0.0.1:${port4}/fn`,
    ];
    for (const [index, url] of urls.entries()) {
      await registerHttpFunction(worker, `blocked.${index}`, { url });
      expect(engine.engine.functions.has(`blocked.${index}`)).toBe(false);
    }

    expect(v4.connections()).toBe(0);
    expect(v6.connections()).toBe(0);
    worker.close();
    v4.listener.stop(true);
    v6.listener.stop(true);
  });

  test("rechecks DNS at call time", async () => {
    const counter = startConnectionCounter("127.0.0.1");
    const answers = ["93.184.215.14", "127.0.0.1"];
    const lookup: HostLookup = async () => [{ address: answers.shift() ?? "127.0.0.1", family: 4 }];
    const security = { urlAllowlist: ["*"], blockPrivateIps: true, requireHttps: false };
    const policy = new UrlPolicy(security, lookup);
    const invocation = parseInvocation({ url: `http://rebinding.example:${counter.listener.port}/fn` }, "ext.rebind", {});

    await policy.check(invocation.url);
    const httpFunction = new HttpFunction({ id: "ext.rebind", invocation, policy, logger: createLogger("test"), inFlight: new Set() });
    const error = await httpFunction.invoke({}, { invocationId: crypto.randomUUID() }).then(
      () => null,
      (caught: { code: string; message: string }) => caught,
    );

    expect(error?.code).toBe("url_validation_failed");
    expect(error?.message).toContain("resolves to '127.0.0.1'");
    expect(counter.connections()).toBe(0);
    counter.listener.stop(true);
  });
});

describe("HttpFunctionsModule registration", () => {
  const message = (auth: { [key: string]: string }) => ({
    type: "registerfunction" as const,
    id: "ext.secret",
    invocation: { url: "https://api.example.com/fn", auth },
  });

  test("names the missing variable and never its value", async () => {
    const module = new HttpFunctionsModule({ security: { urlAllowlist: ["*"], blockPrivateIps: false, requireHttps: true } }, { OTHER: "visible" });
    const cases: Array<[{ [key: string]: string }, string, string]> = [
      [{ type: "hmac", secret_key: "SIGNING_SECRET" }, "secret_not_found", "SIGNING_SECRET"],
      [{ type: "bearer", token_key: "API_TOKEN" }, "token_not_found", "API_TOKEN"],
      [{ type: "api_key", header: "X-Key", value_key: "PARTNER_KEY" }, "api_key_not_found", "PARTNER_KEY"],
    ];
    for (const [auth, code, variable] of cases) {
      const error = await module.create(message(auth)).then(
        () => null,
        (caught: { code: string; message: string }) => caught,
      );
      expect(error?.code).toBe(code);
      expect(error?.message).toContain(`environment variable '${variable}'`);
    }
  });

  test("rejects malformed invocation blocks", () => {
    expect(() => parseInvocation({ url: "https://a.example/", method: "TRACE" }, "f", {})).toThrow("expected one of GET, POST, PUT, PATCH, DELETE");
    expect(() => parseInvocation({ url: "https://a.example/", timeout_ms: -1 }, "f", {})).toThrow("'invocation.timeout_ms' must be a positive integer");
    expect(() => parseInvocation({ url: "https://a.example/", headers: { "bad header": "x" } }, "f", {})).toThrow("'bad header' is not a valid HTTP header name");
    expect(() => parseInvocation({ url: "https://a.example/", auth: { type: "basic" } }, "f", {})).toThrow("expected hmac, bearer or api_key");
    expect(() => parseInvocation({}, "f", {})).toThrow("'invocation.url' must be a non-empty string");
  });

  test("applies defaults and caps the timeout", () => {
    expect(parseInvocation({ url: "https://a.example/" }, "f", {})).toEqual({
      url: "https://a.example/",
      method: "POST",
      timeoutMs: 30_000,
      headers: {},
      auth: null,
    });
    expect(parseInvocation({ url: "https://a.example/", timeout_ms: 600_000 }, "f", {}).timeoutMs).toBe(60_000);
  });

  test("rejects unknown config keys", () => {
    const environment = { dataDir: "/tmp/unused", env: {}, defaultSet: false };
    expect(() => httpFunctionsModuleFactory.create({ security: { allow: [] } }, "modules[2].config", environment)).toThrow(
      "modules[2].config.security.allow: unknown key 'allow'",
    );
    expect(() => httpFunctionsModuleFactory.create({ security: { block_private_ips: "no" } }, "m.config", environment)).toThrow(
      "m.config.security.block_private_ips: expected true or false",
    );
  });
});
