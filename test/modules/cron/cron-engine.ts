import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parseConfigText } from "../../../src/config/load.ts";
import { Engine } from "../../../src/core/engine.ts";
import type { JsonValue } from "../../../src/util/json.ts";
import { CronModule, parseCronConfig, type CronClock } from "../../../src/modules/cron/index.ts";
import { configureLogging, isLogLevelName } from "../../../src/telemetry/logger.ts";

configureLogging({ level: isLogLevelName(process.env.TEST_LOG_LEVEL) ? process.env.TEST_LOG_LEVEL : "error" });

/** An in-process engine whose only module is a cron module on the given clock. */
export interface CronEngine {
  engine: Engine;
  cron: CronModule;
  /** Adds a cron trigger as a module would; rejects like a worker registration does. */
  addTrigger(id: string, functionId: string, config: JsonValue): Promise<void>;
  removeTrigger(id: string): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts an engine with a cron module on `clock`. `adapter` is the module's
 * `adapter` block; the default keeps locks in memory under an index of its own.
 */
export async function startCronEngine(clock: CronClock, adapter?: JsonValue): Promise<CronEngine> {
  const dataDir = mkdtempSync(join(tmpdir(), "iii-cron-test-"));
  const adapterBlock = adapter ?? {
    class: "modules::cron::KvCronAdapter",
    config: { lock_index: `cron_locks_${crypto.randomUUID()}` },
  };
  const config = parseCronConfig({ adapter: adapterBlock }, "modules[0].config", {
    dataDir,
    logger: { warn() {}, info() {}, debug() {} },
  });
  const cron = new CronModule(config, { clock });
  const engineConfig = parseConfigText("port: 0\nmodules: []\n", "cron-test.yaml", {});
  const engine = new Engine({ config: engineConfig, modules: [cron], version: "test", dataDir });
  await engine.start();

  const stop = async () => {
    await engine.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    engine,
    cron,
    addTrigger: (id, functionId, triggerConfig) =>
      engine.triggers.register({ id, trigger_type: "cron", function_id: functionId, config: triggerConfig, worker_id: null }),
    removeTrigger: async (id) => {
      await engine.triggers.unregister(id);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** A promise with its resolve function, for handlers the test finishes by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}
