// A worker process that takes calls and queue jobs and never answers them, so
// a test can kill it with SIGKILL while they are in flight. Usage:
// bun hanging-worker.ts <engine url> <function id> [queue topic]
// Prints "ready" once registered and "job <n>" for each job `{n}` it receives.
const [url, functionId, topic] = process.argv.slice(2);
if (!url || !functionId) throw new Error("usage: bun hanging-worker.ts <engine url> <function id> [queue topic]");

const socket = new WebSocket(url);
socket.addEventListener("message", (event) => {
  const message = JSON.parse(String(event.data));
  if (message.type === "workerregistered") {
    socket.send(JSON.stringify({ type: "registerfunction", id: functionId }));
    if (topic) socket.send(JSON.stringify({ type: "registertrigger", id: `hanging-${topic}`, trigger_type: "queue", function_id: functionId, config: { topic } }));
    socket.send(JSON.stringify({ type: "ping" }));
  }
  if (message.type === "pong") console.log("ready");
  if (message.type === "invokefunction" && typeof message.data?.n === "number") console.log(`job ${message.data.n}`);
});
socket.addEventListener("close", () => process.exit(0));
