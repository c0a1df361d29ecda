/**
 * Fan-out of one stream write to many subscribed sockets, next to a raw
 * `Bun.serve` publish measured in the same run.
 *
 *   bun scripts/bench/stream-fanout.ts [--sockets 1000] [--events 200]
 *
 * The engine (or the raw server) runs in this process with an in-memory
 * stream store. The sockets live in a child process, so the clients never
 * share an event loop with the server. Each figure comes from two phases:
 * a burst of `--events` writes sent back to back (deliveries per second, from
 * the first write to the last delivery) and the same number of writes sent one
 * at a time, each after every socket received the previous one (delivery
 * latency from the write call to each socket's receipt; both processes read the
 * same machine clock).
 */
import type { Server } from "bun";

import { parseConfigText } from "../../src/config/load.ts";
import { createEngine } from "../../src/cli/start.ts";
import { configureLogging } from "../../src/telemetry/logger.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

interface PhaseResult {
  deliveries: number;
  durationMs: number;
  p50Ms: number;
  p99Ms: number;
}

interface Target {
  name: string;
  url: string;
  /** Sends one event carrying `sentAt` (epoch ms) to every socket. */
  publish(sentAt: number): Promise<void>;
  /** Whether clients must send a join frame after connecting. */
  join: boolean;
  stop(): Promise<void>;
}

const ARGS = parseArgs(import.meta.main ? Bun.argv.slice(2) : []);

if (import.meta.main) {
  if (ARGS.role === "clients") await runClients(ARGS.url!, ARGS.sockets, ARGS.join);
  else printResults(await runBenchmark());
}

/** Runs both targets for the benchmark runner, which passes `quick` for fewer events. */
export async function run(options: RunOptions): Promise<Measurement[]> {
  if (options.quick) ARGS.events = Math.min(ARGS.events, 50);
  const [raw, engine] = await runBenchmark();
  const rate = (result: { burst: PhaseResult }) => (result.burst.deliveries / result.burst.durationMs) * 1000;
  const note = `${ARGS.sockets} sockets joined to one group, ${ARGS.events} writes per phase; p99 from writes sent one at a time`;
  return [
    compare({
      suite: "stream fan-out",
      name: `stream::set delivered to ${ARGS.sockets} sockets`,
      value: rate(engine!),
      unit: "deliveries/s",
      latency: { p50Us: engine!.paced.p50Ms * 1000, p99Us: engine!.paced.p99Ms * 1000 },
      baseline: {
        name: "raw Bun.serve publish",
        value: rate(raw!),
        latency: { p50Us: raw!.paced.p50Ms * 1000, p99Us: raw!.paced.p99Ms * 1000 },
      },
      note,
    }),
  ];
}

async function runBenchmark(): Promise<Array<{ name: string; burst: PhaseResult; paced: PhaseResult }>> {
  configureLogging({ level: "error" });
  const results: Array<{ name: string; burst: PhaseResult; paced: PhaseResult }> = [];

  for (const start of [startRawServer, startEngineTarget]) {
    const target = await start();
    try {
      const clients = await spawnClients(target);
      try {
        const burst = await runPhase(target, clients, "burst");
        const paced = await runPhase(target, clients, "paced");
        results.push({ name: target.name, burst, paced });
      } finally {
        clients.process.kill();
        await clients.process.exited;
      }
    } finally {
      await target.stop();
    }
  }
  return results;
}

async function startRawServer(): Promise<Target> {
  const server: Server<unknown> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request, bunServer) => (bunServer.upgrade(request, { data: undefined }) ? undefined : new Response(null, { status: 400 })),
    websocket: {
      open: (socket) => {
        socket.subscribe("group");
      },
      message: () => undefined,
    },
  });
  return {
    name: "raw Bun.serve publish",
    url: `ws://127.0.0.1:${server.port}`,
    join: false,
    publish: async (sentAt) => {
      const envelope = { type: "stream", timestamp: Date.now(), streamName: "bench", groupId: "g", id: "item", event: { type: "update", data: { sentAt } } };
      server.publish("group", JSON.stringify(envelope));
    },
    stop: async () => {
      server.stop(true);
    },
  };
}

async function startEngineTarget(): Promise<Target> {
  const yaml = `
port: 0
modules:
  - class: modules::stream::StreamModule
    config:
      port: 0
      adapter:
        class: modules::stream::adapters::KvStore
`;
  const config = parseConfigText(yaml, "stream-fanout.yaml", process.env);
  const engine = await createEngine(config, process.env);
  await engine.start();
  const module = engine.modules.find((candidate) => candidate.className === "modules::stream::StreamModule") as unknown as { port: number };

  return {
    name: "iii stream::set",
    url: `ws://127.0.0.1:${module.port}`,
    join: true,
    publish: async (sentAt) => {
      const outcome = await engine.context.invoke("stream::set", { stream_name: "bench", group_id: "g", item_id: "item", data: { sentAt } });
      if (outcome.type === "failure") throw new Error(`stream::set failed: ${outcome.error.message}`);
    },
    stop: () => engine.stop(),
  };
}

interface Clients {
  process: Bun.Subprocess<"pipe", "pipe", "inherit">;
  lines: AsyncIterator<string>;
}

