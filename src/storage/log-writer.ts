import fs from "node:fs";
import path from "node:path";

import { EngineError, ErrorCode } from "../core/errors";
import { fsyncDirectory, logFileName } from "./data-dir";
import { encodeHeader } from "./log-format";

/**
 * The append side of one log file. Appends are synchronous positional writes,
 * so records land in call order; `sync` makes them survive a power loss.
 */
export class LogWriter {
  readonly generation: number;
  readonly filePath: string;
  #fd: number;
  #bytes: number;
  #unsyncedBytes = 0;
  #pendingSync: Promise<void> = Promise.resolve();
  #closed: Promise<void> | undefined;

  private constructor(filePath: string, generation: number, fd: number, bytes: number) {
    this.filePath = filePath;
    this.generation = generation;
    this.#fd = fd;
    this.#bytes = bytes;
  }

  /**
   * Opens log `generation` in `dir` for appending after its first `validBytes`
   * bytes; anything beyond them (a torn record) is cut off. A missing or empty
   * file gets a fresh header.
   */
  static open(dir: string, generation: number, validBytes: number): LogWriter {
    const filePath = path.join(dir, logFileName(generation));
    const existed = fs.existsSync(filePath);
    const fd = fs.openSync(filePath, fs.constants.O_RDWR | fs.constants.O_CREAT);
    const writer = new LogWriter(filePath, generation, fd, validBytes);

    try {
      fs.ftruncateSync(fd, validBytes);
      if (validBytes === 0) writer.append(encodeHeader("log"));
      writer.syncNow();
      if (!existed) fsyncDirectory(dir);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
    return writer;
  }

  /** Size of the file in bytes, header included. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Writes `line` at the end of the file before returning. On failure the file
   * is cut back to its previous end, so a failed write never leaves half a
   * record in front of later ones.
   */
  append(line: Buffer): void {
    if (this.#closed) throw new EngineError(ErrorCode.backendUnavailable, `log '${this.filePath}' is closed`);

    const start = this.#bytes;
    try {
      let written = 0;
      while (written < line.length) {
        written += fs.writeSync(this.#fd, line, written, line.length - written, start + written);
      }
    } catch (error) {
      this.#truncateTo(start);
      throw new EngineError(ErrorCode.backendUnavailable, `write to '${this.filePath}' failed`, { cause: error });
    }

    this.#bytes = start + line.length;
    this.#unsyncedBytes += line.length;
  }

  /** Fsyncs before returning; used when every write must be durable on return. */
  syncNow(): void {
    if (this.#unsyncedBytes === 0) return;

    this.#unsyncedBytes = 0;
    fs.fsyncSync(this.#fd);
  }

  /** Fsyncs on the thread pool; resolves when everything appended so far is durable. */
  sync(): Promise<void> {
    if (this.#unsyncedBytes === 0 || this.#closed) return this.#pendingSync;

    this.#unsyncedBytes = 0;
    const fd = this.#fd;
    const next = this.#pendingSync.then(
      () => new Promise<void>((resolve, reject) => fs.fsync(fd, (error) => (error ? reject(error) : resolve()))),
    );
    this.#pendingSync = next.catch(() => undefined);
    return next;
  }

  /** Waits for a running fsync, fsyncs the rest and closes the file; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= this.#pendingSync.then(() => {
      try {
        fs.fsyncSync(this.#fd);
      } finally {
        fs.closeSync(this.#fd);
      }
    });
    return this.#closed;
  }

  #truncateTo(length: number): void {
    try {
      fs.ftruncateSync(this.#fd, length);
    } catch {
      // The caller already receives the write error; a failed cut leaves a
      // torn record that the next start-up detects by its checksum.
    }
  }
}
