import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Queue sizes read at scrape time; `dlq` is absent when the queue does not report it. */
export interface QueueDepth {
  topic: string;
  depth: number;
  dlq?: number;
}

/** Values read at scrape time from the engine's registries. */
export interface EngineMetricsSources {
  workersConnected(): number;
  functionsRegistered(): number;
  triggersRegistered(): number;
  /** Resolves with the current queue sizes, or an empty list when no queue module is loaded. */
  queueDepths(): Promise<QueueDepth[]>;
}

const QUEUE_SNAPSHOT_MS = 500;
const DURATION_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The engine's Prometheus metrics (`iii_*` plus the process metrics prom-client
 * collects) in a registry of their own, so several engines in one process do
 * not share counters. Labels carry function ids, routes and topics, never
 * worker ids or payloads.
 */
export class EngineMetrics {
  readonly #registry = new Registry();
  readonly #invocations: Counter<"function_id" | "outcome">;
  readonly #invocationDuration: Histogram<"function_id">;
  readonly #httpRequests: Counter<"method" | "route" | "status">;
  readonly #httpDuration: Histogram<"method" | "route">;

  constructor(sources: EngineMetricsSources) {
    const registers = [this.#registry];
    collectDefaultMetrics({ register: this.#registry, prefix: "iii_" });

    this.#invocations = new Counter({
      name: "iii_invocations_total",
      help: "Finished function invocations by function id and outcome (success or error)",
      labelNames: ["function_id", "outcome"],
      registers,
    });
    this.#invocationDuration = new Histogram({
      name: "iii_invocation_duration_seconds",
      help: "Time from routing an invocation to its result, in seconds",
      labelNames: ["function_id"],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.#httpRequests = new Counter({
      name: "iii_http_requests_total",
      help: "HTTP API responses by method, registered route and status code",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.#httpDuration = new Histogram({
      name: "iii_http_request_duration_seconds",
      help: "Time from an HTTP API request to its response, in seconds",
      labelNames: ["method", "route"],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.#registerGauges(sources);
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  recordInvocation(functionId: string, outcome: "success" | "error", durationSeconds: number): void {
    this.#invocations.inc({ function_id: functionId, outcome });
    this.#invocationDuration.observe({ function_id: functionId }, durationSeconds);
  }

  /** Records a request that got a response; `route` is the registered path, or null when no route matched. */
  recordHttpRequest(method: string, route: string | null, status: number, durationSeconds: number): void {
    const routeLabel = route ?? "unmatched";
    this.#httpRequests.inc({ method, route: routeLabel, status: String(status) });
    this.#httpDuration.observe({ method, route: routeLabel }, durationSeconds);
  }

  /** Renders the registry in the Prometheus text exposition format. */
  render(): Promise<string> {
    return this.#registry.metrics();
  }

  #registerGauges(sources: EngineMetricsSources): void {
    const registers = [this.#registry];
    new Gauge({
      name: "iii_workers_connected",
      help: "Worker connections open now, including SDK telemetry connections",
      registers,
      collect() {
        this.set(sources.workersConnected());
      },
    });
    new Gauge({
      name: "iii_functions_registered",
      help: "Functions registered now, built-in ones included",
      registers,
      collect() {
        this.set(sources.functionsRegistered());
      },
    });
    new Gauge({
      name: "iii_triggers_registered",
      help: "Triggers registered now",
      registers,
      collect() {
        this.set(sources.triggersRegistered());
      },
    });

    // Both queue gauges read one snapshot per scrape, so depth and DLQ size agree.
    let snapshot: { at: number; depths: Promise<QueueDepth[]> } | null = null;
    const readQueues = (): Promise<QueueDepth[]> => {
      const now = Date.now();
      if (!snapshot || now - snapshot.at > QUEUE_SNAPSHOT_MS) snapshot = { at: now, depths: sources.queueDepths() };
      return snapshot.depths;
    };
    new Gauge({
      name: "iii_queue_depth",
      help: "Jobs waiting in each queue topic",
      labelNames: ["topic"],
      registers,
      async collect() {
        this.reset();
        for (const entry of await readQueues()) this.set({ topic: entry.topic }, entry.depth);
      },
    });
    new Gauge({
      name: "iii_queue_dlq_size",
      help: "Jobs in each queue topic's dead-letter queue",
      labelNames: ["topic"],
      registers,
      async collect() {
        this.reset();
        for (const entry of await readQueues()) {
          if (entry.dlq !== undefined) this.set({ topic: entry.topic }, entry.dlq);
        }
      },
    });
  }
}
