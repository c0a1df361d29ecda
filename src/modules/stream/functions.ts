import { EngineError } from "../../core/errors.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import type { EngineContext } from "../module.ts";
import type { StreamAdapter } from "./adapter.ts";
import { createStreamEvent, type StreamEvent } from "./events.ts";
import {
  readInputObject,
  readOptionalString,
  readRequiredString,
  readRequiredValue,
  readUpdateOps,
  type InputObject,
} from "../input.ts";
import { withoutCaller } from "./input.ts";

/** Trace headers of the call that caused some work, passed on to the functions it invokes. */
export interface TraceHeaders {
  traceparent?: string;
  baggage?: string;
}

/**
 * Sends an event to sockets and `stream` triggers. The promise rejects when publishing failed.
 * Writes do not wait for it, because the write already happened and the failure is logged.
 */
export type EmitStreamEvent = (event: StreamEvent, trace: TraceHeaders) => Promise<void>;

/** Error codes of adapter failures, spelled as callers of the stream functions see them. */
const ErrorCodes = {
  set: "STREAM_SET_ERROR",
  get: "STREAM_GET_ERROR",
  delete: "STREAM_DELETE_ERROR",
  list: "STREAM_GET_GROUP_ERROR",
  listGroups: "STREAM_LIST_GROUPS_ERROR",
  listAll: "STREAM_LIST_ALL_ERROR",
  send: "STREAM_SEND_ERROR",
} as const;

/**
 * The `stream::*` functions. `set`, `get`, `delete`, `list`, `list_groups` and
 * `update` hand the call to a function named `stream::<op>(<stream_name>)` when
 * one is registered (what the SDK's `createStream` registers), and use the
 * adapter otherwise. Writes emit events either way.
 */
export class StreamFunctions {
  readonly #context: EngineContext;
  readonly #adapter: StreamAdapter;
  readonly #emit: EmitStreamEvent;
  readonly #logger: Logger;

  constructor(options: { context: EngineContext; adapter: StreamAdapter; emit: EmitStreamEvent; logger: Logger }) {
    this.#context = options.context;
    this.#adapter = options.adapter;
    this.#emit = options.emit;
    this.#logger = options.logger;
  }

  register(): void {
    const context = this.#context;
    context.registerFunction({ id: "stream::set", description: "Store an item in a stream group" }, (data, call) => this.#set(data, call));
    context.registerFunction({ id: "stream::get", description: "Read an item of a stream group" }, (data, call) => this.#get(data, call));
    context.registerFunction({ id: "stream::delete", description: "Delete an item of a stream group" }, (data, call) =>
      this.#delete(data, call),
    );
    context.registerFunction({ id: "stream::list", description: "List the items of a stream group" }, (data, call) =>
      this.#list(data, call),
    );
    context.registerFunction({ id: "stream::list_groups", description: "List the groups of a stream" }, (data, call) =>
      this.#listGroups(data, call),
    );
    context.registerFunction({ id: "stream::list_all", description: "List every stream with its groups" }, () => this.#listAll());
    context.registerFunction({ id: "stream::send", description: "Send a custom event to a stream group or item" }, (data, call) =>
      this.#send(data, call),
    );
    context.registerFunction({ id: "stream::update", description: "Apply update operations to a stream item" }, (data, call) =>
      this.#update(data, call),
    );
  }

  /** Reads one item like `stream::get`, delegates included; undefined when missing. */
  async getItem(stream: string, group: string, id: string, trace: TraceHeaders): Promise<JsonValue | undefined> {
    return this.#get({ stream_name: stream, group_id: group, item_id: id }, trace);
  }

  /** Reads a group like `stream::list`, delegates included. */
  async listItems(stream: string, group: string, trace: TraceHeaders): Promise<JsonValue> {
    return this.#list({ stream_name: stream, group_id: group }, trace);
  }

  async #set(data: JsonValue, call: TraceHeaders): Promise<JsonValue> {
    const id = "stream::set";
    const input = readInputObject(id, data);
    const { stream, group, item } = itemAddress(id, input);
    const value = readRequiredValue(id, input, "data");

    let oldValue: JsonValue | null;
    let newValue: JsonValue;
    const delegated = await this.#delegate("set", stream, input, call);
    if (delegated.used) {
      const result = writeResult(id, stream, delegated.result);
      oldValue = result.oldValue;
      newValue = result.newValue;
    } else {
      oldValue = await this.#adapterCall(ErrorCodes.set, "Failed to set stream item", () => this.#adapter.set(stream, group, item, value));
      newValue = value;
    }

    void this.#emit(createStreamEvent(stream, group, item, { type: oldValue === null ? "create" : "update", data: newValue }), call);
    return { old_value: oldValue, new_value: newValue };
  }

  async #get(data: JsonValue, call: TraceHeaders): Promise<JsonValue | undefined> {
    const id = "stream::get";
    const input = readInputObject(id, data);
    const { stream, group, item } = itemAddress(id, input);

    const delegated = await this.#delegate("get", stream, input, call);
    if (delegated.used) return delegated.result ?? undefined;
    return this.#adapterCall(ErrorCodes.get, "Failed to get stream item", () => this.#adapter.get(stream, group, item));
  }

  async #delete(data: JsonValue, call: TraceHeaders): Promise<JsonValue> {
    const id = "stream::delete";
    const input = readInputObject(id, data);
    const { stream, group, item } = itemAddress(id, input);

    let oldValue: JsonValue | null;
    const delegated = await this.#delegate("delete", stream, input, call);
    if (delegated.used) {
      const result = delegated.result;
      oldValue = isJsonObject(result) ? (result.old_value ?? null) : null;
    } else {
      const previous = await this.#adapterCall(ErrorCodes.delete, "Failed to delete stream item", () =>
        this.#adapter.delete(stream, group, item),
      );
      oldValue = previous ?? null;
    }

