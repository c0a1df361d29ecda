import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import type { EngineContext } from "../module.ts";

export const STATE_TRIGGER_TYPE = "state";

export type StateEventType = "state:created" | "state:updated" | "state:deleted";

/** The payload a `state` trigger's function receives; `new_value` is null for deletes. */
export interface StateEvent {
  type: "state";
  event_type: StateEventType;
  scope: string;
  key: string;
  old_value: JsonValue;
  new_value: JsonValue;
}

/** Trace context of the call that caused an event, handed on to the trigger functions. */
export interface TraceContext {
  traceparent?: string;
  baggage?: string;
}

interface StateTrigger {
  id: string;
  functionId: string;
  scope?: string;
  key?: string;
  conditionFunctionId?: string;
}

/**
 * Registry of `state` triggers, which also delivers state events to them.
 * Events of one key arrive in the order they were emitted. The triggers that
 * match an event run one after another, after the writing call has replied.
 */
export class StateTriggers {
  readonly #context: EngineContext;
  readonly #logger: Logger;
  readonly #triggers = new Map<string, StateTrigger>();
  readonly #queues = new Map<string, Promise<void>>();
  #stopped = false;

  constructor(context: EngineContext, logger: Logger) {
    this.#context = context;
    this.#logger = logger;
  }

  /** Adds a trigger; throws `trigger_registration_failed` when a filter is not a string. */
  add(trigger: Trigger): void {
    const config = isJsonObject(trigger.config) ? trigger.config : {};
    this.#triggers.set(trigger.id, {
      id: trigger.id,
      functionId: trigger.function_id,
      scope: readFilter(trigger.id, config, "scope"),
      key: readFilter(trigger.id, config, "key"),
      conditionFunctionId: readFilter(trigger.id, config, "condition_function_id"),
    });
  }

  remove(triggerId: string): void {
    this.#triggers.delete(triggerId);
  }

  /** Queues `event` for the triggers that match it now; returns at once. */
  emit(event: StateEvent, trace: TraceContext): void {
    if (this.#stopped) return;

    const matching = Array.from(this.#triggers.values()).filter((trigger) => matches(trigger, event));
    if (matching.length === 0) return;

    const queueKey = `${event.scope}\u0000${event.key}`;
    const previous = this.#queues.get(queueKey) ?? Promise.resolve();
    const next = previous.then(() => this.#deliver(event, matching, trace));
    this.#queues.set(queueKey, next);
    void next.finally(() => {
      if (this.#queues.get(queueKey) === next) this.#queues.delete(queueKey);
    });
  }

  /** Drops events not yet delivered; a delivery in progress finishes its current call. */
  stop(): void {
    this.#stopped = true;
    this.#triggers.clear();
  }

  async #deliver(event: StateEvent, triggers: StateTrigger[], trace: TraceContext): Promise<void> {
    for (const trigger of triggers) {
      if (this.#stopped || !this.#triggers.has(trigger.id)) continue;

      try {
        await this.#run(trigger, event, trace);
      } catch (error) {
        this.#logger.error(`state trigger '${trigger.id}' could not run`, error);
      }
    }
  }

  async #run(trigger: StateTrigger, event: StateEvent, trace: TraceContext): Promise<void> {
    const payload = event as unknown as JsonValue;

    if (trigger.conditionFunctionId !== undefined) {
      const condition = await this.#context.invoke(trigger.conditionFunctionId, payload, trace);
      if (!conditionAllows(condition)) {
        this.#logger.debug(`state trigger '${trigger.id}' skipped by its condition '${trigger.conditionFunctionId}'`);
        return;
      }
    }

    const outcome = await this.#context.invoke(trigger.functionId, payload, trace);
    if (outcome.type === "failure") {
      this.#logger.warn(
        `state trigger '${trigger.id}': function '${trigger.functionId}' failed with '${outcome.error.code}': ${outcome.error.message}`,
      );
    }
  }
}

function matches(trigger: StateTrigger, event: StateEvent): boolean {
  if (trigger.scope !== undefined && trigger.scope !== event.scope) return false;
  if (trigger.key !== undefined && trigger.key !== event.key) return false;
  return true;
}

// A condition that fails, returns nothing, or returns false skips the event;
// any other result, booleans or not, lets it through.
function conditionAllows(outcome: Awaited<ReturnType<EngineContext["invoke"]>>): boolean {
  if (outcome.type === "failure") return false;
  return outcome.result !== undefined && outcome.result !== null && outcome.result !== false;
}

function readFilter(triggerId: string, config: { [key: string]: JsonValue }, field: string): string | undefined {
  const value = Object.hasOwn(config, field) ? config[field] : undefined;
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;

  throw new EngineError(
    ErrorCode.triggerRegistrationFailed,
    `state trigger '${triggerId}' has a non-string '${field}'; give a string or leave it out`,
  );
}
