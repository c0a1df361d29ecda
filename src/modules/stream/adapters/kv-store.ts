import { EngineError, ErrorCode } from "../../../core/errors.ts";
import { KvStore, type KvStoreOptions, type UpdateOp, type UpdateResult } from "../../../storage/index.ts";
import { stringifyJson, type JsonValue } from "../../../util/json.ts";
import type { StreamAdapter, StreamEventListener, StreamSummary } from "../adapter.ts";
import type { StreamEvent } from "../events.ts";
import { GROUP_KEY_PREFIX, groupKey, summarizeGroupKeys } from "./index-names.ts";

/**
 * Keeps items in the embedded store (index `stream:<stream>:<group>`, key =
 * item id) and hands events straight to this engine's sockets, so sockets on
 * other engines never see them.
 */
export class KvStoreStreamAdapter implements StreamAdapter {
  readonly #options: KvStoreOptions;
  #store: KvStore | null = null;
  #listener: StreamEventListener | null = null;

  constructor(options: KvStoreOptions) {
    this.#options = options;
  }

  async open(listener: StreamEventListener): Promise<void> {
    this.#store = await KvStore.open(this.#options);
    this.#listener = listener;
  }

  async set(stream: string, group: string, id: string, value: JsonValue): Promise<JsonValue | null> {
    return this.#open().set(groupKey(stream, group), id, value).oldValue;
  }

  async get(stream: string, group: string, id: string): Promise<JsonValue | undefined> {
    return this.#open().get(groupKey(stream, group), id);
  }

  async delete(stream: string, group: string, id: string): Promise<JsonValue | undefined> {
    return this.#open().delete(groupKey(stream, group), id);
  }

  async update(stream: string, group: string, id: string, ops: readonly UpdateOp[]): Promise<UpdateResult> {
    return this.#open().update(groupKey(stream, group), id, ops);
  }

  async list(stream: string, group: string): Promise<JsonValue[]> {
    return this.#open().list(groupKey(stream, group));
  }

  async listGroups(stream: string): Promise<string[]> {
    const prefix = `${GROUP_KEY_PREFIX}${stream}:`;
    return this.#open()
      .indexes(prefix)
      .map((name) => name.slice(prefix.length));
  }

  async listAll(): Promise<StreamSummary[]> {
    return summarizeGroupKeys(this.#open().indexes(GROUP_KEY_PREFIX));
  }

  async publish(event: StreamEvent): Promise<void> {
    this.#listener?.(event, stringifyJson(event));
  }

  async close(): Promise<void> {
    this.#listener = null;
    await this.#store?.close();
  }

  #open(): KvStore {
    if (this.#store === null) {
      throw new EngineError(ErrorCode.backendUnavailable, "stream store is not open; start the stream module first");
    }
    return this.#store;
  }
}
