import fs from "node:fs";
import path from "node:path";

// A data directory contains generations of files. Snapshot N contains every
// write made before log N was started, and log N contains the writes after
// it. Replay reads the newest snapshot, then every log of that generation or
// newer, in ascending order.

export const LOCK_FILE_NAME = "kv.lock";
export const DAMAGED_SUFFIX = ".damaged";

const LOG_NAME = /^kv-(\d+)\.log$/;
const SNAPSHOT_NAME = /^kv-(\d+)\.snapshot$/;
const TEMP_SNAPSHOT_NAME = /^kv-(\d+)\.snapshot\.tmp$/;

/** Generations found in a data directory, each list sorted ascending. */
export interface DataFiles {
  logs: number[];
  snapshots: number[];
  tempFiles: string[];
}

export function logFileName(generation: number): string {
  return `kv-${generation}.log`;
}

export function snapshotFileName(generation: number): string {
  return `kv-${generation}.snapshot`;
}

export function tempSnapshotFileName(generation: number): string {
  return `kv-${generation}.snapshot.tmp`;
}

/** Lists the store's own files; anything else in the directory is left alone. */
export function listDataFiles(dir: string): DataFiles {
  const files: DataFiles = { logs: [], snapshots: [], tempFiles: [] };

  for (const name of fs.readdirSync(dir)) {
    const log = LOG_NAME.exec(name);
    const snapshot = SNAPSHOT_NAME.exec(name);
    if (log) files.logs.push(Number(log[1]));
    else if (snapshot) files.snapshots.push(Number(snapshot[1]));
    else if (TEMP_SNAPSHOT_NAME.test(name)) files.tempFiles.push(name);
  }

  files.logs.sort((a, b) => a - b);
  files.snapshots.sort((a, b) => a - b);
  return files;
}

/** Makes created, renamed and removed names in `dir` survive a power loss. */
export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Removes logs and snapshots older than `generation`, which a durable snapshot
 * of that generation has replaced. Files named in `keepAside` get the
 * `.damaged` suffix instead, so corrupt data stays available for inspection.
 */
export function removeObsoleteFiles(dir: string, generation: number, keepAside: ReadonlySet<string>): void {
  const files = listDataFiles(dir);
  const obsolete = [
    ...files.logs.filter((gen) => gen < generation).map(logFileName),
    ...files.snapshots.filter((gen) => gen < generation).map(snapshotFileName),
  ];

  for (const name of obsolete) {
    const file = path.join(dir, name);
    if (keepAside.has(name)) fs.renameSync(file, `${file}${DAMAGED_SUFFIX}`);
    else fs.rmSync(file, { force: true });
  }
  fsyncDirectory(dir);
}
