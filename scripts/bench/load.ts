/**
 * Shared helpers for the benchmarks: child processes (the compiled engine, the
 * relay baseline and the load roles under roles/), wrk runs, percentiles and
 * RSS readings. Every server runs in its own process on 127.0.0.1, so the load
 * generator never shares an event loop with what it measures.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT_DIR = join(import.meta.dir, "..", "..");
export const ENGINE_BINARY = join(ROOT_DIR, "dist", "iii");
const ROLES_DIR = join(import.meta.dir, "roles");
const READY_TIMEOUT_MS = 20_000;

/** Latency percentiles of a load run, in microseconds. */
export interface Latency {
  p50Us: number;
  p99Us: number;
}

/**
 * Throughput and latency of one load run; `rate` is completed operations per second.
 * `serverCpuUs` is the CPU time (user + system) the server process spent per
 * operation, a figure that other load on the machine disturbs far less than `rate`.
 */
export interface LoadResult extends Latency {
  rate: number;
  count: number;
  errors: number;
  serverCpuUs?: number;
}

/** A child process whose stdout is read line by line; stderr is kept for error messages. */
export class Child {
  readonly process: ReturnType<typeof Bun.spawn>;
  readonly lines: string[] = [];
  stderr = "";
  #waiters = new Set<() => void>();

  constructor(command: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
    this.process = Bun.spawn(command, {
      cwd: options.cwd ?? ROOT_DIR,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    void this.#readLines(this.process.stdout as ReadableStream<Uint8Array>, (line) => this.lines.push(line));
    void this.#readLines(this.process.stderr as ReadableStream<Uint8Array>, (line) => {
      this.stderr += `${line}\n`;
      // The engine logs to stderr too; keep its lines where waitForLine looks.
      this.lines.push(line);
    });
  }

  get pid(): number {
    return this.process.pid;
  }

