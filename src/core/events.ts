import type { WorkerConnection } from "./worker-connection.ts";

/** One finished invocation, as seen by metrics. */
export interface InvocationRecord {
  functionId: string;
  ownerType: "builtin" | "worker";
  durationMs: number;
  outcome: "success" | "error";
  errorCode?: string;
}

/** One completed HTTP request; `route` is the registered path, or null when no route matched. */
export interface HttpRequestRecord {
  method: string;
  route: string | null;
  status: number;
  durationMs: number;
}

/** Engine events that modules may listen to; listeners run synchronously and must not throw. */
export interface EngineEventMap {
  worker_connected: WorkerConnection;
  worker_disconnected: WorkerConnection;
  worker_metadata_updated: WorkerConnection;
  invocation_completed: InvocationRecord;
  http_request_completed: HttpRequestRecord;
}

type Listener<T> = (payload: T) => void;

export class EngineEvents {
  readonly #listeners = new Map<keyof EngineEventMap, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof EngineEventMap>(event: K, listener: Listener<EngineEventMap[K]>): () => void {
    let set = this.#listeners.get(event) as Set<Listener<EngineEventMap[K]>> | undefined;
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set as Set<Listener<never>>);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  hasListeners(event: keyof EngineEventMap): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<K extends keyof EngineEventMap>(event: K, payload: EngineEventMap[K]): void {
    const set = this.#listeners.get(event) as Set<Listener<EngineEventMap[K]>> | undefined;
    if (!set) return;
    for (const listener of set) listener(payload);
  }
}
