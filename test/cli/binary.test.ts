import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { BINARY, buildBinary, EngineProcess } from "../support/binary.ts";
import { waitFor } from "../support/engine.ts";
import { RawWorker } from "../support/raw-worker.ts";
import { connectSdk, SDK_VERSIONS, waitForRoute } from "../support/sdk.ts";

const workDirs: string[] = [];

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "iii-cli-"));
  workDirs.push(dir);
  return dir;
}

async function runToExit(args: string[], cwd: string, env: Record<string, string> = {}) {
  const child = Bun.spawn([BINARY, ...args], { cwd, env: { ...process.env, NO_COLOR: "1", ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { stdout, stderr, code };
}

beforeAll(async () => {
  await buildBinary();
}, 120_000);

afterAll(() => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

describe("iii binary", () => {
  test("--version prints the package version", async () => {
    const result = await runToExit(["--version"], workDir());
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(packageJson.version);
  });

  test("--help lists the options", async () => {
    const result = await runToExit(["--help"], workDir());
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("--config");
    expect(result.stdout).toContain("--log-level");
    expect(result.stdout).toContain("III_DATA_DIR");
    expect(result.stdout.split("\n").filter((line) => line !== line.trimEnd())).toEqual([]);
  });

  test("starts without a config, serves the quick start and stops on SIGTERM", async () => {
    const engine = new EngineProcess([], { cwd: workDir() });
    await engine.waitForOutput(/accepting workers at ws:\/\/127\.0\.0\.1:49134/);
    const init = SDK_VERSIONS[0][1];
    const iii = connectSdk(init, "ws://127.0.0.1:49134");
    try {
      iii.registerFunction({ id: "math.add" }, async (req: any) => ({ sum: req.body.a + req.body.b }));
      iii.registerTrigger({ type: "http", function_id: "math.add", config: { api_path: "add", http_method: "POST" } });
      const response = await waitForRoute("http://127.0.0.1:3111/add", { method: "POST", body: '{"a":2,"b":3}' });
      expect(await response.json()).toEqual({ sum: 5 });
    } finally {
      await iii.shutdown();
      engine.process.kill("SIGTERM");
    }
    const started = Date.now();
    expect(await engine.process.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 30_000);

  test("starts from a config file on free ports", async () => {
    const dir = workDir();
    writeFileSync(join(dir, "config.yaml"), "port: 0\nmodules:\n  - class: modules::api::RestApiModule\n    config: { port: 0 }\n");
    const engine = new EngineProcess([], { cwd: dir });
    const [, port] = await engine.waitForOutput(/accepting workers at ws:\/\/127\.0\.0\.1:(\d+)/);
    expect(Number(port)).toBeGreaterThan(0);
    engine.process.kill("SIGINT");
    expect(await engine.process.exited).toBe(0);
  });
  test("exports spans over OTLP", async () => {
    // The OTLP exporter comes from packages with two builds each; the bundle must not mix them.
    const paths: string[] = [];
    using receiver = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        paths.push(new URL(request.url).pathname);
        return Response.json({});
      },
    });
    const dir = workDir();
    writeFileSync(
      join(dir, "config.yaml"),
      `port: 0\nmodules:\n  - class: modules::observability::OtelModule\n    config: { enabled: true, exporter: otlp, endpoint: "http://127.0.0.1:${receiver.port}", prometheus: { port: 0 } }\n`,
    );
    const engine = new EngineProcess([], { cwd: dir });
    try {
      const [, port] = await engine.waitForOutput(/accepting workers at ws:\/\/127\.0\.0\.1:(\d+)/);
      using worker = await RawWorker.connect(`ws://127.0.0.1:${port}`);
      await worker.call("engine::health::check", {});

      await waitFor("a trace export", () => (paths.includes("/v1/traces") ? true : undefined), 10_000);
    } finally {
      engine.process.kill("SIGTERM");
      await engine.process.exited;
    }
  });
});

describe("iii signals", () => {
  test("signals during start-up still exit 0", async () => {
    const dir = workDir();
    writeFileSync(join(dir, "config.yaml"), "port: 0\nmodules:\n  - class: modules::api::RestApiModule\n    config: { port: 0 }\n");
    for (const [signal, delayMs] of [["SIGINT", 0], ["SIGTERM", 0], ["SIGINT", 2], ["SIGTERM", 5]] as const) {
      const engine = new EngineProcess([], { cwd: dir });
      // The signal handlers exist from the line that names the config file on.
      await engine.waitForOutput(/loaded config from/);
      if (delayMs > 0) await Bun.sleep(delayMs);
      engine.process.kill(signal);
      expect(await engine.process.exited).toBe(0);
    }
  });

  test("a signal right after the listener is up exits 0", async () => {
    const dir = workDir();
    writeFileSync(join(dir, "config.yaml"), "port: 0\nmodules:\n  - class: modules::api::RestApiModule\n    config: { port: 0 }\n");
    for (const signal of ["SIGINT", "SIGTERM", "SIGINT"] as const) {
      const engine = new EngineProcess([], { cwd: dir });
      await engine.waitForOutput(/accepting workers/);
      engine.process.kill(signal);
      expect(await engine.process.exited).toBe(0);
    }
  });
});

describe("iii log output", () => {
  test("survives its stdout reader exiting", async () => {
    const dir = workDir();
    writeFileSync(join(dir, "config.yaml"), "port: 0\nmodules:\n  - class: modules::api::RestApiModule\n    config: { port: 0 }\n");
    const engine = Bun.spawn([BINARY], { cwd: dir, env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "ignore" });
    try {
      const reader = engine.stdout.getReader();
      let output = "";
      while (!/accepting workers at ws:\/\/127\.0\.0\.1:\d+/.test(output)) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`engine output ended early:\n${output}`);
        output += new TextDecoder().decode(chunk.value);
      }
      const port = output.match(/accepting workers at ws:\/\/127\.0\.0\.1:(\d+)/)![1];
      await reader.cancel();

      // Each connection logs a line, which now goes to a closed pipe.
      for (let attempt = 0; attempt < 3; attempt++) {
        using worker = await RawWorker.connect(`ws://127.0.0.1:${port}`);
        const reply = await worker.call("engine::functions::list", {});
        expect(reply.error).toBeUndefined();
      }
      expect(engine.exitCode).toBeNull();
    } finally {
      engine.kill("SIGTERM");
      await engine.exited;
    }
  });

  test("json lines carry formatted messages", async () => {
    const dir = workDir();
    const dataDir = join(dir, "data");
    writeFileSync(join(dir, "config.yaml"), "port: 0\nmodules:\n  - class: modules::kv_server::KvServer\n    config: { store_method: file_based }\n");
    const engine = new EngineProcess(["--log-format", "json"], { cwd: dir, env: { III_DATA_DIR: dataDir } });
    try {
      await engine.waitForOutput(/accepting workers/);

      const lines = engine.output.trim().split("\n").map((line) => JSON.parse(line) as { message: string });
      expect(lines.some((line) => line.message.includes(dataDir))).toBe(true);
      expect(lines.filter((line) => /%[sdj]/.test(line.message))).toEqual([]);
    } finally {
      engine.process.kill("SIGTERM");
      await engine.process.exited;
    }
  });
});

describe("iii start-up errors", () => {
  const cases: Array<[string, string, RegExp, Record<string, string>?]> = [
    ["invalid yaml", "port: 1\nmodules: [\n  - a\n", /^iii: config\.yaml:3: invalid YAML: /],
    ["unknown module class", "modules:\n  - class: modules::nope::Nope\n", /unknown module class 'modules::nope::Nope'; known classes: /],
    ["unset variable", "port: ${III_TEST_UNSET_PORT}\n", /environment variable 'III_TEST_UNSET_PORT' is not set/],
    ["top-level key of the wrong type", "port: abc\n", /^iii: config\.yaml: port: expected an integer/],
    ["wrong key type", "modules:\n  - class: modules::api::RestApiModule\n    config: { port: high }\n", /modules\[0\]\.config\.port: expected an integer/],
    ["unknown strict key", "modules:\n  - class: modules::api::RestApiModule\n    config: { prot: 1 }\n", /modules\[0\]\.config\.prot: unknown key 'prot'/],
  ];

  for (const [name, yaml, expected] of cases) {
    test(`${name} exits 1 with one line`, async () => {
      const dir = workDir();
      writeFileSync(join(dir, "config.yaml"), yaml);
      const result = await runToExit([], dir);
      expect(result.code).toBe(1);
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(expected);
    });
  }

  test("--debug adds the stack trace", async () => {
    const dir = workDir();
    writeFileSync(join(dir, "config.yaml"), "port: nope\n");
    const result = await runToExit(["--debug"], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("    at ");
  });

  test("missing explicit config file exits 1", async () => {
    const result = await runToExit(["-c", "missing.yaml"], workDir());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("config file 'missing.yaml' not found");
  });

  test("config path that is a directory exits 1", async () => {
    const dir = workDir();
    const result = await runToExit(["-c", "."], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("config path '.' is not a regular file");
  });

  test("bad III_LOG_LEVEL names the variable", async () => {
    const result = await runToExit([], workDir(), { III_LOG_LEVEL: "loud" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("log level 'loud' from III_LOG_LEVEL is not valid");
  });

  const argumentCases: Array<[string[], string]> = [
    [["--confg", "prod.yaml"], "unknown option '--confg'"],
    [["extra"], "unexpected argument 'extra'"],
    [["-c"], "option '-c' needs a value"],
  ];
  for (const [args, expected] of argumentCases) {
    test(`rejects ${args.join(" ")}`, async () => {
      const result = await runToExit(args, workDir());
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toContain(expected);
    });
  }

  test("module config errors name the file", async () => {
    const dir = workDir();
    writeFileSync(join(dir, "config.yaml"), "modules:\n  - class: modules::api::RestApiModule\n    config: { prot: 1 }\n");
    const result = await runToExit([], dir);
    expect(result.stderr.trim()).toStartWith("iii: config.yaml: modules[0].config.prot: unknown key 'prot'");
  });

  test("two listeners on one port name both", async () => {
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const port = probe.port;
    probe.stop(true);
    const dir = workDir();
    writeFileSync(join(dir, "config.yaml"), `port: ${port}\nmodules:\n  - class: modules::api::RestApiModule\n    config: { port: ${port} }\n`);

    const result = await runToExit([], dir);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`listener of this engine already uses port ${port}`);
  });

  test("host that is not local is named", async () => {
    const dir = workDir();
    writeFileSync(join(dir, "config.yaml"), "port: 0\nhost: 192.0.2.1\n");

    const result = await runToExit([], dir);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("'192.0.2.1' is not an address of this machine");
  });

  test("port in use names the address and the process", async () => {
    const blocker = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("busy") });
    try {
      const dir = workDir();
      writeFileSync(join(dir, "config.yaml"), `port: ${blocker.port}\n`);
      const result = await runToExit([], dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${blocker.port}`);
      expect(result.stderr).toContain(`pid ${process.pid}`);
    } finally {
      blocker.stop(true);
    }
  });
});
