/**
 * Opens `--subscribers` worker connections, each with a function behind a
 * `subscribe` trigger on one topic, and a publisher connection. Publishes one
 * message at a time and waits until every subscriber has received it; prints
 * {"result":{rate,count,errors,p50Us,p99Us}} where rate is publishes/s and the
 * latency runs from sending `publish` to the last delivery.
 */
import { percentile } from "../load.ts";
import { exitOnSignal, readFlags, report } from "./args.ts";

const flags = readFlags();
const url = flags.text("url");
const subscriberCount = flags.number("subscribers", 100);
const durationMs = flags.number("duration-ms", 2_000);
const topic = `bench-${crypto.randomUUID()}`;

let expectedSeq = -1;
let delivered = 0;
let onAllDelivered: (() => void) | null = null;

const sockets: WebSocket[] = [];
for (let index = 0; index < subscriberCount; index++) {
  const socket = await open();
  const functionId = `bench.subscriber.${index}`;
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data as string);
    if (message.type !== "invokefunction") return;
    if (message.invocation_id !== undefined) {
      socket.send(JSON.stringify({ type: "invocationresult", invocation_id: message.invocation_id, function_id: functionId, result: null }));
    }
    if (message.data?.seq !== expectedSeq) return;
    delivered++;
    if (delivered === subscriberCount) onAllDelivered?.();
  });
  socket.send(JSON.stringify({ type: "registerfunction", id: functionId }));
  socket.send(JSON.stringify({ type: "registertrigger", id: `bench-sub-${index}`, trigger_type: "subscribe", function_id: functionId, config: { topic } }));
}
const publisher = await open();
report({ ready: true });
exitOnSignal(() => sockets.forEach((socket) => socket.close()));

// Subscriptions are registered asynchronously: publish until one message reaches everyone.
let seq = 0;
const warmupDeadline = Date.now() + 10_000;
while (!(await publish(seq++, 200))) {
  if (Date.now() > warmupDeadline) throw new Error(`fewer than ${subscriberCount} subscribers received a message within 10 s`);
}
for (const end = Date.now() + 300; Date.now() < end; ) await publish(seq++, 5_000);

const latenciesUs: number[] = [];
let errors = 0;
const started = performance.now();
while (performance.now() - started < durationMs) {
  const sent = performance.now();
  if (await publish(seq++, 5_000)) latenciesUs.push((performance.now() - sent) * 1000);
  else errors++;
}
const seconds = (performance.now() - started) / 1000;
latenciesUs.sort((a, b) => a - b);
report({ result: { rate: latenciesUs.length / seconds, count: latenciesUs.length, errors, p50Us: percentile(latenciesUs, 50), p99Us: percentile(latenciesUs, 99) } });
process.exit(0);

/** Publishes `seq` and resolves true once every subscriber has it, or false after `timeoutMs`. */
function publish(value: number, timeoutMs: number): Promise<boolean> {
  expectedSeq = value;
  delivered = 0;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onAllDelivered = null;
      resolve(false);
    }, timeoutMs);
    onAllDelivered = () => {
      clearTimeout(timer);
      onAllDelivered = null;
      resolve(true);
    };
    const invocation = { type: "invokefunction", invocation_id: crypto.randomUUID(), function_id: "publish", data: { topic, data: { seq: value } } };
    publisher.send(JSON.stringify(invocation));
  });
}

async function open(): Promise<WebSocket> {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  sockets.push(socket);
  return socket;
}
