import fs from "node:fs";
import path from "node:path";

import { EngineError, ErrorCode } from "../core/errors";
import type { JsonValue } from "../util/json";
import { removeObsoleteFiles } from "./data-dir";
import { acquireDirectoryLock, type DirectoryLock } from "./dir-lock";
import { applyEntry, type IndexMap } from "./index-map";
import { SILENT_LOGGER, type KvStoreLogger, type KvStoreOptions } from "./kv-store-options";
import { loadDataDir } from "./load";
import { encodeLine, type EntryRecord } from "./log-format";
import { LogWriter } from "./log-writer";
import { writeSnapshot, type SnapshotEntries } from "./snapshot";
import { applyUpdateOps, type UpdateOp, type UpdateResult } from "./update-ops";

export const DEFAULT_COMPACTION_MIN_BYTES = 8 * 1024 * 1024;

// A log this many times the size of the last snapshot contains mostly
// overwritten values. Compacting at this ratio keeps the total compaction
// work proportional to the bytes written.
const COMPACTION_SIZE_RATIO = 4;

interface Persistence {
  dir: string;
  lock: DirectoryLock;
  writer: LogWriter;
  snapshotBytes: number;
  compactionMinBytes: number;
  /** Damaged files to set aside, not delete, once a snapshot replaces them. */
  damagedFiles: Set<string>;
  timer: ReturnType<typeof setInterval> | undefined;
}

/**
 * An embedded store of JSON values: `index -> key -> value`, keys in insertion
 * order. Reads are synchronous. With `file_based`, each write is appended to
 * a log before it returns, the log is fsynced at least every `saveIntervalMs`
 * (every write when 0) and compacted in the background. Stored values are
 * shared, not copied: callers must not mutate a value after `set` or `get`.
 */
