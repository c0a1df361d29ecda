import { EngineError } from "../../core/errors.ts";
import type { CallContext } from "../../core/function-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { JsonValue } from "../../util/json.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import type { StateAdapter } from "./adapter.ts";
import { KvStoreStateAdapter } from "./adapters/kv-store.ts";
import { STATE_MODULE_CLASS, parseStateConfig, type StateAdapterConfig, type StateConfig } from "./config.ts";
import { invalidInput, readInputObject, readRequiredString, readUpdateOps } from "../input.ts";
import { STATE_TRIGGER_TYPE, StateTriggers, type StateEvent } from "./state-triggers.ts";

export { KvStoreStateAdapter } from "./adapters/kv-store.ts";
export type { StateAdapter } from "./adapter.ts";
export { STATE_ADAPTER_CLASSES, parseStateConfig, type StateAdapterConfig, type StateConfig } from "./config.ts";

export const stateModuleFactory: ModuleFactory = {
  className: STATE_MODULE_CLASS,
  summary: "key-value state in scopes (state::*) with state change triggers",
  create(config, path, environment): EngineModule {
    return new StateModule(parseStateConfig(config, path, environment.dataDir, environment.defaultSet));
  },
};

type Operation = "set" | "get" | "delete" | "update" | "list" | "list_groups";

// Adapter failures reach callers with these codes and message prefixes.
const OPERATION_ERRORS: Record<Operation, { code: string; prefix: string }> = {
  set: { code: "SET_ERROR", prefix: "Failed to set value" },
  get: { code: "GET_ERROR", prefix: "Failed to get value" },
  delete: { code: "DELETE_ERROR", prefix: "Failed to delete value" },
  update: { code: "UPDATE_ERROR", prefix: "Failed to update value" },
  list: { code: "LIST_ERROR", prefix: "Failed to list values" },
  list_groups: { code: "LIST_GROUPS_ERROR", prefix: "Failed to list groups" },
};

/** Serves `state::*` on a chosen adapter and fires `state` triggers after each write. */
class StateModule implements EngineModule {
  readonly className = STATE_MODULE_CLASS;
  readonly #config: StateConfig;
  #adapter: StateAdapter | null = null;
  #triggers: StateTriggers | null = null;
  #logger: Logger | null = null;

  constructor(config: StateConfig) {
    this.#config = config;
  }

  async start(context: EngineContext): Promise<void> {
    const logger = context.createLogger("state");
    this.#logger = logger;
    this.#adapter = await createAdapter(this.#config.adapter, logger);
    await this.#adapter.open();

    const triggers = new StateTriggers(context, logger);
    this.#triggers = triggers;
    await context.registerTriggerType(STATE_TRIGGER_TYPE, "Fires after a state item is created, updated or deleted", {
      register: (trigger) => triggers.add(trigger),
      unregister: (trigger) => triggers.remove(trigger.id),
    });
    this.#registerFunctions(context);
    logger.info(`state module started on the ${describeAdapter(this.#config.adapter)}`);
  }

  async stop(): Promise<void> {
    this.#triggers?.stop();
    this.#triggers = null;

    const adapter = this.#adapter;
    this.#adapter = null;
    await adapter?.close();
    if (adapter) this.#logger?.info("state module stopped");
  }

