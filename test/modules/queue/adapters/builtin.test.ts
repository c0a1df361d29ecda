import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runQueueContract, type QueueBackend } from "../adapter-contract.ts";

let dataDir: string | undefined;

const builtinBackend: QueueBackend = {
  name: "BuiltinQueueAdapter",
  adapterYaml(options = {}) {
    dataDir = mkdtempSync(join(tmpdir(), "iii-queue-"));
    const lines = Object.entries({ store_method: "file_based", file_path: dataDir, ...options }).map(
      ([key, value]) => `          ${key}: ${typeof value === "string" ? JSON.stringify(value) : value}`,
    );
    return ["      adapter:", "        class: modules::queue::BuiltinQueueAdapter", "        config:", ...lines].join("\n");
  },
  async cleanup() {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    dataDir = undefined;
  },
};

runQueueContract(builtinBackend);
