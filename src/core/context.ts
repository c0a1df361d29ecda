import type { Server, ServeOptions } from "bun";
import type { Logger } from "../telemetry/logger.ts";
import type { JsonValue } from "../util/json.ts";
import type { ChannelManager } from "./channels.ts";
import type { EngineEvents } from "./events.ts";
import type { BuiltinHandler, FunctionDefinition, FunctionInfo } from "./function-registry.ts";
import type { InvocationOutcome, InvokeOptions } from "./router.ts";
import type { TelemetrySink } from "./telemetry-sink.ts";
import type { Tracing } from "./tracing.ts";
import type { Trigger, TriggerTypeHandler } from "./trigger-registry.ts";
import type { WorkerConnection } from "./worker-connection.ts";
import type { ExternalFunctionProvider } from "./worker-protocol.ts";

/** Options for a module's own listener; `label` names it in logs and errors ("HTTP API"). */
export interface ListenOptions {
  label: string;
  host: string;
  port: number;
  fetch: (request: Request, server: Server<unknown>) => Response | Promise<Response> | undefined | Promise<undefined>;
  websocket?: ServeOptions["websocket" & keyof ServeOptions];
  maxRequestBodySize?: number;
  idleTimeoutSeconds?: number;
}

/**
 * Engine services available to a running module. Modules never call each
 * other directly, so they call functions through `invoke`, like any worker.
 */
export interface EngineContext {
  readonly version: string;
  /** Folder for file-backed stores: `III_DATA_DIR`, or `./data` when it is unset. */
  readonly dataDir: string;
  readonly events: EngineEvents;
  readonly channels: ChannelManager;
  readonly tracing: Tracing;
  /**
   * True once shutdown has begun. Calls that end with `invocation_stopped` after
   * this point were cut short by the shutdown, not by a failing worker.
   */
  readonly stopping: boolean;

  createLogger(tag: string): Logger;

  /** Registers a built-in function; workers cannot replace or remove it. */
  registerFunction(definition: FunctionDefinition, handler: BuiltinHandler): void;
  unregisterFunction(id: string): void;
  hasFunction(id: string): boolean;
  listFunctions(): FunctionInfo[];
  /** Calls `listener` after every change to the registered functions. */
  onFunctionsChanged(listener: () => void): () => void;

  /** Adds a trigger type owned by this module; triggers of the type are replayed to it. */
  registerTriggerType(id: string, description: string, handler: TriggerTypeHandler): Promise<void>;
  listTriggers(): Trigger[];

  listWorkers(): WorkerConnection[];
  getWorker(id: string): WorkerConnection | undefined;

  /** Calls a function without a caller worker; resolves with the outcome and never rejects. */
  invoke(functionId: string, data: JsonValue, options?: InvokeOptions): Promise<InvocationOutcome>;

  /** Starts a listener; throws a readable `EngineError` when the address is taken. */
  listen(options: ListenOptions): Server<unknown>;

  setTracing(tracing: Tracing): void;
  setTelemetrySink(sink: TelemetrySink): void;
  setExternalFunctionProvider(provider: ExternalFunctionProvider | null): void;

  /**
   * Applies the engine's worker authentication (the top-level `auth` block) to an
   * upgrade request; returns the 401 response to send, or null to accept.
   */
  authorizeUpgrade(request: Request, address: string, listener: string): Response | null;
}

/** A loaded module. `stop` must be safe to call twice and undo `start` in reverse order. */
export interface EngineModule {
  readonly className: string;
  start(context: EngineContext): Promise<void>;
  stop(): Promise<void>;
}
