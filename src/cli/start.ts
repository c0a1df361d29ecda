import { resolve } from "node:path";
import type { EngineConfig } from "../config/load.ts";
import { createTokenGuard, parseAuthConfig } from "../core/auth.ts";
import { Engine } from "../core/engine.ts";
import { createModules } from "../modules/index.ts";
import { createLogger } from "../telemetry/logger.ts";
import { ENGINE_VERSION } from "../version.ts";

/** Builds an engine from a loaded config: modules are created (and their config checked) before anything binds. */
export async function createEngine(config: EngineConfig, env: Record<string, string | undefined>): Promise<Engine> {
  const logger = createLogger("engine");
  for (const key of config.unknownKeys) {
    logger.warn(`config key '${key}' is not known at the top level and is ignored`);
  }

  const dataDir = resolve(env.III_DATA_DIR || "data");
  const auth = parseAuthConfig(config.auth, env);
  const modules = await createModules(config.modules, { dataDir, env });
  const upgradeGuard = auth ? createTokenGuard(auth, createLogger("auth")) : undefined;
  if (auth) logger.info(`worker authentication is on with ${auth.tokens.length} accepted tokens`);
  return new Engine({ config, modules, version: ENGINE_VERSION, dataDir, upgradeGuard });
}

/** Stops whatever is running when SIGINT or SIGTERM arrives; created before anything starts. */
export interface ShutdownOnSignals {
  /** Hands over the engine; a signal that came during `started` stops it once start-up settles. */
  attach(engine: Engine, started: Promise<void>): void;
}

/**
 * Installs SIGINT and SIGTERM handlers at once. Before an engine is attached a
 * signal exits 0 right away, since nothing is running yet. Afterwards it stops
 * the engine and exits 0, or exits 1 if stopping takes longer than `deadlineMs`,
 * so a hung module cannot block shutdown.
 */
export function shutdownOnSignals(deadlineMs = 5_000): ShutdownOnSignals {
  const logger = createLogger("engine");
  let running: { engine: Engine; started: Promise<void> } | null = null;
  let stopping = false;

  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (!running) {
      logger.info(`received ${signal} before start-up; exiting`);
      process.exit(0);
    }
    logger.info(`received ${signal}; shutting down`);
    const deadline = setTimeout(() => {
      logger.error(`shutdown took longer than ${deadlineMs} ms; exiting anyway`);
      process.exit(1);
    }, deadlineMs);
    const { engine, started } = running;
    started
      .catch(() => undefined)
      .then(() => engine.stop())
      .then(() => {
        clearTimeout(deadline);
        logger.info("engine stopped");
        process.exit(0);
      })
      .catch((error) => {
        logger.error("shutdown failed", error);
        process.exit(1);
      });
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  return {
    attach(engine, started) {
      running = { engine, started };
    },
  };
}
