import { EngineError, ErrorCode } from "../../../core/errors.ts";
import { KvStore, type KvStoreOptions, type UpdateOp, type UpdateResult } from "../../../storage/index.ts";
import type { JsonValue } from "../../../util/json.ts";
import type { StateAdapter } from "../adapter.ts";

/** Keeps state in the embedded store: the scope is the index name, the key is the key. */
export class KvStoreStateAdapter implements StateAdapter {
  readonly #options: KvStoreOptions;
  #store: KvStore | null = null;

  constructor(options: KvStoreOptions) {
    this.#options = options;
  }

  async open(): Promise<void> {
    this.#store = await KvStore.open(this.#options);
  }

  async set(scope: string, key: string, value: JsonValue): Promise<JsonValue | null> {
    return this.#open().set(scope, key, value).oldValue;
  }

  async get(scope: string, key: string): Promise<JsonValue | undefined> {
    return this.#open().get(scope, key);
  }

  async delete(scope: string, key: string): Promise<JsonValue | undefined> {
    return this.#open().delete(scope, key);
  }

  async update(scope: string, key: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    return this.#open().update(scope, key, ops);
  }

  async list(scope: string): Promise<JsonValue[]> {
    return this.#open().list(scope);
  }

  async listGroups(): Promise<string[]> {
    return this.#open().indexes();
  }

  async close(): Promise<void> {
    await this.#store?.close();
  }

  #open(): KvStore {
    if (this.#store === null) throw new EngineError(ErrorCode.backendUnavailable, "state store is not open; start the state module first");
    return this.#store;
  }
}
