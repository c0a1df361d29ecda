import { randomUUID } from "node:crypto";
import { EngineError, ErrorCode, type WireError } from "../../../core/errors.ts";
import { KvStore } from "../../../storage/index.ts";
import type { Logger } from "../../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../../util/json.ts";
import type {
  DeadLetter,
  DeadLetterPage,
  JobOutcome,
  JobRunner,
  QueueAdapter,
  Subscription,
  TopicStats,
  TraceContext,
} from "../adapter.ts";
import type { BuiltinAdapterConfig } from "../config.ts";
import { computeBackoffMs, type SubscriptionSettings } from "../subscription-config.ts";
import { TopicState, type StoredJob, type SubscriptionSlot } from "./builtin-topic.ts";

const INDEX_PREFIX = "queue:";
const INDEX_SUFFIX = ":jobs";
const STOP_WAIT_MS = 2000;

/**
 * The default queue: jobs live in the embedded store (one index per topic,
 * `queue:<topic>:jobs`), with waiting order, retries and subscriptions kept
 * in memory and rebuilt from the store at start. Enqueue wakes a free
 * subscription at once; retry timers and a sweep every `poll_interval_ms`
 * handle the rest.
 */
export class BuiltinQueueAdapter implements QueueAdapter {
  readonly #config: BuiltinAdapterConfig;
  readonly #logger: Logger;
  readonly #topics = new Map<string, TopicState>();
  readonly #idleWaiters = new Set<() => void>();
  #store: KvStore | undefined;
  #run: JobRunner | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #inFlight = 0;
  #stopping: Promise<void> | undefined;

