import { EngineError, ErrorCode } from "../../core/errors.ts";
import { KvStore, type KvStoreOptions } from "../../storage/index.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { JsonValue } from "../../util/json.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import { KV_SERVER_MODULE_CLASS, parseKvServerConfig } from "./config.ts";
import { readInputObject, readRequiredString, readRequiredValue, readUpdateOps } from "../input.ts";

export { parseKvServerConfig } from "./config.ts";

export const kvServerModuleFactory: ModuleFactory = {
  className: KV_SERVER_MODULE_CLASS,
  summary: "shared key-value store for workers (kv_server::*)",
  create(config, path, environment): EngineModule {
    return new KvServerModule(parseKvServerConfig(config, path, environment.dataDir, environment.defaultSet));
  },
};

/** Serves `kv_server::*` from its own embedded store: `index -> key -> value`. */
class KvServerModule implements EngineModule {
  readonly className = KV_SERVER_MODULE_CLASS;
  readonly #options: KvStoreOptions;
  #store: KvStore | null = null;
  #logger: Logger | null = null;

  constructor(options: KvStoreOptions) {
    this.#options = options;
  }

  async start(context: EngineContext): Promise<void> {
    const logger = context.createLogger("kv-server");
    this.#logger = logger;
    this.#store = await KvStore.open({ ...this.#options, logger });
    this.#registerFunctions(context);

    const where = this.#options.method === "in_memory" ? "in memory" : `in '${this.#options.filePath}'`;
    logger.info(`kv server started with its store ${where}`);
  }

  async stop(): Promise<void> {
    const store = this.#store;
    this.#store = null;
    await store?.close();
    if (store) this.#logger?.info("kv server stopped");
  }

  #registerFunctions(context: EngineContext): void {
    context.registerFunction({ id: "kv_server::get", description: "Read the value under an index and key" }, (data) => {
      const { index, key } = readLocation("kv_server::get", data);
      return this.#open().get(index, key);
    });

    context.registerFunction({ id: "kv_server::set", description: "Store a value under an index and key" }, (data) => {
      const { input, index, key } = readLocation("kv_server::set", data);
      const value = readRequiredValue("kv_server::set", input, "value");
      const { oldValue } = this.#open().set(index, key, value);
      return { old_value: oldValue, new_value: value };
    });

    context.registerFunction({ id: "kv_server::delete", description: "Delete a key and return its previous value" }, (data) => {
      const { index, key } = readLocation("kv_server::delete", data);
      return { old_value: this.#open().delete(index, key) ?? null };
    });

    context.registerFunction({ id: "kv_server::update", description: "Apply update operations to a value atomically" }, (data) => {
      const { input, index, key } = readLocation("kv_server::update", data);
      const ops = readUpdateOps("kv_server::update", input);
      const result = this.#open().update(index, key, ops);
      return { old_value: result.oldValue, new_value: result.newValue };
    });

    context.registerFunction({ id: "kv_server::list", description: "List the values of an index in insertion order" }, (data) => {
      const input = readInputObject("kv_server::list", data);
      return this.#open().list(readRequiredString("kv_server::list", input, "index"));
    });

    context.registerFunction(
      { id: "kv_server::list_keys_with_prefix", description: "List the index names that start with a prefix" },
      (data) => {
        const input = readInputObject("kv_server::list_keys_with_prefix", data);
        return this.#open().indexes(readRequiredString("kv_server::list_keys_with_prefix", input, "prefix"));
      },
    );
  }

  #open(): KvStore {
    if (this.#store === null) throw new EngineError(ErrorCode.backendUnavailable, "kv server store is closed; start the module first");
    return this.#store;
  }
}

function readLocation(functionId: string, data: JsonValue): { input: { [key: string]: JsonValue }; index: string; key: string } {
  const input = readInputObject(functionId, data);
  return {
    input,
    index: readRequiredString(functionId, input, "index"),
    key: readRequiredString(functionId, input, "key"),
  };
}
