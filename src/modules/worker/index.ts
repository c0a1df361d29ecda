import { expectObject } from "../../config/schema.ts";
import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import type { WorkerConnection } from "../../core/worker-connection.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import { invalidInput, readOptionalBoolean, readOptionalInputObject, readOptionalString } from "../input.ts";

/** Changes to the function set are reported at most this long after they happen. */
export const FUNCTIONS_AVAILABLE_DELAY_MS = 100;

const FUNCTIONS_AVAILABLE = "engine::functions-available";
const WORKERS_AVAILABLE = "engine::workers-available";

export const workerModuleFactory: ModuleFactory = {
  className: "modules::worker::WorkerModule",
  summary: "engine::functions/workers/triggers listing, worker metadata, channels",
  create(config, path): EngineModule {
    expectObject(config, path);
    return new WorkerModule();
  },
};

/**
 * The always-loaded module that lists registered functions, workers and
 * triggers, records worker metadata, and notifies subscribers when workers or
 * functions come and go.
 */
class WorkerModule implements EngineModule {
  readonly className = workerModuleFactory.className;
  readonly #functionTriggers = new Map<string, Trigger>();
  readonly #workerTriggers = new Map<string, Trigger>();
  readonly #unsubscribers: Array<() => void> = [];
  #context: EngineContext | null = null;
  #logger: Logger | null = null;
  #lastFunctionIds = "";
  #functionsTimer: ReturnType<typeof setTimeout> | null = null;

  async start(context: EngineContext): Promise<void> {
    this.#context = context;
    this.#logger = context.createLogger("worker-module");
    this.#registerListingFunctions(context);
    this.#registerWorkerFunctions(context);

    await context.registerTriggerType(FUNCTIONS_AVAILABLE, "Fires when the set of registered functions changes", {
      register: (trigger) => void this.#functionTriggers.set(trigger.id, trigger),
      unregister: (trigger) => void this.#functionTriggers.delete(trigger.id),
    });
    await context.registerTriggerType(WORKERS_AVAILABLE, "Fires when a worker connects, disconnects or updates its metadata", {
      register: (trigger) => void this.#workerTriggers.set(trigger.id, trigger),
      unregister: (trigger) => void this.#workerTriggers.delete(trigger.id),
    });

    this.#lastFunctionIds = sortedIds(context);
    this.#unsubscribers.push(
      context.onFunctionsChanged(() => this.#scheduleFunctionsCheck()),
      context.events.on("worker_connected", (worker) => this.#fireWorkerEvent("worker_connected", worker)),
      context.events.on("worker_disconnected", (worker) => this.#fireWorkerEvent("worker_disconnected", worker)),
      context.events.on("worker_metadata_updated", (worker) => this.#fireWorkerEvent("worker_metadata_updated", worker)),
    );
  }

  async stop(): Promise<void> {
    for (const unsubscribe of this.#unsubscribers.splice(0)) unsubscribe();
    if (this.#functionsTimer) clearTimeout(this.#functionsTimer);
    this.#functionsTimer = null;
  }

  #registerListingFunctions(context: EngineContext): void {
    context.registerFunction({ id: "engine::functions::list", description: "List registered functions" }, (data) => {
      const input = readOptionalInputObject("engine::functions::list", data);
      const includeInternal = readOptionalBoolean("engine::functions::list", input, "include_internal", false);
      const functions = context.listFunctions().filter((info) => includeInternal || !info.function_id.startsWith("engine::"));
      return { functions } as unknown as JsonValue;
    });

    context.registerFunction({ id: "engine::workers::list", description: "List connected workers" }, (data) => {
      const input = readOptionalInputObject("engine::workers::list", data);
      const workerId = readOptionalString("engine::workers::list", input, "worker_id");
      const workers = context.listWorkers().filter((worker) => workerId === null || worker.id === workerId);
      return { workers: workers.map(describeWorker), timestamp: Date.now() } as unknown as JsonValue;
    });

    context.registerFunction({ id: "engine::triggers::list", description: "List registered triggers" }, (data) => {
      const input = readOptionalInputObject("engine::triggers::list", data);
      const includeInternal = readOptionalBoolean("engine::triggers::list", input, "include_internal", false);
      const triggers = context
        .listTriggers()
        .filter((trigger) => includeInternal || !trigger.function_id.startsWith("engine::"))
        .map(({ id, trigger_type, function_id, config }) => ({ id, trigger_type, function_id, config }));
      return { triggers };
    });
  }

  #registerWorkerFunctions(context: EngineContext): void {
    context.registerFunction({ id: "engine::workers::register", description: "Record a worker's name, runtime and version" }, (data) =>
      this.#recordMetadata(context, data),
    );

    context.registerFunction({ id: "engine::channels::create", description: "Create a data channel" }, (data) => {
      const requested = readOptionalInputObject("engine::channels::create", data).buffer_size;
      if (requested !== undefined && requested !== null && (typeof requested !== "number" || !Number.isInteger(requested) || requested < 0)) {
        throw new EngineError(ErrorCode.deserializationError, "Failed to deserialize input for engine::channels::create: 'buffer_size' must be a non-negative integer");
      }
      const channel = context.channels.create(typeof requested === "number" ? requested : undefined);
      return { writer: channel.ref("write"), reader: channel.ref("read") } as unknown as JsonValue;
    });
  }

  #recordMetadata(context: EngineContext, data: JsonValue): JsonValue {
    if (!isJsonObject(data) || typeof data._caller_worker_id !== "string") {
      throw new EngineError(
        ErrorCode.deserializationError,
        "Failed to deserialize input for engine::workers::register: missing '_caller_worker_id'; call it from a worker connection",
      );
    }
    const worker = context.getWorker(data._caller_worker_id);
    if (!worker) {
      this.#logger?.warn(`engine::workers::register named unknown worker '${data._caller_worker_id}'; ignored`);
      return { success: true };
    }

    const id = "engine::workers::register";
    const runtime = readOptionalString(id, data, "runtime");
    const version = readOptionalString(id, data, "version");
    const name = readOptionalString(id, data, "name");
    const os = readOptionalString(id, data, "os");
    const telemetry = data.telemetry;
    if (telemetry !== undefined && telemetry !== null && !isJsonObject(telemetry)) {
      throw invalidInput(id, "'telemetry' must be an object");
    }

    worker.runtime = runtime ?? "unknown";
    worker.version = version;
    if (name !== null) worker.name = name;
    if (os !== null) worker.os = os;
    worker.telemetry = isJsonObject(telemetry)
      ? {
          language: typeof telemetry.language === "string" ? telemetry.language : null,
          project_name: typeof telemetry.project_name === "string" ? telemetry.project_name : null,
          framework: typeof telemetry.framework === "string" ? telemetry.framework : null,
        }
      : null;
    this.#logger?.info(`worker '${worker.id}' is '${worker.name ?? "unnamed"}' (${worker.runtime} ${worker.version ?? "unknown version"})`);
    context.events.emit("worker_metadata_updated", worker);
    return { success: true };
  }

  #scheduleFunctionsCheck(): void {
    if (this.#functionsTimer) return;
    this.#functionsTimer = setTimeout(() => {
      this.#functionsTimer = null;
      this.#checkFunctions();
    }, FUNCTIONS_AVAILABLE_DELAY_MS);
  }

