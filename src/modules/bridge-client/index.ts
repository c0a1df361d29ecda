import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { CallContext } from "../../core/function-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import { BridgeConnection, type RemoteInvocation } from "./bridge-connection.ts";
import { DEFAULT_FORWARD_TIMEOUT_MS, describeBridgeUrl, parseBridgeClientConfig, type BridgeClientConfig } from "./config.ts";

export { BRIDGE_ERROR, RECONNECT_INITIAL_DELAY_MS, RECONNECT_MAX_DELAY_MS } from "./bridge-connection.ts";
export { DEFAULT_BRIDGE_URL, parseBridgeClientConfig, type BridgeClientConfig } from "./config.ts";

export const bridgeClientModuleFactory: ModuleFactory = {
  className: "modules::bridge_client::BridgeClientModule",
  summary: "connects to another engine as a worker to call its functions and offer local ones",
  create(config, path, environment): EngineModule {
    return new BridgeClientModule(parseBridgeClientConfig(config, path, environment.env));
  },
};

const INVOKE = "bridge.invoke";
const INVOKE_ASYNC = "bridge.invoke_async";
const BRIDGE_RUNTIME = "iii-bridge";

/**
 * Joins another engine as a worker: `expose` entries register local functions
 * on the remote engine, `forward` entries register remote functions here, and
 * `bridge.invoke` calls any remote function. Start-up never waits for the
 * remote engine; registrations are sent again after every reconnect.
 */
export class BridgeClientModule implements EngineModule {
  readonly className = bridgeClientModuleFactory.className;
  readonly #config: BridgeClientConfig;
  readonly #exposed: Map<string, string>;
  #context: EngineContext | null = null;
  #logger: Logger | null = null;
  #connection: BridgeConnection | null = null;
  readonly #registered: string[] = [];

  constructor(config: BridgeClientConfig) {
    this.#config = config;
    this.#exposed = new Map(config.expose.map((entry) => [entry.remoteFunction, entry.localFunction]));
  }

  /** True while the link to the remote engine is up. */
  get connected(): boolean {
    return this.#connection?.isOpen ?? false;
  }

  async start(context: EngineContext): Promise<void> {
    this.#context = context;
    const logger = context.createLogger("bridge");
    this.#logger = logger;
    const connection = new BridgeConnection({
      url: this.#config.url,
      logger,
      onOpen: () => this.#registerRemotely(),
      onInvoke: (invocation) => void this.#serveRemoteCall(invocation),
    });
    this.#connection = connection;

    this.#registerLocally(context, connection);
    connection.start();
  }

  async stop(): Promise<void> {
    this.#connection?.stop();
    this.#connection = null;
    for (const id of this.#registered.splice(0)) this.#context?.unregisterFunction(id);
  }

  #registerLocally(context: EngineContext, connection: BridgeConnection): void {
    for (const entry of this.#config.forward) {
      context.registerFunction(
        { id: entry.localFunction, description: `calls '${entry.remoteFunction}' on the engine at ${describeBridgeUrl(this.#config.url)}` },
        (data, call) => connection.invoke(entry.remoteFunction, withoutCallerId(data), entry.timeoutMs, traceOf(call)),
      );
      this.#registered.push(entry.localFunction);
    }

    context.registerFunction({ id: INVOKE, description: "Call a function on the bridged engine and return its result" }, (data, call) => {
      const request = parseInvokeInput(INVOKE, data);
      return connection.invoke(request.functionId, request.data, request.timeoutMs, traceOf(call));
    });
    context.registerFunction({ id: INVOKE_ASYNC, description: "Call a function on the bridged engine without waiting" }, (data, call) => {
      const request = parseInvokeInput(INVOKE_ASYNC, data);
      connection.invokeAsync(request.functionId, request.data, traceOf(call));
      return undefined;
    });
    this.#registered.push(INVOKE, INVOKE_ASYNC);
  }

  /** Sends the registrations for this link; runs after every (re)connect. */
  #registerRemotely(): void {
    const connection = this.#connection;
    const context = this.#context;
    if (!connection || !context) return;

    const { serviceId, serviceName } = this.#config;
    if (serviceId) connection.send({ type: "registerservice", id: serviceId, name: serviceName ?? serviceId });
    for (const [remoteFunction, localFunction] of this.#exposed) {
      connection.send({ type: "registerfunction", id: remoteFunction, description: `served by '${localFunction}' on a bridged engine` });
    }
    connection.send({
      type: "invokefunction",
      function_id: "engine::workers::register",
      data: { runtime: BRIDGE_RUNTIME, version: context.version, name: serviceName ?? serviceId ?? BRIDGE_RUNTIME },
    });
    this.#logger?.info(`registered ${this.#exposed.size} exposed functions on the remote engine`);
  }

  async #serveRemoteCall(invocation: RemoteInvocation): Promise<void> {
    const context = this.#context;
    const connection = this.#connection;
    if (!context || !connection) return;

    const localFunction = this.#exposed.get(invocation.functionId);
    const outcome = localFunction
      ? await context.invoke(localFunction, withoutCallerId(invocation.data), { traceparent: invocation.traceparent, baggage: invocation.baggage })
      : ({
          type: "failure",
          error: { code: ErrorCode.functionNotFound, message: `Function ${invocation.functionId} is not exposed by this bridge` },
        } as const);
    if (invocation.invocationId === null) return;

    connection.send({
      type: "invocationresult",
      invocation_id: invocation.invocationId,
      function_id: invocation.functionId,
      result: outcome.type === "success" ? outcome.result : undefined,
      error: outcome.type === "failure" ? { code: outcome.error.code, message: outcome.error.message } : undefined,
    });
  }
}

/** Validates `{function_id, data?, timeout_ms?}`. */
function parseInvokeInput(functionId: string, input: JsonValue): { functionId: string; data: JsonValue; timeoutMs: number } {
  if (!isJsonObject(input) || typeof input.function_id !== "string" || input.function_id === "") {
    throw new EngineError(ErrorCode.deserializationError, `Failed to deserialize input for ${functionId}: missing 'function_id'`);
  }
  const timeout = input.timeout_ms;
  if (timeout !== undefined && timeout !== null && (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout <= 0)) {
    throw new EngineError(ErrorCode.deserializationError, `Failed to deserialize input for ${functionId}: 'timeout_ms' must be a positive integer`);
  }
  return {
    functionId: input.function_id,
    data: input.data === undefined ? null : input.data,
    timeoutMs: typeof timeout === "number" ? timeout : DEFAULT_FORWARD_TIMEOUT_MS,
  };
}

/** Drops `_caller_worker_id`: it names a worker of the engine the call came from, which means nothing on the other side. */
function withoutCallerId(data: JsonValue): JsonValue {
  if (!isJsonObject(data) || !("_caller_worker_id" in data)) return data;
  const { _caller_worker_id: _, ...rest } = data;
  return rest;
}

function traceOf(call: CallContext): { traceparent?: string; baggage?: string } {
  return { traceparent: call.traceparent, baggage: call.baggage };
}
