import type { Logger } from "../../telemetry/logger.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import { parseExecConfig, type ExecConfig } from "./config.ts";
import { Pipeline } from "./pipeline.ts";
import { FileWatcher } from "./watcher.ts";

export { compileWatchPattern, matchesWatchPattern, type WatchPattern } from "./watcher.ts";
export { Pipeline, TERMINATE_GRACE_MS } from "./pipeline.ts";
export { ProcessGroup } from "./process-group.ts";

export const execModuleFactory: ModuleFactory = {
  className: "modules::shell::ExecModule",
  summary: "runs shell commands at start and restarts them when watched files change",
  create(config, path): EngineModule {
    return new ExecModule(parseExecConfig(config, path));
  },
};

const MAX_PATHS_IN_REASON = 3;

/**
 * Runs the configured commands alongside the engine (typically the workers
 * under development) and restarts them when a file matching a `watch` glob
 * changes. Commands run in the engine's working directory.
 */
class ExecModule implements EngineModule {
  readonly className = execModuleFactory.className;
  readonly #config: ExecConfig;
  #logger: Logger | null = null;
  #pipeline: Pipeline | null = null;
  #watcher: FileWatcher | null = null;
  readonly #killOnExit = () => this.#pipeline?.killNow();

  constructor(config: ExecConfig) {
    this.#config = config;
  }

  /** The running pipeline, or null before start and after stop; for tests and diagnostics. */
  get pipeline(): Pipeline | null {
    return this.#pipeline;
  }

  async start(context: EngineContext): Promise<void> {
    const logger = context.createLogger("exec");
    this.#logger = logger;
    const pipeline = new Pipeline(this.#config.exec, logger);
    this.#pipeline = pipeline;
    // The engine may exit before the SIGKILL grace period ends; nothing may outlive it.
    process.on("exit", this.#killOnExit);
    pipeline.start();

    if (this.#config.watch.length === 0) return;
    this.#watcher = new FileWatcher({
      patterns: this.#config.watch,
      cwd: process.cwd(),
      logger,
      onChange: (paths) => void pipeline.restart(describeChange(paths)),
    });
    this.#watcher.start();
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = null;
    const pipeline = this.#pipeline;
    if (!pipeline) return;

    await pipeline.stop();
    process.off("exit", this.#killOnExit);
    this.#pipeline = null;
    this.#logger?.info("stopped all commands");
  }
}

function describeChange(paths: string[]): string {
  const shown = paths.slice(0, MAX_PATHS_IN_REASON).map((path) => `'${path}'`);
  const more = paths.length > MAX_PATHS_IN_REASON ? ` and ${paths.length - MAX_PATHS_IN_REASON} more` : "";
  return `${shown.join(", ")}${more} changed`;
}