  #checkFunctions(): void {
    const context = this.#context;
    if (!context) return;
    const ids = sortedIds(context);
    if (ids === this.#lastFunctionIds) return;
    this.#lastFunctionIds = ids;
    if (this.#functionTriggers.size === 0) return;

    const payload = { event: "functions_changed", functions: context.listFunctions() } as unknown as JsonValue;
    for (const trigger of this.#functionTriggers.values()) this.#fire(trigger, payload);
  }

  #fireWorkerEvent(event: string, worker: WorkerConnection): void {
    for (const trigger of this.#workerTriggers.values()) this.#fire(trigger, { event, worker_id: worker.id });
  }

  #fire(trigger: Trigger, payload: JsonValue): void {
    void this.#context?.invoke(trigger.function_id, payload).then((outcome) => {
      if (outcome.type === "failure") {
        this.#logger?.debug(`${trigger.trigger_type} trigger '${trigger.id}' handler '${trigger.function_id}' failed: ${outcome.error.message}`);
      }
    });
  }
}

function sortedIds(context: EngineContext): string {
  return context
    .listFunctions()
    .map((info) => info.function_id)
    .sort()
    .join("\n");
}

function describeWorker(worker: WorkerConnection): Record<string, unknown> {
  return {
    id: worker.id,
    name: worker.name,
    runtime: worker.runtime,
    version: worker.version,
    os: worker.os,
    ip_address: worker.ipAddress,
    status: "connected",
    connected_at_ms: worker.connectedAt,
    function_count: worker.functions.size + worker.externalFunctions.size,
    functions: [...worker.functions, ...worker.externalFunctions],
    active_invocations: worker.invocations.size,
    latest_metrics: worker.latestMetrics,
  };
}
