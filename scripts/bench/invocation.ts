/**
 * Worker → engine → worker round trips at 1 and 64 calls in flight, with raw
 * WebSocket workers and with the official SDK, against a minimal Bun.serve relay
 * and against NATS request-reply through the nats-server on 127.0.0.1:4222.
 */
import { interleave, runRole, startEngine, startRelay, startRole, withServerCpu, type Child, type LoadResult, type Server } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "invocation";
export const NATS_URL = "nats://127.0.0.1:4222";

interface Variant {
  key: string;
  name: string;
  client: "raw" | "sdk" | "nats";
  url: string;
  function: string;
  pid: number;
}

export async function run(options: RunOptions): Promise<Measurement[]> {
  const durationMs = options.quick ? 1_000 : 3_000;
  const repeats = options.quick ? 1 : 3;
  const servers: Server[] = [];
  const callees: Child[] = [];

  try {
    const start = async (server: Server, role: "raw-worker" | "sdk-worker"): Promise<Server> => {
      servers.push(server);
      callees.push((await startRole(role, { url: server.workerUrl })).child);
      return server;
    };
    const relayRaw = await start(await startRelay(), "raw-worker");
    const relaySdk = options.quick ? null : await start(await startRelay(), "sdk-worker");
    const iiiRaw = await start(await startEngine(), "raw-worker");
    const iiiSdk = await start(await startEngine(), "sdk-worker");
    const subject = `bench.echo.${crypto.randomUUID()}`;
    const nats = await startRole("nats-responder", { url: NATS_URL, subject }).catch(() => null);
    if (nats) callees.push(nats.child);

    const variants: Variant[] = [
      { key: "relay-raw", name: "Bun.serve relay, raw workers", client: "raw", url: relayRaw.workerUrl, function: "bench.echo", pid: relayRaw.child.pid },
      ...(relaySdk
        ? [{ key: "relay-sdk", name: "Bun.serve relay, SDK workers", client: "sdk" as const, url: relaySdk.workerUrl, function: "bench.echo", pid: relaySdk.child.pid }]
        : []),
      // nats-server is not a child of this run, so its CPU time is not read (pid 0 is skipped).
      ...(nats ? [{ key: "nats", name: "NATS request-reply", client: "nats" as const, url: NATS_URL, function: subject, pid: 0 }] : []),
      { key: "iii-raw", name: "iii, raw workers", client: "raw", url: iiiRaw.workerUrl, function: "bench.echo", pid: iiiRaw.child.pid },
      { key: "iii-sdk", name: "iii, SDK workers", client: "sdk", url: iiiSdk.workerUrl, function: "bench.echo", pid: iiiSdk.child.pid },
    ];

    const results = new Map<string, LoadResult>();
    for (const inflight of [1, 64]) {
      const medians = await interleave(
        repeats,
        variants.map((variant) => ({
          key: variant.key,
          run: () => {
            const flags = { client: variant.client, url: variant.url, function: variant.function, inflight, "duration-ms": durationMs, "warmup-ms": options.quick ? 300 : 1_000 };
            const load = () => runRole<LoadResult>("invoke-load", flags, durationMs + 30_000);
            return variant.pid === 0 ? load() : withServerCpu(variant.pid, load);
          },
        })),
      );
      for (const [key, result] of medians) results.set(`${key}@${inflight}`, result);
    }

    const note = `${durationMs / 1000} s per run after a warm-up, median of ${repeats} interleaved runs${nats ? "" : "; NATS skipped: no nats-server at " + NATS_URL}`;
    return describe(variants, results, note);
  } finally {
    await Promise.all(callees.map((callee) => callee.stop()));
    await Promise.all(servers.map((server) => server.stop()));
  }
}

function describe(variants: Variant[], results: Map<string, LoadResult>, note: string): Measurement[] {
  const measurements: Measurement[] = [];
  const get = (key: string, inflight: number) => results.get(`${key}@${inflight}`);

  for (const inflight of [1, 64]) {
    const relay = get("relay-raw", inflight)!;
    const nats = get("nats", inflight);
    for (const variant of variants) {
      const result = get(variant.key, inflight)!;
      const name = `${variant.name}, ${inflight} in flight`;
      const latency = { p50Us: result.p50Us, p99Us: result.p99Us };
      const errors = result.errors > 0 ? `; ${result.errors} errors` : "";
      if (variant.key === "relay-raw") {
        measurements.push({ suite: SUITE, name, value: result.rate, unit: "calls/s", latency, note: note + errors });
        continue;
      }
      measurements.push(
        compare({
          suite: SUITE,
          name,
          value: result.rate,
          unit: "calls/s",
          latency,
          baseline: { name: "relay, raw workers", value: relay.rate, latency: { p50Us: relay.p50Us, p99Us: relay.p99Us } },
          target: variant.key === "iii-raw" && inflight === 64 ? { text: "≥ 0.85 × relay", met: result.rate >= 0.85 * relay.rate } : undefined,
          note: note + errors,
        }),
      );
    }

    const iii = get("iii-raw", inflight)!;
    if (nats) {
      const factor = inflight === 1 ? 1.6 : 1.0;
      measurements.push(
        compare({
          suite: SUITE,
          name: `iii, raw workers vs NATS, ${inflight} in flight`,
          value: iii.rate,
          unit: "calls/s",
          baseline: { name: "NATS request-reply", value: nats.rate, latency: { p50Us: nats.p50Us, p99Us: nats.p99Us } },
          target: { text: `≥ ${factor.toFixed(1)} × NATS`, met: iii.rate >= factor * nats.rate },
        }),
      );
    }
  }

  const serial = get("iii-raw", 1)!;
  measurements.push(
    compare({
      suite: SUITE,
      name: "iii, raw workers, serial p50 latency",
      value: serial.p50Us,
      unit: "µs",
      baseline: { name: "relay p50", value: get("relay-raw", 1)!.p50Us },
      target: { text: "p50 < 139 µs", met: serial.p50Us < 139 },
    }),
  );
  const loaded = get("iii-raw", 64)!;
  const relayLoaded = get("relay-raw", 64)!;
  measurements.push(
    compare({
      suite: SUITE,
      name: "iii, raw workers, server CPU per call at 64 in flight",
      value: loaded.serverCpuUs!,
      unit: "µs",
      baseline: { name: "relay, raw workers", value: relayLoaded.serverCpuUs! },
      note: "user + system CPU time of the server process over the run (warm-up included), divided by the measured calls",
    }),
  );
  measurements.push(
    compare({
      suite: SUITE,
      name: "iii, raw workers, p99 latency at 64 in flight",
      value: loaded.p99Us,
      unit: "µs",
      baseline: { name: "relay p99", value: relayLoaded.p99Us },
      target: { text: "≤ 1.5 × relay p99", met: loaded.p99Us <= 1.5 * relayLoaded.p99Us },
    }),
  );
  return measurements;
}