    // Deleting a missing item emits nothing.
    if (oldValue !== null) void this.#emit(createStreamEvent(stream, group, item, { type: "delete", data: oldValue }), call);
    return { old_value: oldValue };
  }

  async #list(data: JsonValue, call: TraceHeaders): Promise<JsonValue> {
    const id = "stream::list";
    const input = readInputObject(id, data);
    const stream = readRequiredString(id, input, "stream_name");
    const group = readRequiredString(id, input, "group_id");

    const delegated = await this.#delegate("list", stream, input, call);
    if (delegated.used) return delegated.result ?? [];
    return this.#adapterCall(ErrorCodes.list, "Failed to list stream group", () => this.#adapter.list(stream, group));
  }

  async #listGroups(data: JsonValue, call: TraceHeaders): Promise<JsonValue> {
    const id = "stream::list_groups";
    const input = readInputObject(id, data);
    const stream = readRequiredString(id, input, "stream_name");

    const delegated = await this.#delegate("list_groups", stream, input, call);
    if (delegated.used) return delegated.result ?? [];
    return this.#adapterCall(ErrorCodes.listGroups, "Failed to list stream groups", () => this.#adapter.listGroups(stream));
  }

  async #listAll(): Promise<JsonValue> {
    const streams = await this.#adapterCall(ErrorCodes.listAll, "Failed to list streams", () => this.#adapter.listAll());
    return { stream: streams.map((summary) => ({ id: summary.id, groups: summary.groups })), count: streams.length };
  }

  async #send(data: JsonValue, call: TraceHeaders): Promise<JsonValue> {
    const id = "stream::send";
    const input = readInputObject(id, data);
    const stream = readRequiredString(id, input, "stream_name");
    const group = readRequiredString(id, input, "group_id");
    const item = readOptionalString(id, input, "id");
    const type = readRequiredString(id, input, "type");
    const eventData = readRequiredValue(id, input, "data");

    // The event is all that stream::send does, so a failed publish fails the call.
    await this.#emit(createStreamEvent(stream, group, item, { type: "event", event: { type, data: eventData } }), call);
    return null;
  }

  async #update(data: JsonValue, call: TraceHeaders): Promise<JsonValue> {
    const id = "stream::update";
    const input = readInputObject(id, data);
    const { stream, group, item } = itemAddress(id, input);
    const ops = readUpdateOps(id, input);

    let oldValue: JsonValue | null;
    let newValue: JsonValue;
    const delegated = await this.#delegate("update", stream, input, call);
    if (delegated.used) {
      const result = writeResult(id, stream, delegated.result);
      oldValue = result.oldValue;
      newValue = result.newValue;
    } else {
      const result = await this.#adapterCall(ErrorCodes.set, "Failed to update stream item", () =>
        this.#adapter.update(stream, group, item, ops),
      );
      oldValue = result.oldValue;
      newValue = result.newValue;
    }

    void this.#emit(createStreamEvent(stream, group, item, { type: oldValue === null ? "create" : "update", data: newValue }), call);
    return { old_value: oldValue, new_value: newValue };
  }

  /**
   * Calls `stream::<op>(<stream>)` when it is registered. A failure of the
   * delegate is passed to the caller with its own code and message.
   */
  async #delegate(
    op: string,
    stream: string,
    input: InputObject,
    trace: TraceHeaders,
  ): Promise<{ used: false } | { used: true; result: JsonValue | undefined }> {
    const functionId = `stream::${op}(${stream})`;
    if (!this.#context.hasFunction(functionId)) return { used: false };

    this.#logger.debug(`delegating stream::${op} for stream '${stream}' to '${functionId}'`);
    const outcome = await this.#context.invoke(functionId, withoutCaller(input), {
      traceparent: trace.traceparent,
      baggage: trace.baggage,
    });
    if (outcome.type === "failure") throw new EngineError(outcome.error.code, outcome.error.message);
    return { used: true, result: outcome.result };
  }

  async #adapterCall<T>(code: string, action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      // Coded adapter errors such as backend_unavailable reach the caller unchanged.
      if (error instanceof EngineError) throw error;
      const detail = error instanceof Error ? error.message : String(error);
      throw new EngineError(code, `${action}: ${detail}`, { cause: error });
    }
  }
}

function itemAddress(functionId: string, input: InputObject): { stream: string; group: string; item: string } {
  return {
    stream: readRequiredString(functionId, input, "stream_name"),
    group: readRequiredString(functionId, input, "group_id"),
    item: readRequiredString(functionId, input, "item_id"),
  };
}

/** Reads a delegate's `{old_value?, new_value}` reply to a set or update. */
function writeResult(functionId: string, stream: string, result: JsonValue | undefined): { oldValue: JsonValue | null; newValue: JsonValue } {
  if (result === undefined || result === null) {
    throw new EngineError(ErrorCodes.set, "Function returned no result");
  }
  if (!isJsonObject(result) || result.new_value === undefined) {
    throw new EngineError(
      ErrorCodes.set,
      `Failed to set stream item: '${functionId}(${stream})' returned a value without 'new_value'; return {old_value, new_value}`,
    );
  }
  return { oldValue: result.old_value ?? null, newValue: result.new_value };
}
