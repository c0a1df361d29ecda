/**
 * Resident memory (VmRSS) of the engine process idle, with 1,000 connected
 * workers holding 10,000 functions and 1,000 HTTP routes, after they all
 * disconnect, and across repeated connect/disconnect cycles; the relay under
 * the same load is the baseline.
 */
import { median, readRssMiB, startEngine, startRelay, startRole, type Server } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "memory";
const WORKERS = 1_000;
const FUNCTIONS = 10;
const SETTLE_MS = 1_000;

interface Profile {
  idle: number;
  loaded: number;
  afterDisconnect: number;
  afterCycles: number[];
}

export async function run(options: RunOptions): Promise<Measurement[]> {
  const cycles = options.quick ? 2 : 10;
  const relay = await profile(await startRelay(), cycles);
  const iii = await profile(await startEngine(), cycles);
  const note = `VmRSS read ${SETTLE_MS} ms after each step settles, median of 3 readings 100 ms apart`;
  const growth = (p: Profile) => p.afterCycles[p.afterCycles.length - 1]! - p.afterCycles[0]!;

  return [
    compare({
      suite: SUITE,
      name: "idle RSS",
      value: iii.idle,
      unit: "MiB",
      baseline: { name: "relay idle", value: relay.idle },
      target: { text: "≤ 45 MiB", met: iii.idle <= 45 },
      note,
    }),
    compare({
      suite: SUITE,
      name: `RSS with ${WORKERS} workers, ${WORKERS * FUNCTIONS} functions, ${WORKERS} routes`,
      value: iii.loaded,
      unit: "MiB",
      baseline: { name: "relay with the same workers", value: relay.loaded },
      target: { text: "≤ 100 MiB", met: iii.loaded <= 100 },
      note,
    }),
    compare({
      suite: SUITE,
      name: "RSS after all workers disconnect",
      value: iii.afterDisconnect,
      unit: "MiB",
      baseline: { name: "relay after disconnect", value: relay.afterDisconnect },
      target: { text: `≤ idle + 10 MiB (${(iii.idle + 10).toFixed(1)})`, met: iii.afterDisconnect <= iii.idle + 10 },
      note,
    }),
    compare({
      suite: SUITE,
      name: `RSS growth over ${cycles} connect/disconnect cycles`,
      value: growth(iii),
      unit: "MiB",
      baseline: { name: "relay growth", value: growth(relay) },
      target: { text: "no growth (≤ 2 MiB)", met: growth(iii) <= 2 },
      note: `RSS after each disconnect: ${iii.afterCycles.map((value) => value.toFixed(1)).join(", ")} MiB`,
    }),
  ];
}

async function profile(server: Server, cycles: number): Promise<Profile> {
  const pid = server.child.pid;
  const settle = async () => {
    await Bun.sleep(SETTLE_MS);
    const readings: number[] = [];
    for (let index = 0; index < 3; index++) {
      readings.push(readRssMiB(pid));
      await Bun.sleep(100);
    }
    return median(readings);
  };

  const { child } = await startRole("many-workers", { url: server.workerUrl, workers: WORKERS, functions: FUNCTIONS, routes: 1 });
  try {
    const idle = await settle();
    const cycle = async () => {
      child.send("connect");
      await child.waitForJson("connected", 60_000);
      const loaded = await settle();
      child.send("disconnect");
      await child.waitForJson("disconnected", 60_000);
      return { loaded, after: await settle() };
    };
    const first = await cycle();
    const afterCycles = [first.after];
    for (let index = 1; index < cycles; index++) afterCycles.push((await cycle()).after);
    return { idle, loaded: first.loaded, afterDisconnect: first.after, afterCycles };
  } finally {
    await child.stop();
    await server.stop();
  }
}