async function spawnClients(target: Target): Promise<Clients> {
  const process = Bun.spawn(
    ["bun", import.meta.path, "--role", "clients", "--url", target.url, "--sockets", String(ARGS.sockets), "--join", String(target.join)],
    { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
  );
  const lines = readLines(process.stdout);
  const ready = await lines.next();
  if (ready.value !== "ready") throw new Error(`client process did not get ready: ${String(ready.value)}`);
  return { process, lines };
}

/** Tells the clients to expect `events` deliveries per socket, sends the events, and reads their report. */
async function runPhase(target: Target, clients: Clients, mode: "burst" | "paced"): Promise<PhaseResult> {
  const events = ARGS.events;
  clients.process.stdin.write(`expect ${events}\n`);
  clients.process.stdin.flush();
  const armed = await clients.lines.next();
  if (armed.value !== "armed") throw new Error(`client process did not arm: ${String(armed.value)}`);

  const startedAt = now();
  for (let index = 0; index < events; index++) {
    await target.publish(now());
    if (mode === "paced") {
      clients.process.stdin.write(`wait ${index + 1}\n`);
      clients.process.stdin.flush();
      const reply = await clients.lines.next();
      if (reply.value !== `done ${index + 1}`) throw new Error(`unexpected client reply: ${String(reply.value)}`);
    }
  }

  clients.process.stdin.write("report\n");
  clients.process.stdin.flush();
  const report = await clients.lines.next();
  const parsed = JSON.parse(String(report.value)) as { deliveries: number; lastAt: number; p50Ms: number; p99Ms: number };
  return { deliveries: parsed.deliveries, durationMs: parsed.lastAt - startedAt, p50Ms: parsed.p50Ms, p99Ms: parsed.p99Ms };
}

/** Child role: opens the sockets, then counts deliveries and their latency per phase. */
async function runClients(url: string, count: number, join: boolean): Promise<void> {
  let expected = 0;
  let received = 0;
  let completedEvents = 0;
  let latencies: number[] = [];
  let lastAt = 0;
  const perEvent = new Map<number, number>();
  let waitingFor: number | null = null;
  let reportRequested = false;

  const report = (): void => {
    latencies.sort((left, right) => left - right);
    const pick = (quantile: number) => latencies[Math.min(latencies.length - 1, Math.floor(quantile * latencies.length))]!;
    write(JSON.stringify({ deliveries: received, lastAt, p50Ms: pick(0.5), p99Ms: pick(0.99) }));
  };

  const onEvent = (text: string): void => {
    const envelope = JSON.parse(text) as { event: { type: string; data: { sentAt: number } } };
    if (envelope.event.type === "sync") return;
    const at = now();
    const sentAt = envelope.event.data.sentAt;
    latencies.push(at - sentAt);
    lastAt = at;
    received++;

    const seen = (perEvent.get(sentAt) ?? 0) + 1;
    perEvent.set(sentAt, seen);
    if (seen === count) {
      perEvent.delete(sentAt);
      completedEvents++;
      if (waitingFor !== null && completedEvents >= waitingFor) {
        write(`done ${waitingFor}`);
        waitingFor = null;
      }
    }
    if (reportRequested && received === expected * count) {
      reportRequested = false;
      report();
    }
  };

  const synced: Promise<void>[] = [];
  for (let index = 0; index < count; index++) {
    const socket = new WebSocket(url);
    synced.push(
      new Promise<void>((resolve, reject) => {
        socket.addEventListener("error", () => reject(new Error(`socket ${index} failed`)));
        socket.addEventListener("open", () => {
          if (!join) resolve();
          else socket.send(JSON.stringify({ type: "join", data: { subscriptionId: `s${index}`, streamName: "bench", groupId: "g" } }));
        });
        socket.addEventListener("message", (message) => {
          const text = String(message.data);
          if (text.includes('"type":"sync"')) resolve();
          else onEvent(text);
        });
      }),
    );
  }
  await Promise.all(synced);
  write("ready");

  for await (const line of readLinesGenerator(Bun.stdin.stream())) {
    if (line.startsWith("expect ")) {
      expected = Number(line.slice("expect ".length));
      received = 0;
      completedEvents = 0;
      latencies = [];
      perEvent.clear();
      reportRequested = false;
      write("armed");
    } else if (line.startsWith("wait ")) {
      const target = Number(line.slice("wait ".length));
      if (completedEvents >= target) write(`done ${target}`);
      else waitingFor = target;
    } else if (line === "report") {
      if (received === expected * count) report();
      else reportRequested = true;
    }
  }
}

function printResults(results: Array<{ name: string; burst: PhaseResult; paced: PhaseResult }>): void {
  const rows = results.map((result) => ({
    target: result.name,
    "deliveries/s (burst)": Math.round((result.burst.deliveries / result.burst.durationMs) * 1000),
    "events/s (burst)": Math.round((ARGS.events / result.burst.durationMs) * 1000),
    "p50 ms (paced)": result.paced.p50Ms.toFixed(2),
    "p99 ms (paced)": result.paced.p99Ms.toFixed(2),
    "p99 ms (burst)": result.burst.p99Ms.toFixed(2),
  }));
  console.log(`stream fan-out: ${ARGS.sockets} sockets, ${ARGS.events} events per phase, Bun ${Bun.version}`);
  console.table(rows);
}

function parseArgs(argv: string[]): { role: string; url?: string; sockets: number; events: number; join: boolean } {
  const value = (name: string): string | undefined => {
    const index = argv.indexOf(`--${name}`);
    return index < 0 ? undefined : argv[index + 1];
  };
  return {
    role: value("role") ?? "main",
    url: value("url"),
    sockets: Number(value("sockets") ?? 1000),
    events: Number(value("events") ?? 200),
    join: value("join") === "true",
  };
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function write(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function* readLinesGenerator(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
    }
  }
}

function readLines(stream: ReadableStream<Uint8Array>): AsyncIterator<string> {
  return readLinesGenerator(stream);
}
