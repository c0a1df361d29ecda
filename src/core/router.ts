import { randomUUIDv7 } from "bun";
import type { Logger } from "../telemetry/logger.ts";
import type { JsonValue } from "../util/json.ts";
import { ErrorCode, toWireError, type WireError } from "./errors.ts";
import type { EngineEvents } from "./events.ts";
import type { FunctionRegistry } from "./function-registry.ts";
import { encode, type InvocationResultMessage } from "./protocol.ts";
import type { SpanAttributes, SpanKind, Tracing } from "./tracing.ts";
import type { WorkerConnection } from "./worker-connection.ts";

/** Outcome of an invocation; a success without `result` is sent with the `result` key omitted. */
export type InvocationOutcome =
  | { type: "success"; result?: JsonValue; traceparent?: string; baggage?: string }
  | { type: "failure"; error: WireError; traceparent?: string; baggage?: string };

/** Options of one call; internal calls from modules pass no caller. */
export interface InvokeOptions {
  caller?: WorkerConnection;
  invocationId?: string;
  traceparent?: string;
  baggage?: string;
  span?: { name?: string; kind?: SpanKind; attributes?: SpanAttributes };
}

interface PendingInvocation {
  functionId: string;
  callee: WorkerConnection;
  callerId?: string;
  settle(outcome: InvocationOutcome): void;
}

const STOPPED: WireError = { code: ErrorCode.invocationStopped, message: "Invocation stopped" };

/**
 * Routes calls to built-in handlers or to the worker that serves a function, and
 * tracks calls waiting for a worker's `invocationresult`. There is no timeout on
 * worker calls (callers time out themselves), but every waiting call ends with
 * `invocation_stopped` when its callee or caller disconnects or the engine stops.
 */
export class Router {
  readonly #functions: FunctionRegistry<WorkerConnection>;
  readonly #events: EngineEvents;
  readonly #logger: Logger;
  readonly #maxPendingPerWorker: number;
  readonly #pending = new Map<string, PendingInvocation>();
  tracing: Tracing;

