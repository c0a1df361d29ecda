/**
 * Runs every benchmark, prints one line per measurement and a summary table,
 * and, on a full run, writes docs/benchmarks.md.
 *
 *   bun run bench            full runs (several minutes)
 *   bun run bench:quick      fewer and shorter runs, under 60 s
 *   bun scripts/bench/index.ts --only=invocation,memory
 *
 * Each benchmark file exports `run(options: RunOptions): Promise<Measurement[]>`
 * (see measurement.ts). Files that other parts of the project add to this
 * folder are listed in EXTRA_FILES and run when present.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENGINE_BINARY, ROOT_DIR, describeMachine } from "./load.ts";
import { formatLine, formatNumber, isMeasurement, type Measurement, type RunOptions } from "./measurement.ts";

type Benchmark = (options: RunOptions) => Promise<Measurement[]>;

const BUILT_IN: Array<{ key: string; load: () => Promise<Benchmark> }> = [
  { key: "startup", load: async () => (await import("./startup.ts")).run },
  { key: "http-trigger", load: async () => (await import("./http-trigger.ts")).run },
  { key: "invocation", load: async () => (await import("./invocation.ts")).run },
  { key: "payload", load: async () => (await import("./payload.ts")).run },
  { key: "fanout", load: async () => (await import("./fanout.ts")).run },
  { key: "registration", load: async () => (await import("./registration.ts")).run },
  { key: "memory", load: async () => (await import("./memory.ts")).run },
];
const EXTRA_FILES = ["stream-fanout.ts", "queue.ts", "tracing.ts", "state.ts"];
const EXTRA_TIMEOUT_MS = { quick: 60_000, full: 600_000 };
const REPORT_PATH = join(ROOT_DIR, "docs", "benchmarks.md");
const RESULTS_START = "<!-- results:start -->";
const RESULTS_END = "<!-- results:end -->";

const quick = process.argv.includes("--quick");
const only = process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length).split(",");
const started = performance.now();

await buildEngine();
const measurements: Measurement[] = [];
for (const benchmark of [...BUILT_IN, ...extraBenchmarks()]) {
  if (only && !only.includes(benchmark.key)) continue;
  console.log(`-- ${benchmark.key}`);
  const suiteStarted = performance.now();
  try {
    const results = await (await benchmark.load())({ quick });
    for (const measurement of results) {
      console.log(formatLine(measurement));
      measurements.push(measurement);
    }
    console.log(`-- ${benchmark.key} took ${((performance.now() - suiteStarted) / 1000).toFixed(1)} s`);
  } catch (error) {
    const failure: Measurement = { suite: benchmark.key, name: "benchmark failed", value: NaN, unit: "", note: (error as Error).message.split("\n")[0] };
    console.log(formatLine(failure));
    measurements.push(failure);
  }
}

const elapsedS = (performance.now() - started) / 1000;
console.log(`\n${renderTable(measurements)}`);
console.log(`\n${elapsedS.toFixed(0)} s in total`);
// Quick and partial runs are for checking a change; only a full run replaces the recorded figures.
if (quick || only) {
  console.log(`${REPORT_PATH} left unchanged: only a full run without --quick or --only records its figures`);
} else {
  writeReport(measurements, elapsedS);
  console.log(`wrote ${REPORT_PATH}`);
}
process.exit(0);

async function buildEngine(): Promise<void> {
  const build = Bun.spawn(["bun", "run", "build"], { cwd: ROOT_DIR, stdout: "pipe", stderr: "pipe" });
  if ((await build.exited) !== 0) {
    throw new Error(`bun run build failed:\n${await new Response(build.stderr).text()}`);
  }
  if (!existsSync(ENGINE_BINARY)) throw new Error(`bun run build did not produce ${ENGINE_BINARY}`);
  if (Bun.which("wrk") === null) throw new Error("wrk is not installed; install it with 'apt-get install wrk'");
}

/** Benchmark files from other parts of the project, adapted when they do not export `run`. */
function extraBenchmarks(): Array<{ key: string; load: () => Promise<Benchmark> }> {
  return EXTRA_FILES.filter((file) => existsSync(join(import.meta.dir, file))).map((file) => {
    const path = join(import.meta.dir, file);
    const key = file.replace(/\.ts$/, "");
    const exportsRun = /export\s+(async\s+)?function\s+run\b|export\s+const\s+run\b/.test(readFileSync(path, "utf8"));
    if (!exportsRun) return { key, load: async () => (options: RunOptions) => runAsProcess(key, path, options) };
    return {
      key,
      load: async () => {
        const module = (await import(path)) as { run: (options: RunOptions) => Promise<unknown> };
        return async (options: RunOptions) => toMeasurements(key, await module.run(options));
      },
    };
  });
}

/** Keeps what looks like a `Measurement`; anything else is recorded as a note so it is not lost. */
function toMeasurements(key: string, value: unknown): Measurement[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) =>
    isMeasurement(item) ? item : { suite: key, name: "unrecognised result", value: NaN, unit: "", note: JSON.stringify(item).slice(0, 200) },
  );
}

