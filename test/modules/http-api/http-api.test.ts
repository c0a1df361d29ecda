import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { connect as connectTcp } from "node:net";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { RawWorker } from "../../support/raw-worker.ts";
import { connectSdk, SDK_VERSIONS, waitForRoute, type Sdk } from "../../support/sdk.ts";

const CONFIG = `
port: 0
modules:
  - class: modules::api::RestApiModule
    config:
      port: 0
      default_timeout: 1500
      body_limit: 1024
`;

for (const [version, init] of SDK_VERSIONS) {
  describe(`http triggers with iii-sdk ${version}`, () => {
    let engine: TestEngine;
    let iii: Sdk;

    beforeEach(async () => {
      engine = await startEngine(CONFIG);
      iii = connectSdk(init, engine.workerUrl);
    });

    afterEach(async () => {
      await iii.shutdown();
      await engine.stop();
    });

    test("quick start answers POST and worker calls", async () => {
      iii.registerFunction({ id: "math.add" }, async (req: any) => ({ sum: req.body.a + req.body.b }));
      iii.registerTrigger({ type: "http", function_id: "math.add", config: { api_path: "add", http_method: "POST" } });
      const response = await waitForRoute(`${engine.httpUrl}/add`, { method: "POST", body: '{"a":2,"b":3}' });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ sum: 5 });

      const other = connectSdk(init, engine.workerUrl);
      expect(await other.call("math.add", { body: { a: 2, b: 3 } })).toEqual({ sum: 5 });
      await other.shutdown();
    });

    test("GET with path and query params", async () => {
      iii.registerFunction({ id: "items.get" }, async (req: any) => ({
        status_code: 200,
        body: { id: req.path_params.id, q: req.query_params.q, limit: req.query_params.limit, method: req.method, path: req.path },
      }));
      iii.registerTrigger({ type: "http", function_id: "items.get", config: { api_path: "items/:id", http_method: "GET" } });
      const response = await waitForRoute(`${engine.httpUrl}/items/a%20b?q=hello&limit=10`);
      expect(await response.json()).toEqual({ id: "a b", q: "hello", limit: "10", method: "GET", path: "items/:id" });
    });

    test("custom status and headers", async () => {
      iii.registerFunction({ id: "items.create" }, async (req: any) => ({
        status_code: 201,
        headers: { "x-item": "new", "set-cookie": ["a=1", "b=2"] },
        body: req.body,
      }));
      iii.registerTrigger({ type: "http", function_id: "items.create", config: { api_path: "items", http_method: "POST" } });
      const response = await waitForRoute(`${engine.httpUrl}/items`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"name":"pen"}',
      });
      expect(response.status).toBe(201);
      expect(response.headers.get("x-item")).toBe("new");
      expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
      expect(await response.json()).toEqual({ name: "pen" });
    });

    test("handler status 404 is returned as is", async () => {
      iii.registerFunction({ id: "missing" }, async () => ({ status_code: 404, body: { error: "nope" } }));
      iii.registerTrigger({ type: "http", function_id: "missing", config: { api_path: "missing" } });
      await waitFor("route", () => (engine.engine.triggers.size > 0 ? true : undefined));
      const response = await fetch(`${engine.httpUrl}/missing`);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: "nope" });
    });

    test("unregistering the trigger gives 404 again", async () => {
      iii.registerFunction({ id: "health" }, async () => ({ status_code: 200, body: { ok: true } }));
      expect((await fetch(`${engine.httpUrl}/health`)).status).toBe(404);
      const trigger = iii.registerTrigger({ type: "http", function_id: "health", config: { api_path: "health" } });
      expect((await waitForRoute(`${engine.httpUrl}/health`)).status).toBe(200);
      trigger.unregister();
      await waitFor("route removed", async () => ((await fetch(`${engine.httpUrl}/health`)).status === 404 ? true : undefined));
    });

    test("handler returning nothing answers 204", async () => {
      iii.registerFunction({ id: "noop" }, async () => undefined);
      iii.registerTrigger({ type: "http", function_id: "noop", config: { api_path: "noop", http_method: "POST" } });
      const response = await waitForRoute(`${engine.httpUrl}/noop`, { method: "POST" });
      expect(response.status).toBe(204);
    });

    test("handler error answers 500 with an error id", async () => {
      iii.registerFunction({ id: "broken" }, async () => {
        throw new Error("database is down");
      });
      iii.registerTrigger({ type: "http", function_id: "broken", config: { api_path: "broken" } });
      const response = await waitForRoute(`${engine.httpUrl}/broken`);
      expect(response.status).toBe(500);
      const body = (await response.json()) as { error: string; error_id: string };
      expect(body.error).toBe("internal server error");
      expect(body.error_id).toMatch(/^[0-9a-f]+$/);
    });

    test("engine restart brings routes back through reconnect", async () => {
      iii.registerFunction({ id: "ping.http" }, async () => ({ pong: true }));
      iii.registerTrigger({ type: "http", function_id: "ping.http", config: { api_path: "ping" } });
      await waitForRoute(`${engine.httpUrl}/ping`);

      const workerPort = engine.engine.port;
      const httpPort = Number(new URL(engine.httpUrl!).port);
      await engine.stop();
      engine = await startEngine(`
port: ${workerPort}
modules:
  - class: modules::api::RestApiModule
    config: { port: ${httpPort} }
`);
      const response = await waitForRoute(`${engine.httpUrl}/ping`, undefined, 10_000);
      expect(await response.json()).toEqual({ pong: true });
    });
  });
}

