import type { Logger } from "../telemetry/logger.ts";
import { isJsonObject } from "../util/json.ts";
import { EngineError, ErrorCode, toWireError } from "./errors.ts";
import type { BuiltinHandler, FunctionRegistry } from "./function-registry.ts";
import {
  encode,
  type InboundMessage,
  type InvokeFunctionMessage,
  type RegisterFunctionMessage,
  type RegisterTriggerMessage,
} from "./protocol.ts";
import type { Router } from "./router.ts";
import type { TriggerRegistry } from "./trigger-registry.ts";
import type { WorkerConnection } from "./worker-connection.ts";

/**
 * Turns a registration with an `invocation` block into a function that calls an
 * external HTTP endpoint. Throws an `EngineError` to reject the registration.
 */
export interface ExternalFunctionProvider {
  create(message: RegisterFunctionMessage, worker: WorkerConnection): Promise<BuiltinHandler> | BuiltinHandler;
}

interface Dependencies {
  functions: FunctionRegistry<WorkerConnection>;
  triggers: TriggerRegistry;
  router: Router;
  logger: Logger;
  externalFunctions: () => ExternalFunctionProvider | null;
}

/**
 * Applies the messages of one worker connection in arrival order. Invocations
 * run concurrently; everything else finishes before the next message starts,
 * so a `registerfunction` followed by a `registertrigger` is always safe.
 */
export class WorkerProtocol {
  readonly #deps: Dependencies;
  readonly #queues = new WeakMap<WorkerConnection, Promise<void>>();

  constructor(deps: Dependencies) {
    this.#deps = deps;
  }

  /** Handles one parsed message, after any earlier message of the same worker has finished. */
  accept(worker: WorkerConnection, message: InboundMessage): void {
    const queued = this.#queues.get(worker);
    if (queued) {
      this.#enqueue(worker, queued.then(() => this.#handle(worker, message)));
      return;
    }
    const result = this.#handle(worker, message);
    if (result) this.#enqueue(worker, result);
  }

  #enqueue(worker: WorkerConnection, work: Promise<void>): void {
    const guarded = work.catch((error) => this.#deps.logger.error(`handling a message from worker '${worker.id}' failed`, error));
    this.#queues.set(worker, guarded);
    void guarded.then(() => {
      if (this.#queues.get(worker) === guarded) this.#queues.delete(worker);
    });
  }

  #handle(worker: WorkerConnection, message: InboundMessage): Promise<void> | void {
    // Registrations that were still queued when the worker left would outlive it.
    if (!worker.isOpen && message.type !== "invocationresult") return;

    switch (message.type) {
      case "invokefunction":
        void this.#invoke(worker, message);
        return;
      case "invocationresult":
        this.#deps.router.complete(worker, message);
        return;
      case "registerfunction":
        return this.#registerFunction(worker, message);
      case "unregisterfunction":
        this.#unregisterFunction(worker, message.id);
        return;
      case "registertrigger":
        return this.#registerTrigger(worker, message);
      case "unregistertrigger":
        return this.#unregisterTrigger(worker, message.id);
      case "registertriggertype":
        return this.#registerTriggerType(worker, message.id, message.description);
      case "unregistertriggertype":
        if (this.#deps.triggers.unregisterType(message.id, worker.id)) worker.triggerTypes.delete(message.id);
        return;
      case "triggerregistrationresult":
        if (message.error) {
          this.#deps.logger.warn(`worker '${worker.id}' could not set up trigger '${message.id}': ${message.error.message}`);
        }
        return;
      case "ping":
        worker.send(encode.pong());
        return;
      case "registerservice":
      case "pong":
      case "workerregistered":
        return;
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  async #invoke(worker: WorkerConnection, message: InvokeFunctionMessage): Promise<void> {
    if (message.action !== undefined && message.action !== "void" && !worker.actionWarned) {
      worker.actionWarned = true;
      this.#deps.logger.warn(
        `worker '${worker.id}' sent a call to '${message.function_id}' with action '${message.action}', which this engine does not support; ` +
          "the function runs at once and its result is returned (logged once per worker)",
      );
    }
    const data = message.data;
    if (isJsonObject(data)) data._caller_worker_id = worker.id;

    const outcome = await this.#deps.router.invoke(message.function_id, data, {
      caller: worker,
      invocationId: message.invocation_id,
      traceparent: message.traceparent,
      baggage: message.baggage,
    });
    if (message.invocation_id === undefined) return;