/** Runs a script that has no `run` export as its own process and records its last output lines. */
async function runAsProcess(key: string, path: string, options: RunOptions): Promise<Measurement[]> {
  const child = Bun.spawn([process.execPath, path, ...(options.quick ? ["--quick"] : [])], { cwd: ROOT_DIR, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), options.quick ? EXTRA_TIMEOUT_MS.quick : EXTRA_TIMEOUT_MS.full);
  const output = await new Response(child.stdout).text();
  const code = await child.exited;
  clearTimeout(timer);
  const tail = output.trim().split("\n").slice(-5).join(" | ");
  const note = `${key}.ts exports no run(); ran it as a process (exit ${code}): ${tail}`;
  return [{ suite: key, name: "output of the script", value: NaN, unit: "", note }];
}

function renderTable(list: Measurement[]): string {
  const rows = list.map((m) => [
    m.suite,
    m.name,
    `${formatNumber(m.value)} ${m.unit}`,
    m.latency ? `${formatNumber(m.latency.p50Us)} / ${formatNumber(m.latency.p99Us)}` : "",
    m.baseline ? `${formatNumber(m.baseline.value)} (${m.baseline.name})` : "",
    m.ratio === undefined ? "" : m.ratio.toFixed(2),
    m.target ? `${m.target.met ? "met" : "MISSED"}: ${m.target.text}` : "",
  ]);
  const header = ["suite", "measurement", "value", "p50 / p99 µs", "baseline", "ratio", "target"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ");
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n");
}

function renderMarkdown(list: Measurement[], elapsedS: number): string {
  const machine = describeMachine();
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT_DIR }).stdout.toString().trim();
  const lines = [
    RESULTS_START,
    "## Latest run",
    "",
    `- Machine: ${machine.cores} cores (\`nproc\`), ${machine.cpu}, ${machine.memory} memory`,
    `- Bun ${machine.bun}; engine built from commit ${commit} (plus any uncommitted changes in the tree)`,
    `- Command: \`bun run ${quick ? "bench:quick" : "bench"}\` (${quick ? "quick: fewer and shorter runs" : "full runs"}), ${elapsedS.toFixed(0)} s in total`,
    "",
    "| suite | measurement | value | p50 / p99 µs | baseline | ratio | target |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const m of list) {
    const latency = m.latency ? `${formatNumber(m.latency.p50Us)} / ${formatNumber(m.latency.p99Us)}` : "";
    const baseline = m.baseline
      ? `${formatNumber(m.baseline.value)} ${m.unit} (${m.baseline.name}${m.baseline.latency ? `; ${formatNumber(m.baseline.latency.p50Us)} / ${formatNumber(m.baseline.latency.p99Us)} µs` : ""})`
      : "";
    const target = m.target ? `${m.target.met ? "met" : "**missed**"}: ${m.target.text}` : "";
    lines.push(`| ${m.suite} | ${m.name} | ${formatNumber(m.value)} ${m.unit} | ${latency} | ${baseline} | ${m.ratio?.toFixed(2) ?? ""} | ${target} |`);
  }

  const targeted = list.filter((m) => m.target);
  lines.push("", "### Targets", "");
  for (const m of targeted.filter((item) => item.target!.met)) lines.push(`- met: ${describeTarget(m)}`);
  for (const m of targeted.filter((item) => !item.target!.met)) lines.push(`- **missed**: ${describeTarget(m)}`);

  const notes = list.filter((m) => m.note);
  lines.push("", "### How each figure was taken", "");
  const seen = new Set<string>();
  for (const m of notes) {
    const text = `${m.suite}: ${m.note}`;
    if (seen.has(text)) continue;
    seen.add(text);
    lines.push(`- ${text}`);
  }
  lines.push(RESULTS_END);
  return lines.join("\n");
}

function describeTarget(m: Measurement): string {
  const ratio = m.ratio === undefined ? "" : `, ratio ${m.ratio.toFixed(2)} to ${m.baseline!.name}`;
  return `${m.suite}, ${m.name}: ${formatNumber(m.value)} ${m.unit}${ratio} (target ${m.target!.text})`;
}

/** Replaces the generated section of docs/benchmarks.md and keeps the hand-written text around it. */
function writeReport(list: Measurement[], elapsedS: number): void {
  const generated = renderMarkdown(list, elapsedS);
  const existing = existsSync(REPORT_PATH) ? readFileSync(REPORT_PATH, "utf8") : "";
  const start = existing.indexOf(RESULTS_START);
  const end = existing.indexOf(RESULTS_END);
  if (start >= 0 && end > start) {
    writeFileSync(REPORT_PATH, existing.slice(0, start) + generated + existing.slice(end + RESULTS_END.length));
    return;
  }
  writeFileSync(REPORT_PATH, `# Benchmarks\n\nRun with \`bun run bench\`; the section below is rewritten by each run.\n\n${generated}\n`);
}
