/**
 * Fan-out of one `publish` to 100 subscribers through the PubSub module,
 * against the relay forwarding the message to the same 100 sockets.
 */
import { HTTP_MODULES_YAML, interleave, runRole, startEngine, startRelay, type LoadResult, type Server } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "fan-out";
const PUBSUB_CLASS = "modules::pubsub::PubSubModule";
const SUBSCRIBERS = 100;

export async function run(options: RunOptions): Promise<Measurement[]> {
  const durationMs = options.quick ? 700 : 2_000;
  const repeats = options.quick ? 1 : 3;
  const servers: Server[] = [];
  try {
    const relay = await startRelay();
    servers.push(relay);
    const iii = await startEngine({ modulesYaml: `${HTTP_MODULES_YAML}  - class: ${PUBSUB_CLASS}\n` }).catch((error: Error) => error);
    if (iii instanceof Error) {
      if (!iii.message.includes("unknown module class")) throw iii;
      const reason = `skipped: this engine build has no ${PUBSUB_CLASS}`;
      console.log(`[${SUITE}] ${reason}`);
      return [{ suite: SUITE, name: `publish to ${SUBSCRIBERS} subscribers`, value: NaN, unit: "publishes/s", note: reason }];
    }
    servers.push(iii);

    const load = (server: Server) => () =>
      runRole<LoadResult>("fanout-load", { url: server.workerUrl, subscribers: SUBSCRIBERS, "duration-ms": durationMs }, durationMs + 40_000);
    const medians = await interleave(repeats, [
      { key: "relay", run: load(relay) },
      { key: "iii", run: load(iii) },
    ]);
    const base = medians.get("relay")!;
    const result = medians.get("iii")!;
    return [
      compare({
        suite: SUITE,
        name: `publish to ${SUBSCRIBERS} subscribers, one at a time`,
        value: result.rate,
        unit: "publishes/s",
        latency: { p50Us: result.p50Us, p99Us: result.p99Us },
        baseline: { name: "relay forwarding to the same sockets", value: base.rate, latency: { p50Us: base.p50Us, p99Us: base.p99Us } },
        note: `latency is publish to last delivery; ${durationMs / 1000} s per run, median of ${repeats} interleaved runs`,
      }),
    ];
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}
