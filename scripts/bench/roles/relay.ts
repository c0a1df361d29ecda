/**
 * The baseline the engine is measured against: the least a Bun.serve process
 * must do to pass calls between WebSocket workers. It speaks the subset of the
 * worker protocol the benchmarks use (registerfunction, registertrigger for
 * `http` and `subscribe`, invokefunction, invocationresult), so the same
 * workers and load generators run against it and against the engine.
 *
 * `GET /floor` answers JSON directly, without a hop: the floor of Bun.serve.
 * Other HTTP requests go to the worker whose `http` trigger claims the
 * method and path, as one `invokefunction` frame, and back.
 *
 *   relay <port>    prints {"ready":true,"port":<bound port>}
 */
import type { ServerWebSocket } from "bun";

type Socket = ServerWebSocket<{ functions: string[] }>;
type Reply = (frame: { result?: unknown; error?: unknown }) => void;

const FLOOR_BODY = JSON.stringify({ ok: true });
const JSON_HEADERS = { "content-type": "application/json" };

const functions = new Map<string, Socket>();
const routes = new Map<string, string>();
const topics = new Map<string, Set<string>>();
const waiting = new Map<string, Reply>();
let nextId = 0;

function call(functionId: string, data: unknown, reply: Reply): void {
  const callee = functions.get(functionId);
  if (!callee) {
    reply({ error: { code: "function_not_found", message: `Function ${functionId} not found` } });
    return;
  }
  const invocationId = `r${nextId++}`;
  waiting.set(invocationId, reply);
  callee.send(JSON.stringify({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data }));
}

function onInvoke(socket: Socket, message: { invocation_id?: string; function_id: string; data: unknown }): void {
  const { invocation_id: callerId, function_id: functionId } = message;
  const answer: Reply = (frame) => {
    if (callerId === undefined) return;
    socket.send(JSON.stringify({ type: "invocationresult", invocation_id: callerId, function_id: functionId, ...frame }));
  };

  if (functionId === "publish") {
    const { topic, data } = message.data as { topic: string; data: unknown };
    for (const subscriber of topics.get(topic) ?? []) {
      functions.get(subscriber)?.send(JSON.stringify({ type: "invokefunction", function_id: subscriber, data }));
    }
    answer({ result: null });
    return;
  }
  if (functionId === "engine::functions::list") {
    answer({ result: { functions: [...functions.keys()].map((id) => ({ function_id: id })) } });
    return;
  }
  call(functionId, message.data, answer);
}

function onMessage(socket: Socket, text: string): void {
  const message = JSON.parse(text);
  switch (message.type) {
    case "invokefunction":
      onInvoke(socket, message);
      return;
    case "invocationresult": {
      const reply = waiting.get(message.invocation_id);
      if (!reply) return;
      waiting.delete(message.invocation_id);
      reply(message.error ? { error: message.error } : { result: message.result });
      return;
    }
    case "registerfunction":
      functions.set(message.id, socket);
      socket.data.functions.push(message.id);
      return;
    case "registertrigger":
      if (message.trigger_type === "http") {
        const method = String(message.config.http_method ?? "GET").toUpperCase();
        routes.set(`${method} /${String(message.config.api_path).replace(/^\//, "")}`, message.function_id);
      } else if (message.trigger_type === "subscribe") {
        const subscribers = topics.get(message.config.topic) ?? new Set<string>();
        subscribers.add(message.function_id);
        topics.set(message.config.topic, subscribers);
      }
      return;
  }
}

async function onHttp(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/floor") return new Response(FLOOR_BODY, { headers: JSON_HEADERS });

  const functionId = routes.get(`${request.method} ${url.pathname}`);
  if (!functionId) return new Response(null, { status: 404 });
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const body = request.body ? await request.text() : null;
  const input = { method: request.method, path: url.pathname, query_params: Object.fromEntries(url.searchParams), headers, body };

  const frame = await new Promise<{ result?: unknown; error?: unknown }>((resolve) => call(functionId, input, resolve));
  if (frame.error) return new Response(JSON.stringify({ error: frame.error }), { status: 500, headers: JSON_HEADERS });
  const result = frame.result as { status_code?: number; body?: unknown } | undefined;
  return new Response(JSON.stringify(result?.body ?? result ?? null), { status: result?.status_code ?? 200, headers: JSON_HEADERS });
}

const server = Bun.serve<{ functions: string[] }>({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  fetch(request, server) {
    if (request.headers.get("upgrade") === "websocket") {
      if (server.upgrade(request, { data: { functions: [] } })) return undefined;
    }
    return onHttp(request);
  },
  websocket: {
    maxPayloadLength: 64 * 1024 * 1024,
    open(socket) {
      socket.send(JSON.stringify({ type: "workerregistered", worker_id: crypto.randomUUID() }));
    },
    message(socket, message) {
      // Binary frames carry the SDK's OpenTelemetry data, which the relay drops as the engine does without observability.
      if (typeof message !== "string") return;
      onMessage(socket, message);
    },
    close(socket) {
      for (const id of socket.data.functions) {
        if (functions.get(id) === socket) functions.delete(id);
      }
    },
  },
});

console.log(JSON.stringify({ ready: true, port: server.port }));
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
