/**
 * Invocation round trips with the engine's own tracing on (OtelModule, memory
 * exporter, every call sampled) and off, in the same run, with raw workers at
 * 64 calls in flight. The ratio is the cost of tracing.
 *
 *   bun scripts/bench/index.ts --only=tracing
 */
import { HTTP_MODULES_YAML, interleave, runRole, startEngine, startRole, type Child, type LoadResult, type Server } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "tracing";
const INFLIGHT = 64;
const TRACING_YAML = `${HTTP_MODULES_YAML}
  - class: modules::observability::OtelModule
    config:
      enabled: true
      exporter: memory
      sampling_ratio: 1.0
      prometheus: { enabled: false }
`;

export async function run(options: RunOptions): Promise<Measurement[]> {
  const durationMs = options.quick ? 1_000 : 3_000;
  const repeats = options.quick ? 1 : 3;
  const servers: Server[] = [];
  const callees: Child[] = [];

  try {
    const off = await startEngine();
    const on = await startEngine({ modulesYaml: TRACING_YAML });
    servers.push(off, on);
    for (const server of servers) callees.push((await startRole("raw-worker", { url: server.workerUrl })).child);

    const load = (server: Server) => () =>
      runRole<LoadResult>(
        "invoke-load",
        { client: "raw", url: server.workerUrl, function: "bench.echo", inflight: INFLIGHT, "duration-ms": durationMs, "warmup-ms": 500 },
        durationMs + 30_000,
      );
    const results = await interleave(repeats, [
      { key: "off", run: load(off) },
      { key: "on", run: load(on) },
    ]);
    const offResult = results.get("off")!;
    const onResult = results.get("on")!;

    return [
      compare({
        suite: SUITE,
        name: `invocations with tracing on, raw workers, ${INFLIGHT} in flight`,
        value: onResult.rate,
        unit: "calls/s",
        latency: { p50Us: onResult.p50Us, p99Us: onResult.p99Us },
        baseline: { name: "tracing off", value: offResult.rate, latency: { p50Us: offResult.p50Us, p99Us: offResult.p99Us } },
        note: `${durationMs / 1000} s per run, median of ${repeats} interleaved runs; every call recorded in the memory span store`,
      }),
    ];
  } finally {
    await Promise.all(callees.map((callee) => callee.stop()));
    await Promise.all(servers.map((server) => server.stop()));
  }
}
