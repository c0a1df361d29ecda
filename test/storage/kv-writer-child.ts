// Child process for crash tests: writes keys `k0`, `k1`, ... to index `items`
// and prints `acked <n>` after every 100 acknowledged writes, then `done <n>`,
// and waits to be killed. Arguments: data directory, key count, and
// `compact` to compact after every few KiB of log.
import { KvStore } from "../../src/storage/kv-store";

const [dir, countText, mode] = process.argv.slice(2);
if (dir === undefined || countText === undefined) throw new Error("usage: kv-writer-child <dir> <count> [compact]");

const count = Number(countText);
const store = await KvStore.open({
  method: "file_based",
  filePath: dir,
  saveIntervalMs: 20,
  compactionMinBytes: mode === "compact" ? 4096 : undefined,
});

for (let position = 0; position < count; position++) {
  store.set("items", `k${position}`, { position, text: "payload \u2028 \ud83d\ude80" });
  if ((position + 1) % 100 === 0) process.stdout.write(`acked ${position + 1}\n`);
  // Yielding lets the background compaction and fsync timer run between writes.
  if (position % 50 === 0) await Bun.sleep(0);
}

process.stdout.write(`done ${count}\n`);
setInterval(() => undefined, 1000);
