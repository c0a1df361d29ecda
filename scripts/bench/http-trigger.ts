/**
 * HTTP trigger throughput and latency under wrk, at 1, 64 and 256 keep-alive
 * connections: the engine with a raw and an SDK worker, against Bun.serve
 * answering directly (the floor) and a Bun.serve relay that passes each request
 * to a raw worker over a WebSocket and back (the floor for one extra hop).
 */
import { interleave, runWrk, startEngine, startRelay, startRole, withServerCpu, type Child, type LoadResult, type Server } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "http trigger";
const ROUTE_COUNT = 1_000;

interface Variant {
  key: string;
  name: string;
  url: string;
  levels: number[];
  pid: number;
}

export async function run(options: RunOptions): Promise<Measurement[]> {
  const levels = options.quick ? [1, 64] : [1, 64, 256];
  const durationS = options.quick ? 1 : 3;
  const repeats = options.quick ? 1 : 3;
  const servers: Server[] = [];
  const workers: Child[] = [];

  try {
    const start = async (server: Server, role: "raw-worker" | "sdk-worker", routes: number): Promise<Server> => {
      servers.push(server);
      workers.push((await startRole(role, { url: server.workerUrl, routes })).child);
      return server;
    };
    const relayRaw = await start(await startRelay(), "raw-worker", 1);
    const relaySdk = options.quick ? null : await start(await startRelay(), "sdk-worker", 1);
    const iiiRaw = await start(await startEngine(), "raw-worker", 1);
    const iiiSdk = await start(await startEngine(), "sdk-worker", 1);
    const iiiRoutes = await start(await startEngine(), "raw-worker", ROUTE_COUNT);

    const variants: Variant[] = [
      { key: "floor", name: "Bun.serve JSON (floor)", url: `${relayRaw.httpUrl}/floor`, levels, pid: relayRaw.child.pid },
      { key: "relay-raw", name: "Bun.serve relay + raw worker", url: `${relayRaw.httpUrl}/bench`, levels, pid: relayRaw.child.pid },
      ...(relaySdk
        ? [{ key: "relay-sdk", name: "Bun.serve relay + SDK worker", url: `${relaySdk.httpUrl}/bench`, levels, pid: relaySdk.child.pid }]
        : []),
      { key: "iii-raw", name: "iii + raw worker", url: `${iiiRaw.httpUrl}/bench`, levels, pid: iiiRaw.child.pid },
      { key: "iii-sdk", name: "iii + SDK worker", url: `${iiiSdk.httpUrl}/bench`, levels, pid: iiiSdk.child.pid },
      {
        key: "iii-routes",
        name: `iii + raw worker, ${ROUTE_COUNT} routes`,
        url: `${iiiRoutes.httpUrl}/bench/r${ROUTE_COUNT / 2}`,
        levels: [64],
        pid: iiiRoutes.child.pid,
      },
    ];
    for (const variant of variants) await waitForRoute(variant.url);

    const results = new Map<string, LoadResult>();
    for (const connections of levels) {
      const active = variants.filter((variant) => variant.levels.includes(connections));
      for (const variant of active) await warmUp(variant.url, connections, options.quick);
      const medians = await interleave(
        repeats,
        active.map((variant) => ({ key: variant.key, run: () => withServerCpu(variant.pid, () => runWrk(variant.url, connections, durationS)) })),
      );
      for (const [key, result] of medians) results.set(`${key}@${connections}`, result);
    }

    const note = `wrk -t1, ${durationS} s per run, median of ${repeats} interleaved runs`;
    return describe(variants, levels, results, note);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await Promise.all(servers.map((server) => server.stop()));
  }
}

function describe(variants: Variant[], levels: number[], results: Map<string, LoadResult>, note: string): Measurement[] {
  const measurements: Measurement[] = [];
  const get = (key: string, connections: number) => results.get(`${key}@${connections}`);

  for (const connections of levels) {
    const floor = get("floor", connections)!;
    const relay = get("relay-raw", connections)!;
    for (const variant of variants) {
      const result = get(variant.key, connections);
      if (!result) continue;
      const name = `${variant.name}, ${connections} conn`;
      const latency = { p50Us: result.p50Us, p99Us: result.p99Us };
      const errors = result.errors > 0 ? `; ${result.errors} errors` : "";
      if (variant.key === "floor") {
        measurements.push({ suite: SUITE, name, value: result.rate, unit: "req/s", latency, note: note + errors });
        continue;
      }
      const baseline =
        variant.key.startsWith("relay") ? { name: "floor", result: floor }
        : variant.key === "iii-routes" ? { name: "iii + raw worker, 1 route", result: get("iii-raw", connections)! }
        : { name: "relay + raw worker", result: relay };
      measurements.push(
        compare({
          suite: SUITE,
          name,
          value: result.rate,
          unit: "req/s",
          latency,
          baseline: { name: baseline.name, value: baseline.result.rate, latency: { p50Us: baseline.result.p50Us, p99Us: baseline.result.p99Us } },
          target: targetFor(variant.key, connections, result.rate / baseline.result.rate),
          note: note + errors,
        }),
      );
    }
  }

  const serial = get("iii-raw", 1)!;
  measurements.push(
    compare({
      suite: SUITE,
      name: "iii + raw worker, serial p50 latency",
      value: serial.p50Us,
      unit: "µs",
      baseline: { name: "relay + raw worker p50", value: get("relay-raw", 1)!.p50Us },
      target: { text: "p50 < 289 µs", met: serial.p50Us < 289 },
    }),
  );
  const loaded = get("iii-raw", 64)!;
  const relayLoaded = get("relay-raw", 64)!;
  measurements.push(
    compare({
      suite: SUITE,
      name: "iii + raw worker, server CPU per request at 64 conn",
      value: loaded.serverCpuUs!,
      unit: "µs",
      baseline: { name: "relay + raw worker", value: relayLoaded.serverCpuUs! },
      note: "user + system CPU time of the server process over the measured run, divided by the requests served",
    }),
  );
  measurements.push(
    compare({
      suite: SUITE,
      name: "iii + raw worker, p99 latency at 64 conn",
      value: loaded.p99Us,
      unit: "µs",
      baseline: { name: "relay + raw worker p99", value: relayLoaded.p99Us },
      target: { text: "≤ 2 × relay p99", met: loaded.p99Us <= 2 * relayLoaded.p99Us },
    }),
  );
  return measurements;
}

function targetFor(key: string, connections: number, ratio: number): Measurement["target"] {
  if (connections !== 64) return undefined;
  if (key === "iii-raw") return { text: "≥ 0.9 × relay", met: ratio >= 0.9 };
  if (key === "iii-sdk") return { text: "≥ 0.75 × relay", met: ratio >= 0.75 };
  if (key === "iii-routes") return { text: "≥ 0.9 × 1 route", met: ratio >= 0.9 };
  return undefined;
}

/** Warms up the server's JIT before measuring: a 1 s wrk run, or 500 requests in quick mode. */
async function warmUp(url: string, connections: number, quick: boolean): Promise<void> {
  if (!quick) {
    await runWrk(url, connections, 1);
    return;
  }
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(Array.from({ length: 50 }, async () => (await fetch(url)).arrayBuffer()));
  }
}

/** Polls until the route answers something other than 404, meaning its trigger is registered. */
async function waitForRoute(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(url).catch(() => null);
    if (response && response.status !== 404) {
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${url} answered ${response.status} while warming up`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`${url} still answers 404 after ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}
