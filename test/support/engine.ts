import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load.ts";
import { createEngine } from "../../src/cli/start.ts";
import type { Engine } from "../../src/core/engine.ts";
import { configureLogging, isLogLevelName } from "../../src/telemetry/logger.ts";

configureLogging({ level: isLogLevelName(process.env.TEST_LOG_LEVEL) ? process.env.TEST_LOG_LEVEL : "error" });

/** A started in-process engine with its ports and a temp data dir; `stop` also removes the data dir. */
export interface TestEngine {
  engine: Engine;
  workerUrl: string;
  httpUrl: string | null;
  dataDir: string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts an engine from YAML text on 127.0.0.1. Every `port:` left out or set to
 * 0 binds a free port; the bound worker and HTTP ports are read back.
 */
export async function startEngine(yaml: string, options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<TestEngine> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "iii-test-"));
  const ownsDataDir = options.dataDir === undefined;
  const env = { ...process.env, III_DATA_DIR: dataDir, ...options.env };
  const config = parseConfigText(yaml, "test-config.yaml", env);
  const engine = await createEngine({ ...config, port: config.port === 49134 ? 0 : config.port }, env);
  await engine.start();

  const httpPort = findHttpPort(engine);
  const stop = async () => {
    await engine.stop();
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    engine,
    workerUrl: `ws://127.0.0.1:${engine.port}`,
    httpUrl: httpPort ? `http://127.0.0.1:${httpPort}` : null,
    dataDir,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** The HTTP API module's bound port, or null when the module is not loaded. */
function findHttpPort(engine: Engine): number | null {
  for (const module of engine.modules) {
    const port = (module as { className: string; port?: number }).port;
    if (module.className === "modules::api::RestApiModule" && port) return port;
  }
  return null;
}

/** YAML for an engine with only the HTTP module, on free ports. */
export const HTTP_ONLY_CONFIG = `
port: 0
modules:
  - class: modules::api::RestApiModule
    config:
      port: 0
`;

/** Polls `check` until it returns a value other than undefined, failing with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}