  constructor(options: {
    functions: FunctionRegistry<WorkerConnection>;
    events: EngineEvents;
    tracing: Tracing;
    logger: Logger;
    maxPendingPerWorker: number;
  }) {
    this.#functions = options.functions;
    this.#events = options.events;
    this.tracing = options.tracing;
    this.#logger = options.logger;
    this.#maxPendingPerWorker = options.maxPendingPerWorker;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Calls a function and resolves with its outcome; never rejects. */
  async invoke(functionId: string, data: JsonValue, options: InvokeOptions = {}): Promise<InvocationOutcome> {
    const owner = this.#functions.resolve(functionId);
    if (!owner) {
      return {
        type: "failure",
        error: { code: ErrorCode.functionNotFound, message: `Function ${functionId} not found` },
        traceparent: options.traceparent,
        baggage: options.baggage,
      };
    }

    const tracing = this.tracing;
    const span = tracing.startSpan({
      name: tracing.recording ? (options.span?.name ?? `call ${functionId}`) : functionId,
      kind: options.span?.kind ?? "server",
      traceparent: options.traceparent,
      baggage: options.baggage,
      attributes: tracing.recording ? { function_id: functionId, ...options.span?.attributes } : undefined,
    });
    const timed = this.#events.hasListeners("invocation_completed");
    const startedAt = timed ? performance.now() : 0;

    let outcome: InvocationOutcome;
    if (owner.type === "builtin") {
      outcome = await this.#invokeBuiltin(owner.handler, functionId, data, options, span.traceparent, span.baggage);
    } else {
      outcome = await this.#invokeWorker(owner.worker, functionId, data, options, span.traceparent, span.baggage);
    }

    span.end(outcome.type === "failure" ? outcome.error : undefined);
    if (timed) {
      this.#events.emit("invocation_completed", {
        functionId,
        ownerType: owner.type,
        durationMs: performance.now() - startedAt,
        outcome: outcome.type === "success" ? "success" : "error",
        errorCode: outcome.type === "failure" ? outcome.error.code : undefined,
      });
    }
    outcome.traceparent = span.traceparent;
    outcome.baggage = span.baggage;
    return outcome;
  }

  /** Completes the waiting call that a worker's `invocationresult` belongs to; unknown or foreign ids are dropped. */
  complete(worker: WorkerConnection, message: InvocationResultMessage): void {
    const pending = this.#pending.get(message.invocation_id);
    if (!pending || pending.callee !== worker) {
      // Late results are normal after a timeout, a caller that left or an engine restart. A worker
      // may then send many at once, so only the first from each connection is a warning.
      const detail = `worker '${worker.id}' sent a result for invocation '${message.invocation_id}', which is not waiting for it; dropped`;
      if (worker.lateResults++ === 0) this.#logger.warn(`${detail} (further ones from this worker are logged at debug level)`);
      else this.#logger.debug(detail);
      return;
    }
    if (message.error) pending.settle({ type: "failure", error: message.error, traceparent: message.traceparent, baggage: message.baggage });
    else pending.settle({ type: "success", result: message.result, traceparent: message.traceparent, baggage: message.baggage });
  }

  /** Ends every waiting call in which `worker` is caller or callee; returns how many ended. */
  stopInvocationsOf(worker: WorkerConnection): number {
    let stopped = 0;
    for (const invocationId of worker.invocations) {
      const pending = this.#pending.get(invocationId);
      if (!pending) continue;
      pending.settle({ type: "failure", error: STOPPED });
      stopped++;
    }
    worker.invocations.clear();
    return stopped;
  }

  /** Ends every waiting call, for shutdown; returns how many ended. */
  stopAll(): number {
    const pending = [...this.#pending.values()];
    for (const entry of pending) entry.settle({ type: "failure", error: STOPPED });
    return pending.length;
  }

  async #invokeBuiltin(
    handler: (data: JsonValue, call: { invocationId: string; callerWorkerId?: string; traceparent?: string; baggage?: string }) => unknown,
    functionId: string,
    data: JsonValue,
    options: InvokeOptions,
    traceparent?: string,
    baggage?: string,
  ): Promise<InvocationOutcome> {
    try {
      const result = (await handler(data, {
        invocationId: options.invocationId ?? randomUUIDv7(),
        callerWorkerId: options.caller?.id,
        traceparent,
        baggage,
      })) as JsonValue | undefined;
      return { type: "success", result };
    } catch (error) {
      const wireError = toWireError(error, ErrorCode.invocationError);
      if (wireError.code === ErrorCode.invocationError) this.#logger.error(`built-in function '${functionId}' failed`, error);
      return { type: "failure", error: wireError };
    }
  }

  #invokeWorker(
    callee: WorkerConnection,
    functionId: string,
    data: JsonValue,
    options: InvokeOptions,
    traceparent?: string,
    baggage?: string,
  ): Promise<InvocationOutcome> {
    if (callee.invocations.size >= this.#maxPendingPerWorker) {
      return Promise.resolve({
        type: "failure",
        error: {
          code: ErrorCode.limitExceeded,
          message: `worker '${callee.id}' already has ${this.#maxPendingPerWorker} invocations in flight; retry later or raise max_pending_invocations`,
        },
      });
    }

    const requested = options.invocationId;
    const invocationId = requested && !this.#pending.has(requested) ? requested : crypto.randomUUID();
    const caller = options.caller;

    return new Promise<InvocationOutcome>((resolve) => {
      const settle = (outcome: InvocationOutcome): void => {
        if (this.#pending.get(invocationId) !== entry) return;
        this.#pending.delete(invocationId);
        callee.invocations.delete(invocationId);
        caller?.invocations.delete(invocationId);
        resolve(outcome);
      };
      const entry: PendingInvocation = { functionId, callee, callerId: caller?.id, settle };

      // The entry exists before the frame is written, so a fast reply always finds it.
      this.#pending.set(invocationId, entry);
      callee.invocations.add(invocationId);
      caller?.invocations.add(invocationId);
      if (!callee.send(encode.invokeFunction(invocationId, functionId, data, traceparent, baggage))) {
        settle({ type: "failure", error: STOPPED });
      }
    });
  }
}
