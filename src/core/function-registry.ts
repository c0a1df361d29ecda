import type { JsonValue } from "../util/json.ts";

/** Function description as `engine::functions::list` reports it; unset fields are null. */
export interface FunctionInfo {
  function_id: string;
  description: string | null;
  request_format: JsonValue;
  response_format: JsonValue;
  metadata: JsonValue;
}

/** Describes a function being registered; everything but the id is optional. */
export interface FunctionDefinition {
  id: string;
  description?: string;
  request_format?: JsonValue;
  response_format?: JsonValue;
  metadata?: JsonValue;
}

/** Owner of a function: a module running in-process, or a connected worker. */
export type FunctionOwner<W> = { type: "builtin"; handler: BuiltinHandler } | { type: "worker"; worker: W };

/** Per-call facts a built-in handler may need; internal calls have no caller worker. */
export interface CallContext {
  invocationId: string;
  callerWorkerId?: string;
  traceparent?: string;
  baggage?: string;
}

/**
 * A module's function. Returning undefined means "no result" (the `result` key is
 * omitted on the wire); throwing an `EngineError` sends its code and message.
 */
export type BuiltinHandler = (data: JsonValue, call: CallContext) => Promise<JsonValue | undefined> | JsonValue | undefined;

interface Claim<W> {
  owner: FunctionOwner<W>;
  info: FunctionInfo;
}

/**
 * Function ids and their owners. Several connections may claim one worker
 * function at once, as during a rolling restart. The newest live claim serves
 * calls, and the id goes away with its last claim. Workers cannot replace or
 * remove built-in functions.
 */
export class FunctionRegistry<W> {
  readonly #claims = new Map<string, Claim<W>[]>();
  readonly #listeners = new Set<() => void>();

  /** Registers a module function; a second registration of the same id replaces the first. */
  registerBuiltin(definition: FunctionDefinition, handler: BuiltinHandler): void {
    this.#claims.set(definition.id, [{ owner: { type: "builtin", handler }, info: toInfo(definition) }]);
    this.#changed();
  }

  /** Adds a worker's claim; returns false when the id belongs to a built-in function. */
  registerWorker(definition: FunctionDefinition, worker: W): boolean {
    const claims = this.#claims.get(definition.id) ?? [];
    if (claims[0]?.owner.type === "builtin") return false;

    const others = claims.filter((claim) => claim.owner.type !== "worker" || claim.owner.worker !== worker);
    others.push({ owner: { type: "worker", worker }, info: toInfo(definition) });
    this.#claims.set(definition.id, others);
    this.#changed();
    return true;
  }

  /** Removes one worker's claim; other claimants keep serving the id. */
  unregisterWorker(id: string, worker: W): boolean {
    const claims = this.#claims.get(id);
    if (!claims) return false;
    const remaining = claims.filter((claim) => claim.owner.type !== "worker" || claim.owner.worker !== worker);
    if (remaining.length === claims.length) return false;

    if (remaining.length === 0) this.#claims.delete(id);
    else this.#claims.set(id, remaining);
    this.#changed();
    return true;
  }

  unregisterBuiltin(id: string): void {
    const claims = this.#claims.get(id);
    if (claims?.[0]?.owner.type !== "builtin") return;
    this.#claims.delete(id);
    this.#changed();
  }

  /** Returns the owner that serves `id` now: the newest claim. */
  resolve(id: string): FunctionOwner<W> | undefined {
    const claims = this.#claims.get(id);
    return claims?.[claims.length - 1]?.owner;
  }

  has(id: string): boolean {
    return this.#claims.has(id);
  }

  isBuiltin(id: string): boolean {
    return this.#claims.get(id)?.[0]?.owner.type === "builtin";
  }

  info(id: string): FunctionInfo | undefined {
    const claims = this.#claims.get(id);
    return claims?.[claims.length - 1]?.info;
  }

  list(): FunctionInfo[] {
    const infos: FunctionInfo[] = [];
    for (const claims of this.#claims.values()) infos.push(claims[claims.length - 1]!.info);
    return infos;
  }

  ids(): string[] {
    return [...this.#claims.keys()];
  }

  get size(): number {
    return this.#claims.size;
  }

  /** Calls `listener` after every change to the set of ids or their definitions. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

function toInfo(definition: FunctionDefinition): FunctionInfo {
  return {
    function_id: definition.id,
    description: definition.description ?? null,
    request_format: definition.request_format ?? null,
    response_format: definition.response_format ?? null,
    metadata: definition.metadata ?? null,
  };
}
