/**
 * 1,000 workers connecting and registering 10 functions each: the time from
 * the first socket opening until engine::functions::list shows all 10,000.
 */
import { median, startEngine, startRelay, startRole, type Server } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "registration";
const WORKERS = 1_000;
const FUNCTIONS = 10;

export async function run(options: RunOptions): Promise<Measurement[]> {
  const repeats = options.quick ? 1 : 5;
  const times = new Map<string, number[]>([
    ["relay", []],
    ["iii", []],
  ]);
  for (let round = 0; round < repeats; round++) {
    for (const [key, start] of [["relay", startRelay], ["iii", startEngine]] as const) {
      times.get(key)!.push(await timeRegistration(await start()));
    }
  }
  const value = median(times.get("iii")!);
  return [
    compare({
      suite: SUITE,
      name: `${WORKERS} workers × ${FUNCTIONS} functions registered and listed`,
      value,
      unit: "ms",
      baseline: { name: "relay", value: median(times.get("relay")!) },
      target: { text: "< 300 ms", met: value < 300 },
      note: `median of ${repeats} runs, each on a freshly started server; connections open from one separate process`,
    }),
  ];
}

async function timeRegistration(server: Server): Promise<number> {
  const { child } = await startRole("many-workers", { url: server.workerUrl, workers: WORKERS, functions: FUNCTIONS });
  try {
    child.send("connect");
    return (await child.waitForJson<{ ms: number }>("connected", 60_000)).ms;
  } finally {
    await child.stop();
    await server.stop();
  }
}
