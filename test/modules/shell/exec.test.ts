import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../../src/core/errors.ts";
import { execModuleFactory, Pipeline } from "../../../src/modules/shell/index.ts";
import { createLogger } from "../../../src/telemetry/logger.ts";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";

const environment = { dataDir: "/tmp/unused", env: {}, defaultSet: false };
const logger = createLogger("exec-test");
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "iii-exec-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function readPids(file: string): number[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function readPairs(file: string): Array<[number, number]> {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(" ").map(Number) as [number, number]);
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `kill(pid, 0)` fails for every pid; orphans count until init reaps them, which can take 2 s. */
async function waitUntilDead(pids: number[]): Promise<void> {
  await waitFor(`processes ${pids.join(", ")} to exit`, () => (pids.some(isAlive) ? undefined : true), 6_000);
}

/** Builds a command whose shell records its own pid, starts a grandchild that records its pid, and waits. */
function parentAndChildCommand(dir: string): string {
  return `echo $$ >> ${dir}/leaders; sleep 300 & echo $! >> ${dir}/children; wait`;
}

describe("ExecModule config", () => {
  test("rejects a config without exec", () => {
    expect(() => execModuleFactory.create({ watch: ["src/*.ts"] }, "modules[4].config", environment)).toThrow(ConfigError);
    expect(() => execModuleFactory.create(undefined, "modules[4].config", environment)).toThrow("modules[4].config.exec: missing");
  });

  test("rejects unknown keys and empty lists", () => {
    expect(() => execModuleFactory.create({ exec: ["true"], cmd: "x" }, "m.config", environment)).toThrow("m.config.cmd: unknown key 'cmd'");
    expect(() => execModuleFactory.create({ exec: [] }, "m.config", environment)).toThrow("m.config.exec: the list is empty");
    expect(() => execModuleFactory.create({ exec: "bun run dev" }, "m.config", environment)).toThrow("m.config.exec: expected a list");
  });
});

describe("ExecModule", () => {
  let engine: TestEngine | null = null;
  afterEach(async () => {
    await engine?.stop();
    engine = null;
  });

  test("restarts the process group once per save and kills it on shutdown", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "src", "deep"), { recursive: true });
    const config = {
      exec: [`test -d ${dir}`, parentAndChildCommand(dir)],
      watch: [`${dir}/src/**/*.{ts,js}`],
    };
    engine = await startEngine(`
modules:
  - class: modules::shell::ExecModule
    config: ${JSON.stringify(config)}
`);

    const leaders = join(dir, "leaders");
    const children = join(dir, "children");
    await waitFor("the first run to start", () => (readPids(children).length === 1 ? true : undefined));
    const [firstLeader] = readPids(leaders);
    const [firstChild] = readPids(children);

    // A file that does not match the glob changes nothing.
    writeFileSync(join(dir, "src", "notes.md"), "x");
    await Bun.sleep(500);
    expect(readPids(leaders)).toHaveLength(1);

    writeFileSync(join(dir, "src", "a.ts"), "export {}");
    writeFileSync(join(dir, "src", "deep", "b.js"), "export {}");
    await waitFor("the second run to start", () => (readPids(children).length === 2 ? true : undefined));
    await waitUntilDead([firstLeader!, firstChild!]);

    // Both files were written within the debounce window, so there is no third run.
    await Bun.sleep(500);
    expect(readPids(leaders)).toHaveLength(2);

    const [, secondLeader] = readPids(leaders);
    const [, secondChild] = readPids(children);
    expect(isAlive(secondLeader!)).toBe(true);
    expect(isAlive(secondChild!)).toBe(true);

    await engine.stop();
    engine = null;
    await waitUntilDead([secondLeader!, secondChild!]);
  }, 20_000);
});

describe("Pipeline", () => {
  test("skips later commands after a failure", async () => {
    const dir = tempDir();
    const pipeline = new Pipeline(["exit 3", `touch ${dir}/marker`], logger);
    cleanups.push(() => pipeline.stop());
    pipeline.start();

    const first = await waitFor("the first command", () => pipeline.groups[0]);
    expect(await first.exited).toEqual({ code: 3, signal: null });
    await Bun.sleep(50);
    expect(pipeline.groups).toHaveLength(1);
  });

  test("kills a group that ignores SIGTERM", async () => {
    const dir = tempDir();
    const pipeline = new Pipeline([`trap '' TERM; ${parentAndChildCommand(dir)}`], logger, { graceMs: 200 });
    pipeline.start();
    await waitFor("the command to start", () => (readPids(join(dir, "children")).length === 1 ? true : undefined));
    const pids = [...readPids(join(dir, "leaders")), ...readPids(join(dir, "children"))];

    await pipeline.stop();
    await waitUntilDead(pids);
    await pipeline.stop();
  }, 10_000);

  test("restarts run one after another", async () => {
    const dir = tempDir();
    const pairs = join(dir, "pairs");
    // Each run records "<shell pid> <grandchild pid>" on one line, or nothing when it is killed at once.
    const pipeline = new Pipeline([`sleep 300 & echo "$$ $!" >> ${pairs}; wait`], logger);
    cleanups.push(() => pipeline.stop());
    pipeline.start();
    await waitFor("the first run", () => (readPairs(pairs).length === 1 ? true : undefined));

    await Promise.all([pipeline.restart("first"), pipeline.restart("second")]);
    expect(pipeline.groups).toHaveLength(1);
    const current = pipeline.groups[0]!.pid;

    const [, currentChild] = await waitFor("the last run to record its pids", () => readPairs(pairs).find(([leader]) => leader === current));
    expect(isAlive(current)).toBe(true);
    expect(isAlive(currentChild!)).toBe(true);

    const stale = readPairs(pairs).filter(([leader]) => leader !== current).flat();
    expect(stale.length).toBeGreaterThanOrEqual(2);
    await waitUntilDead(stale);
  }, 10_000);
});