  constructor(config: BuiltinAdapterConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  async start(run: JobRunner): Promise<void> {
    this.#store = await KvStore.open({ ...this.#config.store, logger: this.#logger.child("store") });
    this.#run = run;
    this.#restore(this.#store);

    this.#sweepTimer = setInterval(() => {
      for (const state of this.#topics.values()) this.#dispatch(state);
    }, this.#config.pollIntervalMs);
    this.#sweepTimer.unref();
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async enqueue(topic: string, data: JsonValue, trace: TraceContext): Promise<void> {
    const store = this.#openStore();
    const job: StoredJob = {
      id: randomUUID(),
      topic,
      data,
      attempts_made: 0,
      created_at: Date.now(),
      state: "waiting",
      process_at: null,
      traceparent: trace.traceparent ?? null,
      baggage: trace.baggage ?? null,
      error_code: null,
      error: null,
      failed_at: null,
    };
    store.set(indexName(topic), job.id, job as unknown as JsonValue);

    const state = this.#topic(topic);
    state.jobs.set(job.id, job);
    state.waiting.push(job.id);
    this.#dispatch(state);
  }

  async subscribe(subscription: Subscription): Promise<void> {
    const state = this.#topic(subscription.topic);
    state.slots.set(subscription.id, { subscription, inFlight: 0 });
    this.#dispatch(state);
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    for (const state of this.#topics.values()) {
      if (!state.slots.delete(subscriptionId)) continue;
      if (state.isEmpty()) this.#dropTopic(state);
      return;
    }
  }

  async listTopics(): Promise<string[]> {
    const topics = [...this.#topics.values()].filter((state) => !state.isEmpty());
    return topics.map((state) => state.topic).sort();
  }

  async topicStats(topic: string): Promise<TopicStats> {
    const state = this.#topics.get(topic);
    return {
      topic,
      waiting: state?.waiting.length ?? 0,
      delayed: state?.delayed.length ?? 0,
      active: state?.active.size ?? 0,
      dead_lettered: state?.dead.size ?? 0,
    };
  }

  async deadLetters(topic: string, offset: number, limit: number): Promise<DeadLetterPage> {
    const state = this.#topics.get(topic);
    if (!state) return { messages: [], total: 0 };

    const ids = [...state.dead].slice(offset, offset + limit);
    const messages = ids.map((id) => toDeadLetter(state.jobs.get(id)!));
    return { messages, total: state.dead.size };
  }

  async redrive(topic: string): Promise<number> {
    const state = this.#topics.get(topic);
    if (!state) return 0;

    const ids = [...state.dead];
    for (const id of ids) this.#revive(state, id);
    this.#dispatch(state);
    return ids.length;
  }

  async redriveMessage(topic: string, jobId: string): Promise<boolean> {
    const state = this.#topics.get(topic);
    if (!state?.dead.has(jobId)) return false;

    this.#revive(state, jobId);
    this.#dispatch(state);
    return true;
  }

  async discardMessage(topic: string, jobId: string): Promise<boolean> {
    const state = this.#topics.get(topic);
    if (!state?.dead.has(jobId)) return false;

    this.#openStore().delete(indexName(topic), jobId);
    state.dead.delete(jobId);
    state.jobs.delete(jobId);
    if (state.isEmpty()) this.#dropTopic(state);
    return true;
  }

  #restore(store: KvStore): void {
    let restored = 0;
    for (const index of store.indexes(INDEX_PREFIX)) {
      if (!index.endsWith(INDEX_SUFFIX)) continue;
      const topic = index.slice(INDEX_PREFIX.length, -INDEX_SUFFIX.length);
      const state = this.#topic(topic);
      const dead: StoredJob[] = [];

      for (const [key, value] of store.entries(index)) {
        if (!isStoredJob(value)) {
          this.#logger.warn(`skipped unreadable job '${key}' of topic '${topic}' in the queue store`);
          continue;
        }
        state.jobs.set(value.id, value);
        restored++;
        if (value.state === "dead") dead.push(value);
        else if (value.state === "delayed") state.addDelayed(value);
        else state.waiting.push(value.id);
      }
      dead.sort((left, right) => (left.failed_at ?? 0) - (right.failed_at ?? 0));
      for (const job of dead) state.dead.add(job.id);
    }
    if (restored > 0) this.#logger.info(`queue restored ${restored} jobs in ${this.#topics.size} topics`);
  }

  #dispatch(state: TopicState): void {
    if (this.#stopping || !this.#run) return;

    const now = Date.now();
    state.promoteDue(now);
    const nextRetry = state.jobs.get(state.delayed[0] ?? "")?.process_at;
    if (nextRetry != null) this.#wakeAt(state, nextRetry);

    const fifo = state.isFifo(this.#config.defaults.fifo);
    while (state.waiting.length > 0) {
      if (fifo && state.active.size > 0) return;

      const job = state.jobs.get(state.waiting.peek()!);
      if (!job || job.state !== "waiting" && job.state !== "delayed") {
        state.waiting.shift();
        continue;
      }
      // A failed FIFO job keeps its place at the head until its retry is due.
      if (job.process_at !== null && job.process_at > now) return this.#wakeAt(state, job.process_at);

      const slot = state.pickSlot(job, now, fifo);
      if (slot === undefined) return;
      if (typeof slot === "number") return this.#wakeAt(state, slot);

      state.waiting.shift();
      this.#deliver(state, slot, job);
    }
  }

  #deliver(state: TopicState, slot: SubscriptionSlot, job: StoredJob): void {
    state.active.add(job.id);
    slot.inFlight++;
    this.#inFlight++;

    const delivery = {
      jobId: job.id,
      topic: job.topic,
      data: job.data,
      attempt: job.attempts_made + 1,
      trace: { traceparent: job.traceparent ?? undefined, baggage: job.baggage ?? undefined },
    };
    this.#run!(slot.subscription.functionId, delivery)
      .then((outcome) => this.#settle(state, slot, job.id, outcome))
      .catch((error: unknown) => this.#logger.error(`queue job '${job.id}' of topic '${job.topic}' could not be settled`, error));
  }

  #settle(state: TopicState, slot: SubscriptionSlot, jobId: string, outcome: JobOutcome): void {
    state.active.delete(jobId);
    slot.inFlight--;
    this.#inFlight--;
    if (this.#inFlight === 0) for (const notify of this.#idleWaiters) notify();
    // While stopping, the job stays stored as waiting and is delivered again after a restart.
    if (this.#stopping || outcome.type === "interrupted") return;

    const job = state.jobs.get(jobId);
    if (!job) return;
    if (outcome.type === "success") {
      this.#openStore().delete(indexName(state.topic), jobId);
      state.jobs.delete(jobId);
    } else {
      this.#recordFailure(state, slot.subscription.settings, job, outcome.error);
    }
    this.#dispatch(state);
  }

  #recordFailure(state: TopicState, settings: SubscriptionSettings, job: StoredJob, error: WireError): void {
    const now = Date.now();
    const attempts = job.attempts_made + 1;
    const failed = { ...job, attempts_made: attempts, error_code: error.code, error: error.message };

    if (attempts >= settings.maxAttempts) {
      this.#save(state, { ...failed, state: "dead", process_at: null, failed_at: now });
      state.dead.add(job.id);
      this.#logger.warn(`job '${job.id}' of topic '${state.topic}' moved to the dead-letter queue after ${attempts} attempts (${error.code})`);
      return;
    }

    const retry: StoredJob = { ...failed, process_at: now + computeBackoffMs(settings, attempts) };
    this.#logger.debug(`job '${job.id}' of topic '${state.topic}' failed attempt ${attempts} (${error.code}); retrying`);
    if (state.isFifo(this.#config.defaults.fifo)) {
      this.#save(state, { ...retry, state: "waiting" });
      state.waiting.unshift(job.id);
      return;
    }
    this.#save(state, { ...retry, state: "delayed" });
    state.addDelayed(retry);
  }

  #revive(state: TopicState, jobId: string): void {
    const job = state.jobs.get(jobId)!;
    const revived: StoredJob = { ...job, state: "waiting", attempts_made: 0, process_at: null, failed_at: null };
    this.#save(state, revived);
    state.dead.delete(jobId);
    state.waiting.push(jobId);
  }

  #save(state: TopicState, job: StoredJob): void {
    this.#openStore().set(indexName(state.topic), job.id, job as unknown as JsonValue);
    state.jobs.set(job.id, job);
  }

  #wakeAt(state: TopicState, at: number): void {
    if (state.wakeTimer !== undefined && state.wakeAt <= at) return;

    clearTimeout(state.wakeTimer);
    state.wakeAt = at;
    state.wakeTimer = setTimeout(() => {
      state.wakeTimer = undefined;
      state.wakeAt = Number.POSITIVE_INFINITY;
      this.#dispatch(state);
    }, Math.max(0, at - Date.now()));
    state.wakeTimer.unref();
  }

  #topic(topic: string): TopicState {
    let state = this.#topics.get(topic);
    if (!state) {
      state = new TopicState(topic);
      this.#topics.set(topic, state);
    }
    return state;
  }

  #dropTopic(state: TopicState): void {
    clearTimeout(state.wakeTimer);
    this.#topics.delete(state.topic);
  }

