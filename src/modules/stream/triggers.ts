import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import type { EngineContext } from "../module.ts";
import type { StreamEvent } from "./events.ts";
import type { TraceHeaders } from "./functions.ts";

interface StreamTriggerFilter {
  triggerId: string;
  functionId: string;
  streamName: string;
  groupId: string | null;
  itemId: string | null;
  conditionFunctionId: string | null;
}

/** Payload of `stream:join` and `stream:leave` handlers. */
export interface SubscriptionPayload {
  subscription_id: string;
  stream_name: string;
  group_id: string;
  id: string | null;
  context: JsonValue;
}

/**
 * Triggers of the types `stream` (item and group events), `stream:join` and
 * `stream:leave` (sockets subscribing and unsubscribing).
 */
export class StreamTriggers {
  readonly #context: EngineContext;
  readonly #logger: Logger;
  readonly #streamTriggers = new Map<string, StreamTriggerFilter>();
  readonly #joinTriggers = new Map<string, Trigger>();
  readonly #leaveTriggers = new Map<string, Trigger>();

  constructor(context: EngineContext, logger: Logger) {
    this.#context = context;
    this.#logger = logger;
  }

  async register(): Promise<void> {
    await this.#context.registerTriggerType("stream", "Changes and custom events of stream items and groups", {
      register: (trigger) => {
        this.#streamTriggers.set(trigger.id, parseStreamTrigger(trigger));
      },
      unregister: (trigger) => {
        this.#streamTriggers.delete(trigger.id);
      },
    });
    await this.#context.registerTriggerType("stream:join", "A stream socket subscribes; a handler may refuse it", {
      register: (trigger) => {
        this.#joinTriggers.set(trigger.id, trigger);
      },
      unregister: (trigger) => {
        this.#joinTriggers.delete(trigger.id);
      },
    });
    await this.#context.registerTriggerType("stream:leave", "A stream socket unsubscribes or disconnects", {
      register: (trigger) => {
        this.#leaveTriggers.set(trigger.id, trigger);
      },
      unregister: (trigger) => {
        this.#leaveTriggers.delete(trigger.id);
      },
    });
  }

  /**
   * Runs the `stream` triggers that match `event`, one after another, in a
   * background task; the caller does not wait for them.
   */
  dispatch(event: StreamEvent, trace: TraceHeaders): void {
    if (this.#streamTriggers.size === 0) return;

    const matching = [...this.#streamTriggers.values()].filter((filter) => matches(filter, event));
    if (matching.length === 0) return;

    void this.#runInTurn(matching, event, trace).catch((error) => this.#logger.error("stream trigger task failed", error));
  }

  /** Runs every `stream:join` handler in turn; returns false as soon as one returns `{unauthorized: true}`. */
  async authorizeJoin(payload: SubscriptionPayload): Promise<boolean> {
    for (const trigger of [...this.#joinTriggers.values()]) {
      const outcome = await this.#context.invoke(trigger.function_id, payload as unknown as JsonValue);
      if (outcome.type === "failure") {
        this.#logger.warn(`stream:join handler '${trigger.function_id}' failed: ${outcome.error.code}: ${outcome.error.message}`);
        continue;
      }
      if (isJsonObject(outcome.result) && outcome.result.unauthorized === true) return false;
    }
    return true;
  }

  /** Runs every `stream:leave` handler in turn; failures are logged. */
  async notifyLeave(payload: SubscriptionPayload): Promise<void> {
    for (const trigger of [...this.#leaveTriggers.values()]) {
      const outcome = await this.#context.invoke(trigger.function_id, payload as unknown as JsonValue);
      if (outcome.type === "failure") {
        this.#logger.warn(`stream:leave handler '${trigger.function_id}' failed: ${outcome.error.code}: ${outcome.error.message}`);
      }
    }
  }

  async #runInTurn(filters: StreamTriggerFilter[], event: StreamEvent, trace: TraceHeaders): Promise<void> {
    const payload = event as unknown as JsonValue;
    const options = { traceparent: trace.traceparent, baggage: trace.baggage };

    for (const filter of filters) {
      if (filter.conditionFunctionId !== null) {
        const verdict = await this.#context.invoke(filter.conditionFunctionId, payload, options);
        // A condition that fails, returns false or returns nothing skips the trigger.
        if (verdict.type === "failure" || verdict.result === false || verdict.result === undefined || verdict.result === null) continue;
      }

      const outcome = await this.#context.invoke(filter.functionId, payload, options);
      if (outcome.type === "failure") {
        this.#logger.debug(`stream trigger '${filter.triggerId}' handler '${filter.functionId}' failed: ${outcome.error.code}`);
      }
    }
  }
}

function parseStreamTrigger(trigger: Trigger): StreamTriggerFilter {
  const config = isJsonObject(trigger.config) ? trigger.config : {};
  const streamName = config.stream_name;
  if (typeof streamName !== "string" || streamName === "") {
    throw new EngineError(
      ErrorCode.triggerRegistrationFailed,
      `stream trigger '${trigger.id}' needs a non-empty string 'stream_name' in its config`,
    );
  }

  return {
    triggerId: trigger.id,
    functionId: trigger.function_id,
    streamName,
    groupId: optionalFilter(trigger, config.group_id, "group_id"),
    itemId: optionalFilter(trigger, config.item_id, "item_id"),
    conditionFunctionId: optionalFilter(trigger, config.condition_function_id, "condition_function_id"),
  };
}

/** Reads an optional string filter; an empty string means "no filter". */
function optionalFilter(trigger: Trigger, value: JsonValue | undefined, key: string): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string") {
    throw new EngineError(ErrorCode.triggerRegistrationFailed, `stream trigger '${trigger.id}' has a non-string '${key}'; use a string or leave it out`);
  }
  return value;
}

function matches(filter: StreamTriggerFilter, event: StreamEvent): boolean {
  if (filter.streamName !== event.streamName) return false;
  if (filter.groupId !== null && filter.groupId !== event.groupId) return false;
  if (filter.itemId !== null && filter.itemId !== event.id) return false;
  return true;
}
