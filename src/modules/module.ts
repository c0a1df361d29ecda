import type { EngineModule } from "../core/context.ts";

export type { EngineContext, EngineModule } from "../core/context.ts";

/** What a module factory gets besides its own config. */
export interface ModuleEnvironment {
  /** Folder for file-backed stores. */
  dataDir: string;
  env: Record<string, string | undefined>;
  /** True for the modules loaded because there is no config file; their stores then default to files under `dataDir`. */
  defaultSet: boolean;
}

/**
 * Builds a module from its `config` block. `create` validates the config and
 * throws `ConfigError` with the YAML path (`path` is where `config` sits, such as
 * `modules[2].config`); it must not open sockets or files, which `start` does.
 */
export interface ModuleFactory {
  readonly className: string;
  readonly summary: string;
  create(config: unknown, path: string, environment: ModuleEnvironment): EngineModule;
}