export class KvStore {
  readonly #data: IndexMap;
  readonly #logger: KvStoreLogger;
  readonly #saveIntervalMs: number;
  readonly #persistence: Persistence | undefined;
  #compaction: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(data: IndexMap, options: KvStoreOptions, persistence: Persistence | undefined) {
    this.#data = data;
    this.#logger = options.logger ?? SILENT_LOGGER;
    this.#saveIntervalMs = options.saveIntervalMs;
    this.#persistence = persistence;
  }

  /**
   * Opens a store. For `file_based`, creates the directory if missing, locks it
   * against other stores and processes, and loads its snapshot and log. A torn
   * or damaged record is skipped with a warning; a locked directory throws
   * `backend_unavailable` naming the directory and the pid holding it.
   */
  static async open(options: KvStoreOptions): Promise<KvStore> {
    if (options.method === "in_memory") return new KvStore(new Map(), options, undefined);

    const logger = options.logger ?? SILENT_LOGGER;
    const dir = path.resolve(options.filePath);
    fs.mkdirSync(dir, { recursive: true });
    const lock = acquireDirectoryLock(dir);

    try {
      const loaded = loadDataDir(dir, logger);
      const persistence: Persistence = {
        dir,
        lock,
        writer: LogWriter.open(dir, loaded.logGeneration, loaded.logValidBytes),
        snapshotBytes: loaded.snapshotBytes,
        compactionMinBytes: options.compactionMinBytes ?? DEFAULT_COMPACTION_MIN_BYTES,
        damagedFiles: loaded.damagedFiles,
        timer: undefined,
      };
      const store = new KvStore(loaded.data, options, persistence);

      if (loaded.damagedFiles.size > 0) await store.compact();
      store.#startSyncTimer();
      logger.info("kv store opened '%s' with %d indexes", dir, loaded.data.size);
      return store;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  get(index: string, key: string): JsonValue | undefined {
    return this.#data.get(index)?.get(key);
  }

  /** Stores `value`; `oldValue` is null when the key was missing. */
  set(index: string, key: string, value: JsonValue): { oldValue: JsonValue | null } {
    const oldValue = this.get(index, key) ?? null;
    this.#write({ op: "set", index, key, value });
    return { oldValue };
  }

  /** Removes a key and returns its previous value; a missing key writes nothing. */
  delete(index: string, key: string): JsonValue | undefined {
    const oldValue = this.get(index, key);
    if (oldValue === undefined) return undefined;

    this.#write({ op: "delete", index, key });
    return oldValue;
  }

  /**
   * Applies `ops` atomically to one item (a missing item starts as `{}`) and
   * stores the result, even when nothing changed.
   */
  update(index: string, key: string, ops: readonly UpdateOp[]): UpdateResult {
    const result = applyUpdateOps(this.get(index, key), ops, (reason) =>
      this.#logger.warn("update of '%s' in index '%s': %s", key, index, reason),
    );

    this.#write({ op: "set", index, key, value: result.newValue });
    return result;
  }

  /** Values of an index in insertion order; empty for a missing index. */
  list(index: string): JsonValue[] {
    return Array.from(this.#data.get(index)?.values() ?? []);
  }

  entries(index: string): Array<[string, JsonValue]> {
    return Array.from(this.#data.get(index)?.entries() ?? []);
  }

  keys(index: string): string[] {
    return Array.from(this.#data.get(index)?.keys() ?? []);
  }

  /** Names of indexes holding at least one key, sorted ascending by code unit. */
  indexes(prefix = ""): string[] {
    return Array.from(this.#data.keys())
      .filter((name) => name.startsWith(prefix))
      .sort();
  }

  size(index: string): number {
    return this.#data.get(index)?.size ?? 0;
  }

  /** Fsyncs every write made so far; resolves at once for an in-memory store. */
  async flush(): Promise<void> {
    await this.#persistence?.writer.sync();
  }

  /**
   * Rewrites the live data as a snapshot and starts a new log; writes go on
   * meanwhile. Resolves when done. Failures are logged and the old files kept.
   */
  compact(): Promise<void> {
    const persistence = this.#persistence;
    if (persistence === undefined || this.#closing) return Promise.resolve();

    const previous = this.#compaction ?? Promise.resolve();
    const next = previous.then(() => this.#runCompaction(persistence));
    this.#compaction = next;
    void next.finally(() => {
      if (this.#compaction === next) this.#compaction = undefined;
    });
    return next;
  }

  /** Waits for a running compaction, fsyncs, closes the log and releases the lock; safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  #write(entry: EntryRecord): void {
    if (this.#closing) {
      const where = this.#persistence ? ` '${this.#persistence.dir}'` : "";
      throw new EngineError(ErrorCode.backendUnavailable, `kv store${where} is closed; open it again to write`);
    }

    if (entry.op === "set" && entry.value === undefined) {
      throw new EngineError(
        ErrorCode.serializationError,
        `value for key '${entry.key}' in index '${entry.index}' is undefined; store null instead`,
      );
    }

    const persistence = this.#persistence;
    if (persistence !== undefined) {
      persistence.writer.append(encodeEntry(entry));
      if (this.#saveIntervalMs === 0) persistence.writer.syncNow();
    }

    applyEntry(this.#data, entry);
    if (persistence !== undefined && this.#needsCompaction(persistence)) {
      this.compact().catch((error: unknown) => this.#logger.warn("kv store compaction failed", error));
    }
  }

  #needsCompaction(persistence: Persistence): boolean {
    if (this.#compaction !== undefined) return false;

    const threshold = Math.max(persistence.compactionMinBytes, COMPACTION_SIZE_RATIO * persistence.snapshotBytes);
    return persistence.writer.bytes > threshold;
  }

  // Everything up to the first await runs in one step, so the copied entries
  // are exactly the writes that precede the new log.
  async #runCompaction(persistence: Persistence): Promise<void> {
    const previous = persistence.writer;
    const generation = previous.generation + 1;
    const damagedFiles = persistence.damagedFiles;

    try {
      persistence.writer = LogWriter.open(persistence.dir, generation, 0);
    } catch (error) {
      this.#logger.warn("kv store compaction in '%s' could not start a new log; will retry", persistence.dir, error);
      return;
    }
    const entries = this.#copyEntries();
    persistence.damagedFiles = new Set();

    try {
      await previous.close();
      persistence.snapshotBytes = await writeSnapshot(persistence.dir, generation, entries);
      removeObsoleteFiles(persistence.dir, generation, damagedFiles);
      this.#logger.debug("kv store compacted '%s' to %d bytes", persistence.dir, persistence.snapshotBytes);
    } catch (error) {
      for (const name of damagedFiles) persistence.damagedFiles.add(name);
      this.#logger.warn("kv store compaction in '%s' failed; the logs are kept and replayed", persistence.dir, error);
    }
  }

  #copyEntries(): SnapshotEntries {
    return Array.from(this.#data, ([index, keys]) => [index, Array.from(keys)]);
  }

  #startSyncTimer(): void {
    const persistence = this.#persistence;
    if (persistence === undefined || this.#saveIntervalMs === 0) return;

    persistence.timer = setInterval(() => {
      persistence.writer.sync().catch((error: unknown) => {
        this.#logger.warn("kv store fsync of '%s' failed", persistence.writer.filePath, error);
      });
    }, this.#saveIntervalMs);
    // Writes already reached the OS, so the timer alone need not keep the process alive.
    persistence.timer.unref();
  }

  async #shutdown(): Promise<void> {
    const persistence = this.#persistence;
    if (persistence === undefined) return;

    clearInterval(persistence.timer);
    await this.#compaction?.catch(() => undefined);

    try {
      await persistence.writer.close();
    } finally {
      persistence.lock.release();
    }
    this.#logger.info("kv store closed '%s'", persistence.dir);
  }
}

function encodeEntry(entry: EntryRecord): Buffer {
  try {
    return encodeLine(entry);
  } catch (error) {
    throw new EngineError(
      ErrorCode.serializationError,
      `value for key '${entry.key}' in index '${entry.index}' is not valid JSON; store plain JSON values only`,
      { cause: error },
    );
  }
}
