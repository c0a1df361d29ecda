import type { Logger } from "../telemetry/logger.ts";
import type { JsonValue } from "../util/json.ts";
import { EngineError, ErrorCode } from "./errors.ts";

/** A trigger binds a function to an event source; `worker_id` is null for triggers a module made itself. */
export interface Trigger {
  id: string;
  trigger_type: string;
  function_id: string;
  config: JsonValue;
  worker_id: string | null;
}

/**
 * Hooks a trigger type runs when a trigger of its type comes and goes.
 * `register` throws an `EngineError` to reject a trigger (bad config, for
 * example); `unregister` failures are logged and the trigger is removed anyway.
 */
export interface TriggerTypeHandler {
  register(trigger: Trigger): Promise<void> | void;
  unregister(trigger: Trigger): Promise<void> | void;
}

export type TriggerTypeOwner = { type: "module"; name: string } | { type: "worker"; workerId: string };

interface TriggerTypeEntry {
  id: string;
  description: string;
  owner: TriggerTypeOwner;
  handler: TriggerTypeHandler;
}

/**
 * Trigger types and the triggers registered against them. Triggers of a
 * worker-provided type outlive that worker and are replayed to the next worker
 * that provides the type.
 */
export class TriggerRegistry {
  readonly #types = new Map<string, TriggerTypeEntry>();
  readonly #triggers = new Map<string, Trigger>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /**
   * Adds a trigger type and replays the stored triggers of that type to it.
   * A module type cannot be replaced; throws when a worker tries.
   */
  async registerType(id: string, description: string, owner: TriggerTypeOwner, handler: TriggerTypeHandler): Promise<void> {
    const existing = this.#types.get(id);
    if (existing?.owner.type === "module") {
      throw new EngineError(ErrorCode.triggerRegistrationFailed, `trigger type '${id}' is provided by the engine and cannot be replaced`);
    }
    this.#types.set(id, { id, description, owner, handler });

    for (const trigger of this.#triggers.values()) {
      if (trigger.trigger_type !== id) continue;
      try {
        await handler.register(trigger);
      } catch (error) {
        this.#logger.warn(`replaying trigger '${trigger.id}' to trigger type '${id}' failed`, error);
      }
    }
  }

  /** Removes a type if `owner` still owns it; its triggers stay stored for a later provider. */
  unregisterType(id: string, workerId: string): boolean {
    const entry = this.#types.get(id);
    if (entry?.owner.type !== "worker" || entry.owner.workerId !== workerId) return false;
    this.#types.delete(id);
    return true;
  }

  hasType(id: string): boolean {
    return this.#types.has(id);
  }

  /**
   * Registers a trigger through its type's hook, replacing a trigger with the same id.
   * Throws `trigger_type_not_found` for an unknown type, or what the hook throws.
   */
  async register(trigger: Trigger): Promise<void> {
    const type = this.#types.get(trigger.trigger_type);
    if (!type) {
      throw new EngineError(
        ErrorCode.triggerTypeNotFound,
        `trigger type '${trigger.trigger_type}' is not registered; load the module that provides it or register it from a worker first`,
      );
    }
    if (this.#triggers.has(trigger.id)) await this.unregister(trigger.id);

    await type.handler.register(trigger);
    this.#triggers.set(trigger.id, trigger);
  }

  /** Removes a trigger; its type's hook runs, and a hook failure is logged without keeping the trigger. */
  async unregister(id: string): Promise<Trigger | undefined> {
    const trigger = this.#triggers.get(id);
    if (!trigger) return undefined;
    this.#triggers.delete(id);

    const type = this.#types.get(trigger.trigger_type);
    if (!type) return trigger;
    try {
      await type.handler.unregister(trigger);
    } catch (error) {
      this.#logger.warn(`trigger type '${trigger.trigger_type}' failed to release trigger '${id}'; removed it anyway`, error);
    }
    return trigger;
  }

  get(id: string): Trigger | undefined {
    return this.#triggers.get(id);
  }

  list(): Trigger[] {
    return [...this.#triggers.values()];
  }

  listOfType(type: string): Trigger[] {
    return this.list().filter((trigger) => trigger.trigger_type === type);
  }

  get size(): number {
    return this.#triggers.size;
  }
}
