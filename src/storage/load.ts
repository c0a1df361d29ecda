import fs from "node:fs";
import path from "node:path";

import { listDataFiles, logFileName, removeObsoleteFiles, snapshotFileName } from "./data-dir";
import { applyEntry, type IndexMap } from "./index-map";
import { scanLines, type ScanResult } from "./log-format";
import type { KvStoreLogger } from "./kv-store-options";

/** State rebuilt from a data directory, and where to continue writing. */
export interface LoadedData {
  data: IndexMap;
  /** Generation of the log to append to. */
  logGeneration: number;
  /** Bytes of that log to keep; a torn final record lies beyond them. */
  logValidBytes: number;
  snapshotBytes: number;
  /** Files with damage beyond a torn final record; a compaction should replace them. */
  damagedFiles: Set<string>;
}

/**
 * Rebuilds the store from the newest snapshot and the logs that follow it.
 * A torn final record in the newest log is dropped with one warning. Other
 * damaged records are skipped with a warning while the records before and
 * after them are kept, because each record is a whole value for one key and
 * one lost record should not discard every later write. Leftover temp files
 * and files older than the newest snapshot are removed.
 */
export function loadDataDir(dir: string, logger: KvStoreLogger): LoadedData {
  const files = listDataFiles(dir);
  removeTempFiles(dir, files.tempFiles, logger);

  const snapshotGeneration = files.snapshots.at(-1);
  const loaded: LoadedData = {
    data: new Map(),
    logGeneration: 0,
    logValidBytes: 0,
    snapshotBytes: 0,
    damagedFiles: new Set(),
  };

  if (snapshotGeneration !== undefined) {
    loadSnapshot(dir, snapshotGeneration, loaded, logger);
    removeObsoleteFiles(dir, snapshotGeneration, new Set());
  }

  const logs = files.logs.filter((gen) => snapshotGeneration === undefined || gen >= snapshotGeneration);
  for (const generation of logs) {
    replayLog(dir, generation, generation === logs.at(-1), loaded, logger);
  }

  const lastGeneration = logs.at(-1) ?? snapshotGeneration ?? 0;
  // A damaged newest log is left untouched for inspection; writing continues in a new one.
  const lastIsDamaged = loaded.damagedFiles.has(logFileName(lastGeneration));
  loaded.logGeneration = lastIsDamaged ? lastGeneration + 1 : lastGeneration;
  if (lastIsDamaged) loaded.logValidBytes = 0;
  return loaded;
}

function removeTempFiles(dir: string, names: string[], logger: KvStoreLogger): void {
  for (const name of names) {
    fs.rmSync(path.join(dir, name), { force: true });
    logger.info("removed unfinished snapshot '%s' left by an interrupted compaction", name);
  }
}

function loadSnapshot(dir: string, generation: number, loaded: LoadedData, logger: KvStoreLogger): void {
  const name = snapshotFileName(generation);
  const content = fs.readFileSync(path.join(dir, name));
  const scan = scanLines(content, name);
  loaded.snapshotBytes = content.length;

  for (const entry of scan.entries) applyEntry(loaded.data, entry);

  const damagedLines = scan.middleDamage + scan.tailLines;
  if (damagedLines === 0 && scan.endCount === scan.entries.length) return;

  loaded.damagedFiles.add(name);
  logger.warn(
    "kv store snapshot '%s' is damaged (%d unreadable lines, %d of %s expected entries read); kept the readable entries",
    path.join(dir, name),
    damagedLines,
    scan.entries.length,
    scan.endCount === undefined ? "unknown" : String(scan.endCount),
  );
}

function replayLog(dir: string, generation: number, isNewest: boolean, loaded: LoadedData, logger: KvStoreLogger): void {
  const name = logFileName(generation);
  const filePath = path.join(dir, name);
  const scan = scanLines(fs.readFileSync(filePath), name);

  for (const entry of scan.entries) applyEntry(loaded.data, entry);
  if (isNewest) loaded.logValidBytes = scan.goodBytes;

  if (isTornTail(scan, isNewest)) {
    logger.warn("dropped a torn record of %d bytes at the end of kv store log '%s'", scan.tailBytes, filePath);
    return;
  }

  const damagedLines = scan.middleDamage + scan.tailLines;
  if (damagedLines === 0) return;

  loaded.damagedFiles.add(name);
  logger.warn(
    "kv store log '%s' has %d unreadable records; skipped them and kept the %d readable ones",
    filePath,
    damagedLines,
    scan.entries.length,
  );
}

// A crash during an append can only cut the newest log's final record.
function isTornTail(scan: ScanResult, isNewest: boolean): boolean {
  return isNewest && scan.middleDamage === 0 && scan.tailLines === 1 && (scan.hasHeader || scan.goodBytes === 0);
}
