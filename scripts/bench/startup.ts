/**
 * Time from spawning the compiled engine to its worker port accepting a TCP
 * connection, against the compiled relay (a bare Bun.serve) started the same way.
 */
import { rmSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileRelay, ENGINE_BINARY, freePort, HTTP_MODULES_YAML, median } from "./load.ts";
import { compare, type Measurement, type RunOptions } from "./measurement.ts";

const SUITE = "startup";
const CONNECT_TIMEOUT_MS = 10_000;

export async function run(options: RunOptions): Promise<Measurement[]> {
  const runs = options.quick ? 3 : 9;
  const dir = mkdtempSync(join(tmpdir(), "iii-bench-startup-"));
  const relay = await compileRelay();
  const engineTimes: number[] = [];
  const relayTimes: number[] = [];
  try {
    for (let index = 0; index < runs; index++) {
      const port = freePort();
      writeFileSync(join(dir, "config.yaml"), `port: ${port}\nhost: 127.0.0.1\nmodules:${HTTP_MODULES_YAML}`);
      engineTimes.push(await timeStartup([ENGINE_BINARY, "-c", join(dir, "config.yaml")], port, dir));
      const relayPort = freePort();
      relayTimes.push(await timeStartup([relay, String(relayPort)], relayPort, dir));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const value = median(engineTimes);
  return [
    compare({
      suite: SUITE,
      name: "spawn to worker port accepting",
      value,
      unit: "ms",
      baseline: { name: "compiled Bun.serve relay", value: median(relayTimes) },
      target: { text: "< 30 ms (100 ms at most)", met: value < 30 },
      note: `median of ${runs} runs (engine: ${engineTimes.map((ms) => ms.toFixed(1)).join(", ")} ms); worker and HTTP modules loaded`,
    }),
  ];
}

/** Spawns `command` and polls a TCP connect to `port` every millisecond; returns the elapsed ms. */
async function timeStartup(command: string[], port: number, cwd: string): Promise<number> {
  const started = performance.now();
  const child = Bun.spawn(command, { cwd, env: { ...process.env, III_DATA_DIR: join(cwd, "data") }, stdout: "ignore", stderr: "ignore" });
  try {
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    for (;;) {
      if (await canConnect(port)) return performance.now() - started;
      if (child.exitCode !== null) throw new Error(`${command[0]} exited with code ${child.exitCode} during startup`);
      if (Date.now() > deadline) throw new Error(`${command[0]} did not accept connections on port ${port} within ${CONNECT_TIMEOUT_MS} ms`);
      await Bun.sleep(1);
    }
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}
