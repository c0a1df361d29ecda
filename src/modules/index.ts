import { ConfigError } from "../core/errors.ts";
import type { ModuleEntry } from "../config/load.ts";
import { bridgeClientModuleFactory } from "./bridge-client/index.ts";
import { cronModuleFactory } from "./cron/index.ts";
import { restApiModuleFactory } from "./http-api/index.ts";
import { httpFunctionsModuleFactory } from "./http-functions/index.ts";
import { kvServerModuleFactory } from "./kv-server/index.ts";
import type { EngineModule, ModuleEnvironment, ModuleFactory } from "./module.ts";
import { otelModuleFactory } from "./observability/index.ts";
import { pubSubModuleFactory } from "./pubsub/index.ts";
import { queueModuleFactory } from "./queue/index.ts";
import { execModuleFactory } from "./shell/index.ts";
import { stateModuleFactory } from "./state/index.ts";
import { streamModuleFactory } from "./stream/index.ts";
import { telemetryModuleFactory } from "./telemetry/index.ts";
import { workerModuleFactory } from "./worker/index.ts";

export type { EngineContext, EngineModule, ModuleEnvironment, ModuleFactory } from "./module.ts";

/** Every module class a config file may name, in the order the default set starts them. */
export const MODULE_FACTORIES: readonly ModuleFactory[] = [
  workerModuleFactory,
  telemetryModuleFactory,
  restApiModuleFactory,
  streamModuleFactory,
  stateModuleFactory,
  kvServerModuleFactory,
  pubSubModuleFactory,
  queueModuleFactory,
  cronModuleFactory,
  otelModuleFactory,
  execModuleFactory,
  httpFunctionsModuleFactory,
  bridgeClientModuleFactory,
];

/** Modules loaded when there is no config file. */
export const DEFAULT_MODULE_CLASSES: readonly string[] = [
  workerModuleFactory.className,
  telemetryModuleFactory.className,
  restApiModuleFactory.className,
  streamModuleFactory.className,
  stateModuleFactory.className,
  kvServerModuleFactory.className,
  pubSubModuleFactory.className,
  queueModuleFactory.className,
  cronModuleFactory.className,
  otelModuleFactory.className,
];

/** Modules added after the configured ones when a config file leaves them out. */
export const MANDATORY_MODULE_CLASSES: readonly string[] = [workerModuleFactory.className, telemetryModuleFactory.className];

export function findModuleFactory(className: string): ModuleFactory | undefined {
  return MODULE_FACTORIES.find((factory) => factory.className === className);
}

/**
 * Creates the modules a config lists (or the default set for `null`), then the
 * mandatory ones it left out. Throws `ConfigError` for an unknown class or bad config.
 */
export function createModules(entries: ModuleEntry[] | null, environment: Omit<ModuleEnvironment, "defaultSet">): EngineModule[] {
  const defaultEntry = (className: string) => ({ className, config: {}, path: `defaults.${className}`, defaultSet: true });
  const listed = entries?.map((entry) => ({ ...entry, defaultSet: false })) ?? DEFAULT_MODULE_CLASSES.map(defaultEntry);
  const missing = MANDATORY_MODULE_CLASSES.filter((className) => !listed.some((entry) => entry.className === className));
  const all = [...listed, ...missing.map(defaultEntry)];

  return all.map((entry) => {
    const factory = findModuleFactory(entry.className);
    if (!factory) {
      const classPath = entry.path.replace(/\.config$/, ".class");
      const known = MODULE_FACTORIES.map((candidate) => candidate.className).join(", ");
      throw new ConfigError(`${classPath}: unknown module class '${entry.className}'; known classes: ${known}`);
    }
    return factory.create(entry.config, entry.path, { ...environment, defaultSet: entry.defaultSet });
  });
}