describe("http routing with a raw worker", () => {
  let engine: TestEngine;
  let worker: RawWorker;

  beforeEach(async () => {
    engine = await startEngine(CONFIG);
    worker = await RawWorker.connect(engine.workerUrl);
  });

  afterEach(async () => {
    worker.close();
    await engine.stop();
  });

  /** Replies to every invocation of `functionId` with `reply(data)`. */
  function serve(functionId: string, reply: (data: any) => unknown): void {
    worker.send({ type: "registerfunction", id: functionId });
    worker.socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data));
      if (message.type !== "invokefunction" || message.function_id !== functionId) return;
      const result = reply(message.data);
      if (result === "never") return;
      worker.send({ type: "invocationresult", invocation_id: message.invocation_id, function_id: functionId, result });
    });
  }

  async function route(id: string, functionId: string, config: Record<string, unknown>): Promise<void> {
    worker.send({ type: "registertrigger", id, trigger_type: "http", function_id: functionId, config });
    await waitFor(`trigger ${id}`, () => (engine.engine.triggers.get(id) ? true : undefined));
  }

  test("unknown path is 404 and other method is 405 with Allow", async () => {
    serve("f", () => ({ ok: true }));
    await route("r1", "f", { api_path: "things", http_method: "post" });
    expect((await fetch(`${engine.httpUrl}/unknown`)).status).toBe(404);
    const response = await fetch(`${engine.httpUrl}/things`, { method: "DELETE" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    expect((await fetch(`${engine.httpUrl}/things`, { method: "POST" })).status).toBe(200);
  });

  test("HEAD is answered for GET routes without a body", async () => {
    serve("f", () => ({ big: "x".repeat(100) }));
    await route("r1", "f", { api_path: "doc" });
    const response = await fetch(`${engine.httpUrl}/doc`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });

  test("static segments win over parameters in any order", async () => {
    serve("byId", (data) => ({ route: "param", id: data.path_params.id }));
    serve("me", () => ({ route: "static" }));
    await route("r1", "byId", { api_path: "users/:id" });
    await route("r2", "me", { api_path: "/users/me" });
    expect(await (await fetch(`${engine.httpUrl}/users/me`)).json()).toEqual({ route: "static" });
    expect(await (await fetch(`${engine.httpUrl}/users/42`)).json()).toEqual({ route: "param", id: "42" });
  });

  test("braced segments are parameters too", async () => {
    serve("task", (data) => ({ tid: data.path_params.tid, path: data.path }));
    await route("r1", "task", { api_path: "tasks/{tid}" });
    expect(await (await fetch(`${engine.httpUrl}/tasks/123`)).json()).toEqual({ tid: "123", path: "tasks/{tid}" });
    expect((await fetch(`${engine.httpUrl}/tasks`)).status).toBe(404);
  });

  test("non-object results answer an empty object", async () => {
    const results: Record<string, unknown> = { number: 42, text: "plain", list: [1, 2] };
    serve("odd", (data) => results[data.path_params.kind]);
    await route("r1", "odd", { api_path: "odd/:kind" });

    for (const kind of Object.keys(results)) {
      const response = await fetch(`${engine.httpUrl}/odd/${kind}`);
      expect({ kind, status: response.status, body: await response.json() }).toEqual({ kind, status: 200, body: {} });
    }
  });

  test("camelCase statusCode sets the status", async () => {
    serve("created", () => ({ statusCode: 201, body: { ok: 1 }, headers: {} }));
    await route("r1", "created", { api_path: "made", http_method: "POST" });

    const response = await fetch(`${engine.httpUrl}/made`, { method: "POST" });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ ok: 1 });
  });

  test("conflicting parameter names are rejected", async () => {
    serve("f", () => ({}));
    await route("r1", "f", { api_path: "s/:listId/:userId" });
    worker.send({ type: "registertrigger", id: "r2", trigger_type: "http", function_id: "f", config: { api_path: "s/:userId/:listId" } });
    const result = await worker.next((message) => message.type === "triggerregistrationresult");
    expect((result.error as { message: string }).message).toContain("s/:listId/:userId");
    expect((await fetch(`${engine.httpUrl}/s/1/2`)).status).toBe(200);
  });

  test("two triggers on one route keep it until both go", async () => {
    serve("f", () => ({ ok: true }));
    await route("r1", "f", { api_path: "dup" });
    await route("r2", "f", { api_path: "dup" });
    worker.send({ type: "unregistertrigger", id: "r2" });
    await waitFor("r2 removed", () => (engine.engine.triggers.get("r2") ? undefined : true));
    expect((await fetch(`${engine.httpUrl}/dup`)).status).toBe(200);
    worker.send({ type: "unregistertrigger", id: "r1" });
    await waitFor("r1 removed", () => (engine.engine.triggers.get("r1") ? undefined : true));
    expect((await fetch(`${engine.httpUrl}/dup`)).status).toBe(404);
  });

  test("replayed route survives the old connection closing", async () => {
    serve("f", () => ({ from: "old" }));
    await route("r1", "f", { api_path: "replayed" });

    // The same worker reconnects and replays its registrations before the old socket is gone.
    const replacement = await RawWorker.connect(engine.workerUrl);
    replacement.send({ type: "registerfunction", id: "f" });
    replacement.send({ type: "registertrigger", id: "r1", trigger_type: "http", function_id: "f", config: { api_path: "replayed" } });
    await replacement.sync();
    replacement.onInvoke = (frame) =>
      replacement.send({ type: "invocationresult", invocation_id: frame.invocation_id, function_id: "f", result: { from: "new" } });

    worker.close();
    await waitFor("old worker gone", () => (engine.engine.workers.has(worker.workerId) ? undefined : true));
    const response = await fetch(`${engine.httpUrl}/replayed`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ from: "new" });
    expect(engine.engine.triggers.get("r1")?.worker_id).toBe(replacement.workerId);
    replacement.close();
  });

  test("missing api_path is rejected", async () => {
    worker.send({ type: "registertrigger", id: "bad", trigger_type: "http", function_id: "f", config: {} });
    const result = await worker.next((message) => message.type === "triggerregistrationresult");
    expect((result.error as { message: string }).message).toContain("api_path");
  });

  test("request mapping covers headers, body kinds and trigger", async () => {
    const seen: any[] = [];
    serve("inspect", (data) => {
      seen.push(data);
      return { ok: true };
    });
    await route("r1", "inspect", { api_path: "in", http_method: "POST" });

    await fetch(`${engine.httpUrl}/in`, { method: "POST", body: '{"a":1}' });
    await fetch(`${engine.httpUrl}/in`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "X-Custom": "Yes" },
      body: "a=1&b=2&b=3",
    });
    await fetch(`${engine.httpUrl}/in`, { method: "POST", headers: { "content-type": "application/json" }, body: "{broken" });
    await fetch(`${engine.httpUrl}/in`, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" });

    expect(seen[0].body).toEqual({ a: 1 });
    expect(seen[0].trigger).toEqual({ type: "http", path: "in", method: "POST" });
    expect(seen[0].request_body.direction).toBe("read");
    expect(seen[0].response.direction).toBe("write");
    expect(seen[1].body).toEqual({ a: "1", b: ["2", "3"] });
    expect(seen[1].headers["x-custom"]).toBe("Yes");
    expect(seen[2].body).toBeNull();
    expect(seen[3].body).toBeNull();
  });

  test("malformed percent escape is 400", async () => {
    serve("f", () => ({ ok: true }));
    await route("r1", "f", { api_path: "p/:v" });
    expect((await fetch(`${engine.httpUrl}/p/%zz`)).status).toBe(400);
    expect((await fetch(`${engine.httpUrl}/p/x?q=%zz`)).status).toBe(400);
  });

  test("body over body_limit is 413", async () => {
    serve("f", () => ({ ok: true }));
    await route("r1", "f", { api_path: "upload", http_method: "POST" });
    const response = await fetch(`${engine.httpUrl}/upload`, { method: "POST", body: "x".repeat(4096) });
    expect(response.status).toBe(413);
  });

  test("condition false is 422 and the handler is skipped", async () => {
    let called = 0;
    serve("guarded", () => {
      called++;
      return { ok: true };
    });
    serve("deny", () => false);
    await route("r1", "guarded", { api_path: "guarded", _condition_path: "deny" });
    const response = await fetch(`${engine.httpUrl}/guarded`);
    expect(response.status).toBe(422);
    expect(await response.json()).toEqual({ error: "Request condition not met", skipped: true });
    expect(called).toBe(0);
  });

  test("slow handler answers 504 after default_timeout", async () => {
    serve("slow", () => "never");
    await route("r1", "slow", { api_path: "slow" });
    expect((await fetch(`${engine.httpUrl}/slow`)).status).toBe(504);
  });

  test("text content type sends a string body as is", async () => {
    serve("text", () => ({ status_code: 200, headers: { "content-type": "text/plain" }, body: "plain words" }));
    await route("r1", "text", { api_path: "text" });
    const response = await fetch(`${engine.httpUrl}/text`);
    expect(await response.text()).toBe("plain words");
    expect(response.headers.get("content-type")).toBe("text/plain");
  });

  test("header values are read as UTF-8", async () => {
    serve("h", (data) => ({ utf8: data.headers["x-utf8"], binary: data.headers["x-binary"] }));
    await route("r1", "h", { api_path: "h" });

    // fetch cannot send raw bytes in a header, so the request is written on a TCP socket.
    const { hostname, port } = new URL(engine.httpUrl!);
    const head = Buffer.concat([
      Buffer.from(`GET /h HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\nX-Utf8: `),
      Buffer.from("caf\u00e9", "utf8"),
      Buffer.from("\r\nX-Binary: "),
      Buffer.from([0xff, 0xfe, 0x41]),
      Buffer.from("\r\n\r\n"),
    ]);
    const reply = await new Promise<string>((resolve, reject) => {
      let text = "";
      const socket = connectTcp(Number(port), hostname, () => socket.write(head));
      socket.on("data", (chunk) => (text += chunk.toString("utf8")));
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
    });

    expect(JSON.parse(reply.split("\r\n\r\n")[1]!)).toEqual({ utf8: "caf\u00e9", binary: "" });
  });

  test("headers with line breaks are skipped", async () => {
    serve("h", () => ({ headers: { "x-ok": "fine", "x-bad": "a\r\nInjected: yes" }, body: {} }));
    await route("r1", "h", { api_path: "h" });
    const response = await fetch(`${engine.httpUrl}/h`);
    expect(response.headers.get("x-ok")).toBe("fine");
    expect(response.headers.get("injected")).toBeNull();
  });

  test("permissive CORS without a cors key and preflight", async () => {
    serve("f", () => ({ ok: true }));
    await route("r1", "f", { api_path: "cors", http_method: "POST" });
    const response = await fetch(`${engine.httpUrl}/cors`, { method: "POST", headers: { origin: "https://a.example" } });
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    const preflight = await fetch(`${engine.httpUrl}/cors`, {
      method: "OPTIONS",
      headers: { origin: "https://a.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toBe("*");
  });
});

describe("http module config", () => {
  test("exact CORS origins", async () => {
    await using engine = await startEngine(`
port: 0
modules:
  - class: modules::api::RestApiModule
    config:
      port: 0
      cors: { allowed_origins: ["https://app.example"], allowed_methods: ["GET"] }
`);
    using worker = await RawWorker.connect(engine.workerUrl);
    worker.send({ type: "registerfunction", id: "f" });
    worker.socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data));
      if (message.type === "invokefunction") {
        worker.send({ type: "invocationresult", invocation_id: message.invocation_id, function_id: "f", result: { ok: 1 } });
      }
    });
    worker.send({ type: "registertrigger", id: "r", trigger_type: "http", function_id: "f", config: { api_path: "c" } });
    await waitFor("trigger", () => (engine.engine.triggers.get("r") ? true : undefined));

    const allowed = await fetch(`${engine.httpUrl}/c`, { headers: { origin: "https://app.example" } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const denied = await fetch(`${engine.httpUrl}/c`, { headers: { origin: "https://evil.example" } });
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("requests past max_pending_requests get 503", async () => {
    await using engine = await startEngine(`
port: 0
modules:
  - class: modules::api::RestApiModule
    config: { port: 0, concurrency_request_limit: 1, max_pending_requests: 1 }
`);
    using worker = await RawWorker.connect(engine.workerUrl);
    const pending: Array<Record<string, unknown>> = [];
    worker.onInvoke = (frame) => pending.push(frame);
    worker.send({ type: "registerfunction", id: "slow" });
    worker.send({ type: "registertrigger", id: "r", trigger_type: "http", function_id: "slow", config: { api_path: "slow" } });
    await waitFor("trigger", () => (engine.engine.triggers.get("r") ? true : undefined));

    const first = fetch(`${engine.httpUrl}/slow`);
    await waitFor("first request at the worker", () => (pending.length === 1 ? true : undefined));
    const second = await fetch(`${engine.httpUrl}/slow`);
    expect(second.status).toBe(503);
    expect(await second.text()).toContain("max_pending_requests");

    const frame = pending[0]!;
    worker.send({ type: "invocationresult", invocation_id: frame.invocation_id, function_id: "slow", result: { ok: true } });
    expect((await first).status).toBe(200);
  });

  test("concurrency_request_limit applies per route", async () => {
    await using engine = await startEngine(`
port: 0
modules:
  - class: modules::api::RestApiModule
    config: { port: 0, concurrency_request_limit: 1 }
`);
    using worker = await RawWorker.connect(engine.workerUrl);
    const pending: Array<Record<string, unknown>> = [];
    worker.onInvoke = (frame) => pending.push(frame);
    worker.send({ type: "registerfunction", id: "slow" });
    for (const path of ["a", "b"]) worker.send({ type: "registertrigger", id: path, trigger_type: "http", function_id: "slow", config: { api_path: path } });
    await waitFor("triggers", () => (engine.engine.triggers.get("b") ? true : undefined));

    const requests = [fetch(`${engine.httpUrl}/a`), fetch(`${engine.httpUrl}/b`), fetch(`${engine.httpUrl}/a`)];
    // One call per route reaches the worker; the second request to 'a' waits for the first.
    await waitFor("one call per route at the worker", () => (pending.length === 2 ? true : undefined));
    await Bun.sleep(100);
    expect(pending.map((frame) => (frame.data as { path: string }).path).sort()).toEqual(["a", "b"]);

    for (let answered = 0; answered < 3; answered++) {
      const frame = await waitFor("a waiting call", () => pending.shift());
      worker.send({ type: "invocationresult", invocation_id: frame.invocation_id, function_id: "slow", result: { ok: true } });
    }
    expect((await Promise.all(requests)).map((response) => response.status)).toEqual([200, 200, 200]);
  });

  test("unknown key is a config error with its path", async () => {
    await expect(
      startEngine(`
modules:
  - class: modules::api::RestApiModule
    config: { port: 0, timeout: 5 }
`),
    ).rejects.toThrow("modules[0].config.timeout: unknown key 'timeout'");
  });
});
