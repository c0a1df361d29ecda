/**
 * A worker that speaks the wire protocol over the global WebSocket with nothing
 * in between: the fastest worker the engine can have.
 *
 *   --url=ws://…            engine or relay worker URL
 *   --function=bench.echo   function that returns its input
 *   --routes=N              also register `bench.http` and N `http` triggers:
 *                           GET /bench, then GET /bench/r1 … /bench/r(N-1)
 */
import { exitOnSignal, readFlags, report } from "./args.ts";

const flags = readFlags();
const url = flags.text("url");
const functionId = flags.text("function", "bench.echo");
const routes = flags.number("routes", 0);
const HTTP_RESULT = { status_code: 200, body: { ok: true } };

const socket = new WebSocket(url);
socket.addEventListener("message", (event) => {
  const message = JSON.parse(event.data as string);
  if (message.type !== "invokefunction") return;
  if (message.invocation_id === undefined) return;
  const result = message.function_id === "bench.http" ? HTTP_RESULT : message.data;
  socket.send(JSON.stringify({ type: "invocationresult", invocation_id: message.invocation_id, function_id: message.function_id, result }));
});
socket.addEventListener("close", () => process.exit(0));
await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));

socket.send(JSON.stringify({ type: "registerfunction", id: functionId }));
if (routes > 0) {
  socket.send(JSON.stringify({ type: "registerfunction", id: "bench.http" }));
  for (let index = 0; index < routes; index++) {
    const path = index === 0 ? "bench" : `bench/r${index}`;
    const config = { api_path: path, http_method: "GET" };
    socket.send(JSON.stringify({ type: "registertrigger", id: `bench-route-${index}`, trigger_type: "http", function_id: "bench.http", config }));
  }
}
report({ ready: true });
exitOnSignal(() => socket.close());
