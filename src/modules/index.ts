import { ConfigError } from "../core/errors.ts";
import type { ModuleEntry } from "../config/load.ts";
import type { EngineModule, ModuleEnvironment, ModuleFactory } from "./module.ts";
import { createLogger } from "../telemetry/logger.ts";

export type { EngineContext, EngineModule, ModuleEnvironment, ModuleFactory } from "./module.ts";

/**
 * A module class and how to load its code. Loading waits until a config names
 * the class, so an engine never evaluates the libraries of modules it does not run
 * (BullMQ, the OpenTelemetry SDK, prom-client), which keeps start-up fast.
 */
interface ModuleRegistration {
  className: string;
  load(): Promise<ModuleFactory>;
}

/** Every module class a config file may name, in the order the default set starts them. */
const MODULES: readonly ModuleRegistration[] = [
  { className: "modules::worker::WorkerModule", load: async () => (await import("./worker/index.ts")).workerModuleFactory },
  { className: "modules::telemetry::TelemetryModule", load: async () => (await import("./telemetry/index.ts")).telemetryModuleFactory },
  { className: "modules::api::RestApiModule", load: async () => (await import("./http-api/index.ts")).restApiModuleFactory },
  { className: "modules::stream::StreamModule", load: async () => (await import("./stream/index.ts")).streamModuleFactory },
  { className: "modules::state::StateModule", load: async () => (await import("./state/index.ts")).stateModuleFactory },
  { className: "modules::kv_server::KvServer", load: async () => (await import("./kv-server/index.ts")).kvServerModuleFactory },
  { className: "modules::pubsub::PubSubModule", load: async () => (await import("./pubsub/index.ts")).pubSubModuleFactory },
  { className: "modules::queue::QueueModule", load: async () => (await import("./queue/index.ts")).queueModuleFactory },
  { className: "modules::cron::CronModule", load: async () => (await import("./cron/index.ts")).cronModuleFactory },
  { className: "modules::observability::OtelModule", load: async () => (await import("./observability/index.ts")).otelModuleFactory },
  { className: "modules::shell::ExecModule", load: async () => (await import("./shell/index.ts")).execModuleFactory },
  {
    className: "modules::http_functions::HttpFunctionsModule",
    load: async () => (await import("./http-functions/index.ts")).httpFunctionsModuleFactory,
  },
  {
    className: "modules::bridge_client::BridgeClientModule",
    load: async () => (await import("./bridge-client/index.ts")).bridgeClientModuleFactory,
  },
];

/** Every module class a config file may name. */
export const MODULE_CLASSES: readonly string[] = MODULES.map((module) => module.className);

/** Modules loaded when there is no config file. */
export const DEFAULT_MODULE_CLASSES: readonly string[] = MODULE_CLASSES.slice(0, 10);

/** Modules expected to be listed more than once, because each shell entry runs its own commands. */
const REPEATABLE_MODULE_CLASSES: readonly string[] = ["modules::shell::ExecModule"];

/** Modules added after the configured ones when a config file leaves them out. */
export const MANDATORY_MODULE_CLASSES: readonly string[] = ["modules::worker::WorkerModule", "modules::telemetry::TelemetryModule"];

/** Loads the factory of a module class, or returns undefined for an unknown class. */
export async function findModuleFactory(className: string): Promise<ModuleFactory | undefined> {
  return MODULES.find((module) => module.className === className)?.load();
}

/**
 * Creates the modules a config lists (or the default set for `null`), then the
 * mandatory ones it left out. Throws `ConfigError` for an unknown class or bad config.
 */
export async function createModules(
  entries: ModuleEntry[] | null,
  environment: Omit<ModuleEnvironment, "defaultSet">,
): Promise<EngineModule[]> {
  const defaultEntry = (className: string) => ({ className, config: {}, path: `defaults.${className}`, defaultSet: true });
  const listed = entries?.map((entry) => ({ ...entry, defaultSet: false })) ?? DEFAULT_MODULE_CLASSES.map(defaultEntry);
  const missing = MANDATORY_MODULE_CLASSES.filter((className) => !listed.some((entry) => entry.className === className));
  const all = [...listed, ...missing.map(defaultEntry)];

  // A module listed twice is created twice, as in the reference engine; its later functions replace the earlier ones.
  const firstPaths = new Map<string, string>();
  for (const entry of listed) {
    const first = firstPaths.get(entry.className);
    if (first !== undefined && !REPEATABLE_MODULE_CLASSES.includes(entry.className)) {
      const where = (path: string) => path.replace(/\.config$/, "");
      createLogger("engine").warn(
        `${where(entry.path)}: module '${entry.className}' is also listed at ${where(first)}; both are started, so list it once unless that is intended`,
      );
    }
    if (first === undefined) firstPaths.set(entry.className, entry.path);
  }

  const modules: EngineModule[] = [];
  for (const entry of all) {
    const factory = await findModuleFactory(entry.className);
    if (!factory) {
      const classPath = entry.path.replace(/\.config$/, ".class");
      throw new ConfigError(`${classPath}: unknown module class '${entry.className}'; known classes: ${MODULE_CLASSES.join(", ")}`);
    }
    modules.push(factory.create(entry.config, entry.path, { ...environment, defaultSet: entry.defaultSet }));
  }
  return modules;
}
