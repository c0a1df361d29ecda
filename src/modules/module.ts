import type { EngineModule } from "../core/context.ts";

export type { EngineContext, EngineModule } from "../core/context.ts";

/** Settings a module factory receives besides its own config block. */
export interface ModuleEnvironment {
  /** Folder for file-backed stores. */
  dataDir: string;
  env: Record<string, string | undefined>;
  /** True for the modules loaded because there is no config file; their stores then default to files under `dataDir`. */
  defaultSet: boolean;
}

/**
 * Factory that builds a module from its `config` block. `create` validates the
 * config and throws `ConfigError` with the YAML path, where `path` locates the
 * block (such as `modules[2].config`). It opens no sockets or files, because
 * `start` does that.
 */
export interface ModuleFactory {
  readonly className: string;
  readonly summary: string;
  create(config: unknown, path: string, environment: ModuleEnvironment): EngineModule;
}
