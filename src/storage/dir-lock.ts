import fs from "node:fs";
import path from "node:path";

import { EngineError, ErrorCode } from "../core/errors";
import { LOCK_FILE_NAME } from "./data-dir";

/** Exclusive use of a data directory; `release` is safe to call twice. */
export interface DirectoryLock {
  release(): void;
}

const MAX_LOCK_ATTEMPTS = 3;

// Real paths of the directories open in this process.
const openDirectories = new Set<string>();

/**
 * Claims `dir` for this process: once per process through an in-memory set,
 * and across processes through a lock file holding the owner's pid. A lock
 * file whose pid is not running is stale and replaced. Throws
 * `backend_unavailable` naming the directory and the pid that owns the lock.
 */
export function acquireDirectoryLock(dir: string): DirectoryLock {
  const realDir = fs.realpathSync(dir);
  if (openDirectories.has(realDir)) {
    throw new EngineError(
      ErrorCode.backendUnavailable,
      `kv store directory '${realDir}' is already used by another module of this engine; give each module its own file_path`,
    );
  }

  const lockPath = path.join(realDir, LOCK_FILE_NAME);
  claimLockFile(lockPath, realDir);
  openDirectories.add(realDir);

  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      openDirectories.delete(realDir);
      if (readLockHolder(lockPath) === process.pid) fs.rmSync(lockPath, { force: true });
    },
  };
}

function claimLockFile(lockPath: string, dir: string): void {
  for (let attempt = 0; attempt < MAX_LOCK_ATTEMPTS; attempt++) {
    if (tryCreateLockFile(lockPath)) return;

    const holder = readLockHolder(lockPath);
    if (holder !== undefined && holder !== process.pid && isProcessRunning(holder)) {
      throw new EngineError(
        ErrorCode.backendUnavailable,
        `kv store directory '${dir}' is locked by process ${holder}; stop that process, ` +
          `or delete '${lockPath}' if it is not an engine using this directory`,
      );
    }

    // NOTE: two processes that find the same stale lock at the same moment can both replace it
    fs.rmSync(lockPath, { force: true });
  }

  throw new EngineError(
    ErrorCode.backendUnavailable,
    `could not create lock file '${lockPath}' after ${MAX_LOCK_ATTEMPTS} attempts; check for another engine using '${dir}'`,
  );
}

// Writes the pid to a private file and hard-links it into place, so the lock
// file appears atomically with its content and never looks empty to a reader.
function tryCreateLockFile(lockPath: string): boolean {
  const draft = `${lockPath}.${process.pid}`;
  fs.writeFileSync(draft, `${process.pid}\n`);

  try {
    fs.linkSync(draft, lockPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new EngineError(ErrorCode.backendUnavailable, `could not create lock file '${lockPath}'`, { cause: error });
  } finally {
    fs.rmSync(draft, { force: true });
  }
}

function readLockHolder(lockPath: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockPath, "utf8").trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// NOTE: a recycled pid makes a stale lock look held until the file is deleted by hand
function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