  #openStore(): KvStore {
    if (this.#store && !this.#stopping) return this.#store;
    throw new EngineError(ErrorCode.backendUnavailable, "queue store is closed because the engine is stopping; retry after it restarts");
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#sweepTimer);
    for (const state of this.#topics.values()) clearTimeout(state.wakeTimer);

    if (this.#inFlight > 0) await this.#waitIdle(STOP_WAIT_MS);
    await this.#store?.close();
  }

  #waitIdle(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#idleWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#idleWaiters.add(done);
    });
  }
}

function indexName(topic: string): string {
  return `${INDEX_PREFIX}${topic}${INDEX_SUFFIX}`;
}

function toDeadLetter(job: StoredJob): DeadLetter {
  return {
    job_id: job.id,
    topic: job.topic,
    data: job.data,
    attempts_made: job.attempts_made,
    error_code: job.error_code ?? "",
    error: job.error ?? "",
    created_at: job.created_at,
    failed_at: job.failed_at ?? 0,
  };
}

function isStoredJob(value: JsonValue): value is StoredJob & { [key: string]: JsonValue } {
  if (!isJsonObject(value)) return false;
  return (
    typeof value.id === "string" &&
    typeof value.topic === "string" &&
    typeof value.attempts_made === "number" &&
    typeof value.created_at === "number" &&
    (value.state === "waiting" || value.state === "delayed" || value.state === "dead") &&
    "data" in value
  );
}
