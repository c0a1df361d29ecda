/**
 * Calls one function as fast as the callee answers, keeping `--inflight` calls
 * outstanding, and prints {"result":{rate,count,errors,p50Us,p99Us}}.
 *
 *   --client=raw|sdk|nats   global WebSocket with the wire protocol, the official SDK, or NATS request-reply
 *   --url=…                 engine or relay worker URL (raw, sdk), or the NATS server URL
 *   --function=bench.echo   function id, or the NATS subject
 *   --inflight=N            calls outstanding at once
 *   --bytes=N               approximate size of the JSON input
 *   --warmup-ms, --duration-ms
 */
import { init } from "iii-sdk";
import { connect } from "nats";
import { percentile } from "../load.ts";
import { exitOnSignal, readFlags, report } from "./args.ts";

const flags = readFlags();
const client = flags.text("client");
const url = flags.text("url");
const functionId = flags.text("function", "bench.echo");
const inflight = flags.number("inflight", 1);
const warmupMs = flags.number("warmup-ms", 500);
const durationMs = flags.number("duration-ms", 2_000);
const data = { payload: "x".repeat(Math.max(flags.number("bytes", 100) - 14, 0)) };

type Call = () => Promise<unknown>;

const call = await connectClient();
report({ ready: true });
exitOnSignal();

await callUntilAnswered(10_000);
await drive(warmupMs, null);
const latenciesUs: number[] = [];
const started = performance.now();
const { count, errors } = await drive(durationMs, latenciesUs);
const seconds = (performance.now() - started) / 1000;
latenciesUs.sort((a, b) => a - b);
report({ result: { rate: count / seconds, count, errors, p50Us: percentile(latenciesUs, 50), p99Us: percentile(latenciesUs, 99) } });
process.exit(0);

/** Keeps `inflight` calls going until `ms` passes; records each latency when `latencies` is given. */
async function drive(ms: number, latencies: number[] | null): Promise<{ count: number; errors: number }> {
  const deadline = performance.now() + ms;
  let count = 0;
  let errors = 0;
  const lane = async () => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      try {
        await call();
        count++;
        latencies?.push((performance.now() - sent) * 1000);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  return { count, errors };
}

/** Retries until the callee has registered and answers one call. */
async function callUntilAnswered(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await call();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(20);
    }
  }
}

async function connectClient(): Promise<Call> {
  if (client === "sdk") {
    const iii = init(url, { workerName: "bench-sdk-caller" });
    return () => iii.call(functionId, data, 10_000);
  }
  if (client === "nats") {
    const nc = await connect({ servers: url });
    const body = new TextEncoder().encode(JSON.stringify(data));
    return async () => {
      const reply = await nc.request(functionId, body, { timeout: 10_000 });
      return JSON.parse(new TextDecoder().decode(reply.data));
    };
  }
  return connectRaw();
}

async function connectRaw(): Promise<Call> {
  const socket = new WebSocket(url);
  const waiting = new Map<string, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data as string);
    if (message.type !== "invocationresult") return;
    const entry = waiting.get(message.invocation_id);
    if (!entry) return;
    waiting.delete(message.invocation_id);
    if (message.error) entry.reject(new Error(message.error.message));
    else entry.resolve(message.result);
  });
  await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));
  return () =>
    new Promise((resolve, reject) => {
      const invocationId = crypto.randomUUID();
      waiting.set(invocationId, { resolve, reject });
      socket.send(JSON.stringify({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data }));
    });
}