  #registerFunctions(context: EngineContext): void {
    context.registerFunction({ id: "state::set", description: "Store a value under a scope and key" }, (data, call) => this.#set(data, call));
    context.registerFunction({ id: "state::get", description: "Read the value under a scope and key" }, (data) => this.#get(data));
    context.registerFunction({ id: "state::delete", description: "Delete a key and return its previous value" }, (data, call) =>
      this.#delete(data, call),
    );
    context.registerFunction({ id: "state::update", description: "Apply update operations to a value atomically" }, (data, call) =>
      this.#update(data, call),
    );
    context.registerFunction({ id: "state::list", description: "List the values of a scope" }, (data) => this.#list(data));
    context.registerFunction({ id: "state::list_groups", description: "List the scopes that hold values" }, () => this.#listGroups());
  }

  async #set(data: JsonValue, call: CallContext): Promise<JsonValue> {
    const input = readInputObject("state::set", data);
    const scope = readRequiredString("state::set", input, "scope");
    const key = readRequiredString("state::set", input, "key");
    const value = readSetValue(input);

    const oldValue = await this.#useAdapter("set", (adapter) => adapter.set(scope, key, value));
    const eventType = oldValue === null ? "state:created" : "state:updated";
    this.#emit({ type: "state", event_type: eventType, scope, key, old_value: oldValue, new_value: value }, call);
    return { old_value: oldValue, new_value: value };
  }

  async #get(data: JsonValue): Promise<JsonValue | undefined> {
    const input = readInputObject("state::get", data);
    const scope = readRequiredString("state::get", input, "scope");
    const key = readRequiredString("state::get", input, "key");

    return this.#useAdapter("get", (adapter) => adapter.get(scope, key));
  }

  // Returns the bare previous value, and fires `state:deleted` even when the key was missing.
  async #delete(data: JsonValue, call: CallContext): Promise<JsonValue | undefined> {
    const input = readInputObject("state::delete", data);
    const scope = readRequiredString("state::delete", input, "scope");
    const key = readRequiredString("state::delete", input, "key");

    const oldValue = await this.#useAdapter("delete", (adapter) => adapter.delete(scope, key));
    this.#emit({ type: "state", event_type: "state:deleted", scope, key, old_value: oldValue ?? null, new_value: null }, call);
    return oldValue;
  }

  async #update(data: JsonValue, call: CallContext): Promise<JsonValue> {
    const input = readInputObject("state::update", data);
    const scope = readRequiredString("state::update", input, "scope");
    const key = readRequiredString("state::update", input, "key");
    const ops = readUpdateOps("state::update", input);

    const result = await this.#useAdapter("update", (adapter) => adapter.update(scope, key, ops));
    const eventType = result.oldValue === null ? "state:created" : "state:updated";
    this.#emit({ type: "state", event_type: eventType, scope, key, old_value: result.oldValue, new_value: result.newValue }, call);
    return { old_value: result.oldValue, new_value: result.newValue };
  }

  async #list(data: JsonValue): Promise<JsonValue> {
    const input = readInputObject("state::list", data);
    const scope = readRequiredString("state::list", input, "scope");

    return this.#useAdapter("list", (adapter) => adapter.list(scope));
  }

  async #listGroups(): Promise<JsonValue> {
    const groups = await this.#useAdapter("list_groups", (adapter) => adapter.listGroups());
    return { groups };
  }

  #emit(event: StateEvent, call: CallContext): void {
    this.#triggers?.emit(event, { traceparent: call.traceparent, baggage: call.baggage });
  }

  async #useAdapter<T>(operation: Operation, run: (adapter: StateAdapter) => Promise<T>): Promise<T> {
    const { code, prefix } = OPERATION_ERRORS[operation];
    if (this.#adapter === null) throw new EngineError(code, `${prefix}: the state module is stopped`);

    try {
      return await run(this.#adapter);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new EngineError(code, `${prefix}: ${detail}`, { cause: error });
    }
  }
}

// `data` is what the SDK sends, `value` what the engine documents; one of them is required.
function readSetValue(input: { [key: string]: JsonValue }): JsonValue {
  const hasValue = Object.hasOwn(input, "value") && input.value !== undefined;
  const hasData = Object.hasOwn(input, "data") && input.data !== undefined;

  if (hasValue && hasData) throw invalidInput("state::set", "got both 'value' and 'data'; send the value in one of them");
  if (hasValue) return input.value as JsonValue;
  if (hasData) return input.data as JsonValue;
  throw invalidInput("state::set", "missing 'value' (or its alias 'data')");
}

/** Builds the configured adapter; the Redis one (and ioredis) is loaded only when chosen. */
async function createAdapter(config: StateAdapterConfig, logger: Logger): Promise<StateAdapter> {
  switch (config.type) {
    case "kv_store":
      return new KvStoreStateAdapter({ ...config.store, logger: logger.child("kv-store") });
    case "redis": {
      const { RedisStateAdapter } = await import("./adapters/redis.ts");
      return new RedisStateAdapter({ redisUrl: config.redisUrl, keyPrefix: config.keyPrefix, logger });
    }
    default: {
      const unreachable: never = config;
      throw new EngineError("config_invalid", `unknown state adapter ${String(unreachable)}`);
    }
  }
}

function describeAdapter(config: StateAdapterConfig): string {
  if (config.type === "redis") return `redis adapter`;
  if (config.store.method === "in_memory") return "embedded store in memory";
  return `embedded store in '${config.store.filePath}'`;
}