    const body = outcome.type === "success" ? { result: outcome.result } : { error: outcome.error };
    worker.send(encode.invocationResult(message.invocation_id, message.function_id, body, outcome.traceparent, outcome.baggage));
  }

  async #registerFunction(worker: WorkerConnection, message: RegisterFunctionMessage): Promise<void> {
    const { functions, logger } = this.#deps;
    if (message.invocation) return this.#registerExternalFunction(worker, message);

    if (!functions.registerWorker(message, worker)) {
      logger.warn(`worker '${worker.id}' tried to register '${message.id}', which is a built-in function; ignored`);
      return;
    }
    worker.functions.add(message.id);
    logger.debug(`worker '${worker.id}' registered function '${message.id}'`);
  }

  async #registerExternalFunction(worker: WorkerConnection, message: RegisterFunctionMessage): Promise<void> {
    const { functions, logger } = this.#deps;
    const provider = this.#deps.externalFunctions();
    if (!provider) {
      logger.warn(
        `worker '${worker.id}' registered '${message.id}' as an external HTTP function, ` +
          "but modules::http_functions::HttpFunctionsModule is not loaded; add it to config.yaml",
      );
      return;
    }
    if (functions.has(message.id) && !worker.externalFunctions.has(message.id)) {
      logger.warn(`worker '${worker.id}' tried to register external function '${message.id}', whose id is taken; ignored`);
      return;
    }
    try {
      const handler = await provider.create(message, worker);
      functions.registerBuiltin(message, handler);
      worker.externalFunctions.add(message.id);
      logger.debug(`worker '${worker.id}' registered external HTTP function '${message.id}'`);
    } catch (error) {
      logger.warn(`external HTTP function '${message.id}' from worker '${worker.id}' was rejected: ${(error as Error).message}`);
    }
  }

  #unregisterFunction(worker: WorkerConnection, id: string): void {
    const { functions, logger } = this.#deps;
    if (worker.externalFunctions.delete(id)) {
      functions.unregisterBuiltin(id);
      return;
    }
    if (!worker.functions.delete(id)) {
      logger.debug(`worker '${worker.id}' unregistered function '${id}', which it does not serve; ignored`);
      return;
    }
    functions.unregisterWorker(id, worker);
  }

  async #registerTrigger(worker: WorkerConnection, message: RegisterTriggerMessage): Promise<void> {
    const trigger = {
      id: message.id,
      trigger_type: message.trigger_type,
      function_id: message.function_id,
      config: message.config,
      worker_id: worker.id,
    };
    try {
      await this.#deps.triggers.register(trigger);
      worker.triggers.add(trigger.id);
      this.#deps.logger.debug(`worker '${worker.id}' registered ${trigger.trigger_type} trigger '${trigger.id}' for '${trigger.function_id}'`);
    } catch (error) {
      const wireError = toWireError(error, ErrorCode.triggerRegistrationFailed);
      // Module messages usually name the trigger already; repeat the id only when they do not.
      const subject = wireError.message.includes(`'${trigger.id}'`) ? "a trigger" : `${trigger.trigger_type} trigger '${trigger.id}'`;
      this.#deps.logger.warn(`rejected ${subject} from worker '${worker.id}': ${wireError.message}`);
      worker.send(encode.triggerRegistrationResult(trigger.id, trigger.trigger_type, trigger.function_id, wireError));
    }
  }

  async #unregisterTrigger(worker: WorkerConnection, id: string): Promise<void> {
    worker.triggers.delete(id);
    await this.#deps.triggers.unregister(id);
  }

  async #registerTriggerType(worker: WorkerConnection, id: string, description: string): Promise<void> {
    const handler = {
      register: (trigger: { id: string; trigger_type: string; function_id: string; config: unknown }) => {
        if (!worker.send(encode.registerTrigger(trigger.id, trigger.trigger_type, trigger.function_id, trigger.config as never))) {
          throw new EngineError(ErrorCode.triggerRegistrationFailed, `worker '${worker.id}' that provides '${id}' is gone`);
        }
      },
      unregister: (trigger: { id: string; trigger_type: string }) => {
        worker.send(encode.unregisterTrigger(trigger.id, trigger.trigger_type));
      },
    };
    try {
      await this.#deps.triggers.registerType(id, description, { type: "worker", workerId: worker.id }, handler);
      worker.triggerTypes.add(id);
      this.#deps.logger.debug(`worker '${worker.id}' registered trigger type '${id}'`);
    } catch (error) {
      this.#deps.logger.warn(`trigger type '${id}' from worker '${worker.id}' was rejected: ${(error as Error).message}`);
    }
  }

  /** Removes everything a disconnected worker registered; returns how many waiting calls were stopped. */
  async cleanup(worker: WorkerConnection): Promise<number> {
    const { functions, triggers, router } = this.#deps;
    await this.#queues.get(worker);
    for (const id of worker.functions) functions.unregisterWorker(id, worker);
    for (const id of worker.externalFunctions) functions.unregisterBuiltin(id);
    const stopped = router.stopInvocationsOf(worker);

    for (const id of worker.triggers) {
      // A reconnected worker may have re-registered the same trigger id; that one stays.
      if (triggers.get(id)?.worker_id === worker.id) await triggers.unregister(id);
    }
    for (const id of worker.triggerTypes) triggers.unregisterType(id, worker.id);
    worker.functions.clear();
    worker.externalFunctions.clear();
    worker.triggers.clear();
    worker.triggerTypes.clear();
    return stopped;
  }
}
