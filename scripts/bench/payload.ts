/**
 * Invocation round trips with inputs of 100 B, 10 KB and 1 MB (the callee
 * returns the input, so each size travels four hops), against the relay.
 */
import { interleave, runRole, startEngine, startRelay, startRole, type Child, type LoadResult, type Server } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "payload";
const SIZES = [
  { bytes: 100, label: "100 B" },
  { bytes: 10_000, label: "10 KB" },
  { bytes: 1_000_000, label: "1 MB" },
];
const INFLIGHT = 4;

export async function run(options: RunOptions): Promise<Measurement[]> {
  const durationMs = options.quick ? 700 : 2_000;
  const repeats = options.quick ? 1 : 3;
  const servers: Server[] = [];
  const callees: Child[] = [];
  try {
    for (const start of [startRelay, startEngine]) {
      const server = await start();
      servers.push(server);
      callees.push((await startRole("raw-worker", { url: server.workerUrl })).child);
    }
    const [relay, iii] = servers as [Server, Server];

    const measurements: Measurement[] = [];
    for (const size of SIZES) {
      const load = (server: Server) => () =>
        runRole<LoadResult>(
          "invoke-load",
          { client: "raw", url: server.workerUrl, inflight: INFLIGHT, bytes: size.bytes, "duration-ms": durationMs, "warmup-ms": options.quick ? 200 : 500 },
          durationMs + 30_000,
        );
      const medians = await interleave(repeats, [
        { key: "relay", run: load(relay) },
        { key: "iii", run: load(iii) },
      ]);
      const base = medians.get("relay")!;
      const result = medians.get("iii")!;
      measurements.push(
        compare({
          suite: SUITE,
          name: `iii, raw workers, ${size.label} input, ${INFLIGHT} in flight`,
          value: result.rate,
          unit: "calls/s",
          latency: { p50Us: result.p50Us, p99Us: result.p99Us },
          baseline: { name: "relay, raw workers", value: base.rate, latency: { p50Us: base.p50Us, p99Us: base.p99Us } },
          note: `${durationMs / 1000} s per run, median of ${repeats} interleaved runs`,
        }),
      );
    }
    return measurements;
  } finally {
    await Promise.all(callees.map((callee) => callee.stop()));
    await Promise.all(servers.map((server) => server.stop()));
  }
}