  /** Waits for an output line matching `pattern` and returns its match; fails with the output so far. */
  async waitForLine(pattern: RegExp, timeoutMs = READY_TIMEOUT_MS): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let checked = 0;
    for (;;) {
      for (; checked < this.lines.length; checked++) {
        const match = this.lines[checked]!.match(pattern);
        if (match) {
          checked++;
          return match;
        }
      }
      if (this.process.exitCode !== null) {
        throw new Error(`process exited with code ${this.process.exitCode} before printing ${pattern}:\n${this.lines.join("\n")}`);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no output line matched ${pattern} within ${timeoutMs} ms:\n${this.lines.join("\n")}`);
      await this.#nextLine(remaining);
    }
  }

  /** Waits for the next JSON line that has `key`, and returns it parsed. */
  async waitForJson<T>(key: string, timeoutMs = READY_TIMEOUT_MS): Promise<T> {
    const match = await this.waitForLine(new RegExp(`^\\{.*"${key}"`), timeoutMs);
    const line = match.input!;
    this.lines.splice(this.lines.indexOf(line), 1);
    return JSON.parse(line) as T;
  }

  /** Writes one line to the child's stdin (the roles read commands there). */
  send(line: string): void {
    const stdin = this.process.stdin as import("bun").FileSink;
    stdin.write(`${line}\n`);
    stdin.flush();
  }

  /** Ends the process with SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill("SIGTERM");
    const timer = setTimeout(() => this.process.kill("SIGKILL"), graceMs);
    await this.process.exited;
    clearTimeout(timer);
  }

  async #readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        onLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
      }
      this.#wake();
    }
    if (buffered) onLine(buffered);
    this.#wake();
  }

  #nextLine(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.min(timeoutMs, 100));
      this.#waiters.add(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
    this.#waiters.clear();
  }
}

/** A running server under test: the engine or the relay baseline. */
export interface Server {
  label: string;
  child: Child;
  workerUrl: string;
  httpUrl: string | null;
  stop(): Promise<void>;
}

/** Modules the benchmarks load into the engine; PubSub is added where a benchmark needs it. */
export const HTTP_MODULES_YAML = `
  - class: modules::worker::WorkerModule
  - class: modules::api::RestApiModule
    config:
      host: 127.0.0.1
      port: 0
`;

/**
 * Starts the compiled engine with `modulesYaml` under `modules:` and waits for its
 * listeners. The worker port is `port` (0 picks a free one); both bound ports are read
 * back from the engine's log lines.
 */
export async function startEngine(options: { modulesYaml?: string; port?: number } = {}): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "iii-bench-"));
  const config = `port: ${options.port ?? 0}\nhost: 127.0.0.1\nmodules:${options.modulesYaml ?? HTTP_MODULES_YAML}`;
  writeFileSync(join(dir, "config.yaml"), config);

  const child = new Child([ENGINE_BINARY, "-c", join(dir, "config.yaml"), "--log-level", "info"], {
    cwd: dir,
    env: { III_DATA_DIR: join(dir, "data") },
  });
  const stop = async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const worker = await child.waitForLine(/accepting workers at (ws:\/\/[^\s]+)/);
    const http = (options.modulesYaml ?? HTTP_MODULES_YAML).includes("RestApiModule")
      ? await child.waitForLine(/HTTP API listening at (http:\/\/[^\s]+)/)
      : null;
    return { label: "iii", child, workerUrl: worker[1]!, httpUrl: http ? http[1]! : null, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

let relayBinary: Promise<string> | null = null;

/**
 * Compiles roles/relay.ts into a standalone binary once per run, so the relay
 * baseline starts and uses memory the way the compiled engine does.
 */
export function compileRelay(): Promise<string> {
  relayBinary ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "iii-bench-relay-"));
    const outfile = join(dir, "relay");
    const build = Bun.spawn(["bun", "build", "--compile", join(ROLES_DIR, "relay.ts"), "--outfile", outfile], {
      cwd: ROOT_DIR,
      stdout: "pipe",
      stderr: "pipe",
    });
    if ((await build.exited) !== 0) throw new Error(`compiling the relay failed:\n${await new Response(build.stderr).text()}`);
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return outfile;
  })();
  return relayBinary;
}

/** Starts the compiled relay baseline on `port` (0 picks a free one). */
export async function startRelay(options: { port?: number } = {}): Promise<Server> {
  const child = new Child([await compileRelay(), String(options.port ?? 0)]);
  try {
    const ready = await child.waitForJson<{ port: number }>("port");
    const base = `127.0.0.1:${ready.port}`;
    return { label: "relay", child, workerUrl: `ws://${base}`, httpUrl: `http://${base}`, stop: () => child.stop() };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** Starts `roles/<name>.ts` in its own Bun process and waits for its `{"ready":...}` line. */
export async function startRole<T = unknown>(name: string, args: Record<string, string | number>): Promise<{ child: Child; ready: T }> {
  const flags = Object.entries(args).map(([key, value]) => `--${key}=${value}`);
  const child = new Child([process.execPath, join(ROLES_DIR, `${name}.ts`), ...flags]);
  try {
    const ready = await child.waitForJson<T>("ready");
    return { child, ready };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** Runs a role that prints one `{"result":...}` line and exits; returns that result. */
export async function runRole<T>(name: string, args: Record<string, string | number>, timeoutMs: number): Promise<T> {
  const { child } = await startRole(name, args);
  try {
    const line = await child.waitForJson<{ result: T }>("result", timeoutMs);
    return line.result;
  } finally {
    await child.stop();
  }
}

/**
 * Runs wrk with keep-alive connections against `url` for `durationS` seconds and
 * returns requests/s and wrk's latency percentiles. One wrk thread, so the load
 * generator takes at most one of the machine's cores.
 */
export async function runWrk(url: string, connections: number, durationS: number): Promise<LoadResult> {
  const wrk = Bun.spawn(["wrk", "-t1", `-c${connections}`, `-d${durationS}s`, "--latency", "--timeout", "5s", url], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => wrk.kill("SIGKILL"), (durationS + 20) * 1000);
  const [output, errors] = [await new Response(wrk.stdout).text(), await new Response(wrk.stderr).text()];
  clearTimeout(timer);
  if ((await wrk.exited) !== 0) throw new Error(`wrk failed: ${errors || output}`);

  const rate = Number(output.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
  const count = Number(output.match(/(\d+) requests in/)?.[1] ?? NaN);
  const non2xx = Number(output.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const socketErrors = output.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const errorCount = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return { rate, count, errors: errorCount, p50Us: wrkPercentile(output, "50%"), p99Us: wrkPercentile(output, "99%") };
}

function wrkPercentile(output: string, label: string): number {
  const match = output.match(new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)\\s*$`, "m"));
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value : match[2] === "ms" ? value * 1000 : value * 1_000_000;
}

/** The value at percentile `p` (0..100) of ascending `sorted` values, by nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(Math.max(rank, 0), sorted.length - 1)]!;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The run whose rate is the median of several repeats (the upper middle for an even count). */
export function medianRun<T extends { rate: number }>(runs: T[]): T {
  const sorted = [...runs].sort((a, b) => a.rate - b.rate);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Runs each variant `repeats` times, interleaved (A B A B …) so that load from
 * other processes on the machine falls on every variant alike, and returns the
 * median run of each.
 */
export async function interleave<T extends { rate: number }>(
  repeats: number,
  variants: Array<{ key: string; run: () => Promise<T> }>,
): Promise<Map<string, T>> {
  const runs = new Map<string, T[]>(variants.map((variant) => [variant.key, []]));
  for (let round = 0; round < repeats; round++) {
    for (const variant of variants) runs.get(variant.key)!.push(await variant.run());
  }
  return new Map([...runs].map(([key, list]) => [key, medianRun(list)]));
}

/** Resident set size of a process in MiB, from VmRSS in /proc/<pid>/status. */
export function readRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = Number(status.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1] ?? NaN);
  return kib / 1024;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export function readCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

// The USER_HZ unit of /proc/<pid>/stat; 100 on every mainstream Linux build.
const CLOCK_TICKS_PER_SECOND = 100;

/** Runs `load` and adds the server's CPU time per completed operation to its result. */
export async function withServerCpu<T extends LoadResult>(pid: number, load: () => Promise<T>): Promise<T> {
  const before = readCpuMs(pid);
  const result = await load();
  const spentMs = readCpuMs(pid) - before;
  return { ...result, serverCpuUs: result.count > 0 ? (spentMs * 1000) / result.count : NaN };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

/** Polls `check` every `intervalMs` until it returns true, failing with `what` after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}

/** The machine facts docs/benchmarks.md starts with. */
export function describeMachine(): { cores: number; cpu: string; memory: string; bun: string } {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const totalKib = Number(meminfo.match(/^MemTotal:\s+(\d+)/m)?.[1] ?? 0);
  const nproc = Bun.spawnSync(["nproc"]).stdout.toString().trim();
  return {
    cores: Number(nproc),
    cpu: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown",
    memory: `${(totalKib / 1024 / 1024).toFixed(1)} GiB`,
    bun: Bun.version,
  };
}
