/**
 * Many worker connections in one process, driven by commands on stdin:
 *
 *   connect      opens --workers sockets; each registers --functions functions
 *                and --routes `http` triggers, then prints {"connected":true,"ms":…}
 *                once engine::functions::list shows every function; `ms` runs
 *                from the first socket opening to that listing
 *   disconnect   closes them and prints {"disconnected":true,"ms":…} once the
 *                listing shows none of them
 */
import { exitOnSignal, readFlags, report } from "./args.ts";

const flags = readFlags();
const url = flags.text("url");
const workerCount = flags.number("workers", 1_000);
const functionCount = flags.number("functions", 10);
const routeCount = flags.number("routes", 0);
const PREFIX = "bench.w";
const POLL_PAUSE_MS = 2;

let workers: WebSocket[] = [];
const checker = await openSocket();
const waiting = new Map<string, (result: { functions: Array<{ function_id: string }> }) => void>();
checker.addEventListener("message", (event) => {
  const message = JSON.parse(event.data as string);
  if (message.type !== "invocationresult") return;
  waiting.get(message.invocation_id)?.(message.result);
  waiting.delete(message.invocation_id);
});
report({ ready: true });
exitOnSignal(() => {
  for (const socket of [...workers, checker]) socket.close();
});

for await (const line of console) {
  if (line === "connect") report({ connected: true, ms: await connectAll() });
  else if (line === "disconnect") report({ disconnected: true, ms: await disconnectAll() });
}

async function connectAll(): Promise<number> {
  const started = performance.now();
  workers = await Promise.all(
    Array.from({ length: workerCount }, async (_, index) => {
      const socket = await openSocket();
      for (let fn = 0; fn < functionCount; fn++) {
        socket.send(JSON.stringify({ type: "registerfunction", id: `${PREFIX}${index}.f${fn}` }));
      }
      for (let route = 0; route < routeCount; route++) {
        const config = { api_path: `w${index}/r${route}`, http_method: "GET" };
        socket.send(JSON.stringify({ type: "registertrigger", id: `bench-w${index}-r${route}`, trigger_type: "http", function_id: `${PREFIX}${index}.f0`, config }));
      }
      return socket;
    }),
  );
  await pollUntil((count) => count === workerCount * functionCount);
  return performance.now() - started;
}

async function disconnectAll(): Promise<number> {
  const started = performance.now();
  for (const socket of workers) socket.close();
  workers = [];
  await pollUntil((count) => count === 0);
  return performance.now() - started;
}

/** Lists functions again and again until the number of benchmark functions satisfies `done`. */
async function pollUntil(done: (count: number) => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { functions } = await listFunctions();
    if (done(functions.filter((info) => info.function_id.startsWith(PREFIX)).length)) return;
    if (Date.now() > deadline) throw new Error("the function listing did not reach the expected count within 60 s");
    await Bun.sleep(POLL_PAUSE_MS);
  }
}

function listFunctions(): Promise<{ functions: Array<{ function_id: string }> }> {
  return new Promise((resolve) => {
    const invocationId = crypto.randomUUID();
    waiting.set(invocationId, resolve);
    checker.send(JSON.stringify({ type: "invokefunction", invocation_id: invocationId, function_id: "engine::functions::list", data: {} }));
  });
}

async function openSocket(): Promise<WebSocket> {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  return socket;
}
