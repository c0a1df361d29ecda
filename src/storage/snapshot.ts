import fs from "node:fs/promises";
import path from "node:path";

import type { JsonValue } from "../util/json";
import { fsyncDirectory, snapshotFileName, tempSnapshotFileName } from "./data-dir";
import { encodeEnd, encodeHeader, encodeLine } from "./log-format";

/** The contents of every index at one moment, keys in insertion order. */
export type SnapshotEntries = Array<[index: string, entries: Array<[key: string, value: JsonValue]>]>;

const CHUNK_BYTES = 1024 * 1024;

/**
 * Writes snapshot `generation` crash-safely: into a temp file, fsynced, then
 * renamed into place and the directory fsynced. A crash at any step leaves
 * either no snapshot of this generation or a complete one. Returns its size
 * in bytes. Yields to the event loop between chunks of about 1 MiB.
 */
export async function writeSnapshot(dir: string, generation: number, indexes: SnapshotEntries): Promise<number> {
  const tempPath = path.join(dir, tempSnapshotFileName(generation));
  const file = await fs.open(tempPath, "w");
  let bytes = 0;

  try {
    let chunk: Buffer[] = [encodeHeader("snapshot")];
    let chunkBytes = chunk[0]!.length;
    let count = 0;

    for (const [index, entries] of indexes) {
      for (const [key, value] of entries) {
        const line = encodeLine({ op: "set", index, key, value });
        chunk.push(line);
        chunkBytes += line.length;
        count += 1;
        if (chunkBytes < CHUNK_BYTES) continue;

        bytes += await writeChunk(file, chunk, bytes);
        chunk = [];
        chunkBytes = 0;
      }
    }

    chunk.push(encodeEnd(count));
    bytes += await writeChunk(file, chunk, bytes);
    await file.sync();
  } catch (error) {
    await file.close();
    await fs.rm(tempPath, { force: true });
    throw error;
  }

  await file.close();
  await fs.rename(tempPath, path.join(dir, snapshotFileName(generation)));
  fsyncDirectory(dir);
  return bytes;
}

async function writeChunk(file: fs.FileHandle, chunk: Buffer[], position: number): Promise<number> {
  const buffer = Buffer.concat(chunk);
  let written = 0;
  while (written < buffer.length) {
    const result = await file.write(buffer, written, buffer.length - written, position + written);
    written += result.bytesWritten;
  }
  return buffer.length;
}
