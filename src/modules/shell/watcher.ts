import { Glob } from "bun";
import { existsSync, watch, type FSWatcher } from "node:fs";
import { isAbsolute, join, normalize, relative, resolve } from "node:path";
import type { Logger } from "../../telemetry/logger.ts";

/** Quiet time after the last change before a restart, so one save of several files restarts once. */
export const WATCH_DEBOUNCE_MS = 200;

/** A watch glob split into the directory to watch and the glob that changed paths must match. */
export interface WatchPattern {
  pattern: string;
  /** Leading directories of the pattern that contain no glob characters (`.` when there are none). */
  root: string;
  /** True when matches can lie below the root's direct children. */
  recursive: boolean;
  glob: Glob;
}

const GLOB_CHARS = /[*?[\]{}]/;

/**
 * Splits a glob into its static root and the rest. `config/*.json` watches
 * `config` alone, `*.ts` watches `.`, and `src/**` followed by a file glob
 * watches `src` recursively.
 */
export function compileWatchPattern(pattern: string): WatchPattern {
  const cleaned = stripDotSlash(pattern);
  const segments = cleaned.split("/");
  const firstGlob = segments.findIndex((segment) => GLOB_CHARS.test(segment));
  const staticCount = firstGlob === -1 ? segments.length - 1 : firstGlob;
  let root = segments.slice(0, staticCount).join("/");
  if (root === "") root = cleaned.startsWith("/") ? "/" : ".";
  const rest = segments.slice(staticCount);
  return {
    pattern: cleaned,
    root,
    recursive: rest.length > 1 || rest.some((segment) => segment.includes("**")),
    glob: new Glob(cleaned),
  };
}

/** Tells whether `path` (relative to the working directory, or absolute) matches the pattern. */
export function matchesWatchPattern(watchPattern: WatchPattern, path: string): boolean {
  return watchPattern.glob.match(stripDotSlash(normalize(path)));
}

/**
 * Watches the roots of a set of globs and reports matching changed paths,
 * batched: `onChange` runs once `WATCH_DEBOUNCE_MS` after the last matching event.
 */
export class FileWatcher {
  readonly #patterns: WatchPattern[];
  readonly #cwd: string;
  readonly #logger: Logger;
  readonly #onChange: (paths: string[]) => void;
  readonly #debounceMs: number;
  readonly #watchers: FSWatcher[] = [];
  readonly #pending = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: {
    patterns: readonly string[];
    cwd: string;
    logger: Logger;
    onChange: (paths: string[]) => void;
    debounceMs?: number;
  }) {
    this.#patterns = options.patterns.map(compileWatchPattern);
    this.#cwd = options.cwd;
    this.#logger = options.logger;
    this.#onChange = options.onChange;
    this.#debounceMs = options.debounceMs ?? WATCH_DEBOUNCE_MS;
  }

  start(): void {
    for (const watchPattern of this.#patterns) this.#watch(watchPattern);
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending.clear();
    for (const watcher of this.#watchers.splice(0)) watcher.close();
  }

  #watch(watchPattern: WatchPattern): void {
    const directory = resolve(this.#cwd, watchPattern.root);
    if (!existsSync(directory)) {
      // NOTE: a root created after start-up is not picked up; restart the engine to watch it
      this.#logger.warn(`cannot watch '${watchPattern.pattern}': directory '${watchPattern.root}' does not exist`);
      return;
    }
    try {
      const watcher = watch(directory, { recursive: watchPattern.recursive }, (_event, filename) => {
        if (typeof filename !== "string") return;
        this.#onEvent(watchPattern, join(watchPattern.root, filename));
      });
      watcher.on("error", (error) => this.#logger.warn(`watching '${watchPattern.root}' failed; changes there no longer restart`, error));
      this.#watchers.push(watcher);
      this.#logger.info(`watching '${watchPattern.pattern}' under '${watchPattern.root}'${watchPattern.recursive ? " recursively" : ""}`);
    } catch (error) {
      this.#logger.warn(`cannot watch '${watchPattern.pattern}' under '${watchPattern.root}'`, error);
    }
  }

  #onEvent(watchPattern: WatchPattern, path: string): void {
    // Relative patterns match paths relative to the working directory, absolute ones absolute paths.
    const candidate = isAbsolute(watchPattern.pattern) ? resolve(this.#cwd, path) : relative(this.#cwd, resolve(this.#cwd, path));
    if (!matchesWatchPattern(watchPattern, candidate)) return;

    this.#logger.debug(`'${candidate}' changed`);
    this.#pending.add(candidate);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#flush(), this.#debounceMs);
  }

  #flush(): void {
    this.#timer = null;
    const paths = [...this.#pending];
    this.#pending.clear();
    if (paths.length > 0) this.#onChange(paths);
  }
}

function stripDotSlash(path: string): string {
  let result = path;
  while (result.startsWith("./")) result = result.slice(2);
  return result;
}
