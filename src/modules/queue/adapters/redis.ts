import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from "bullmq";
import { EngineError, ErrorCode } from "../../../core/errors.ts";
import { createRedisClient, redactRedisUrl, type RedisClient } from "../../../storage/redis.ts";
import type { Logger } from "../../../telemetry/logger.ts";
import { parseJson, stringifyJson, type JsonValue } from "../../../util/json.ts";
import type {
  DeadLetter,
  DeadLetterPage,
  JobDelivery,
  JobRunner,
  QueueAdapter,
  Subscription,
  TopicStats,
  TraceContext,
} from "../adapter.ts";
import type { RedisAdapterConfig } from "../config.ts";
import { computeBackoffMs } from "../subscription-config.ts";

/** Data of a BullMQ job. The payload is JSON text, so integers beyond 2^53 keep every digit. */
interface JobPayload {
  payload: string;
  traceparent?: string;
  baggage?: string;
  /** Attempts made inside one delivery by a FIFO subscription, which retries in place. */
  inline_attempts?: number;
}

// The subscription that ran an attempt decides whether to retry, so the
// BullMQ job allows a practically unlimited number of attempts.
const ATTEMPTS_CEILING = 1_000_000;
const STOP_WAIT_MS = 2000;
const DRAIN_DELAY_SECONDS = 1;
const CONNECT_WAIT_MS = 3000;
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * A queue in Redis through BullMQ: one BullMQ queue per topic (named by the
 * percent-encoded topic, keys under `<key_prefix>iii:queue`). Jobs stay in
 * Redis until acknowledged, each is taken by one worker across all engines,
 * failed attempts wait in the delayed set, and dead letters are BullMQ's
 * failed set. A job whose engine stops renewing its lock returns to waiting
 * once its lock expired and the next stalled-job check ran: measured at one to
 * three times `visibility_timeout_ms`.
 */
export class RedisQueueAdapter implements QueueAdapter {
  readonly #config: RedisAdapterConfig;
  readonly #logger: Logger;
  readonly #prefix: string;
  readonly #queues = new Map<string, Queue>();
  /** Subscriptions by id; `worker` stays null while Redis has not been reachable since the subscription was made. */
  readonly #workers = new Map<string, { worker: Worker | null; subscription: Subscription }>();
  readonly #knownTopics = new Set<string>();
  #producer: RedisClient | undefined;
  #consumer: RedisClient | undefined;
  #run: JobRunner | undefined;
  #lastErrorLogAt = 0;
  /** True from a connection error until the producer is ready again, to log the recovery once. */
  #outage = false;
  #stopping: Promise<void> | undefined;

  constructor(config: RedisAdapterConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#prefix = `${config.keyPrefix}iii:queue`;
  }

  async start(run: JobRunner): Promise<void> {
    this.#run = run;
    // Enqueue must fail at once while Redis is away, so the producer queues nothing offline.
    this.#producer = createRedisClient(this.#config.redisUrl, { maxRetriesPerRequest: 1 });
    // BullMQ workers block on Redis and need unlimited retries per request.
    this.#consumer = createRedisClient(this.#config.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: null });
    for (const client of [this.#producer, this.#consumer]) client.on("error", (error) => this.#logConnectionError(error));
    this.#producer.on("ready", () => this.#logRecovery());
    this.#consumer.on("ready", () => void this.#startWaitingWorkers());

    const connected = await Promise.race([
      Promise.all([this.#producer.connect(), this.#consumer.connect()]).then(() => true),
      Bun.sleep(CONNECT_WAIT_MS).then(() => false),
    ]).catch(() => false);
    if (!connected) this.#logger.warn(`redis at '${this.#safeUrl()}' is unavailable; enqueue fails until it is back`);
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async enqueue(topic: string, data: JsonValue, trace: TraceContext): Promise<void> {
    const payload: JobPayload = { payload: stringifyJson(data), traceparent: trace.traceparent, baggage: trace.baggage };
    await this.#call(`enqueue to topic '${topic}'`, async () => {
      await this.#rememberTopic(topic);
      await this.#queue(topic).add("job", payload, {
        attempts: ATTEMPTS_CEILING,
        backoff: { type: "subscription" },
        removeOnComplete: true,
        removeOnFail: false,
      });
    });
  }

  async subscribe(subscription: Subscription): Promise<void> {
    const entry = { worker: null as Worker | null, subscription };
    this.#workers.set(subscription.id, entry);
    // A BullMQ worker made on a client that is not connected never starts polling, so a
    // subscription made during an outage waits for the consumer's next "ready".
    if (this.#consumer?.status === "ready") {
      await this.#startWorker(entry);
      return;
    }
    this.#logger.warn(`queue subscription to topic '${subscription.topic}' waits for redis at '${this.#safeUrl()}'; it starts once redis is reachable`);
  }

  async #startWaitingWorkers(): Promise<void> {
    for (const entry of this.#workers.values()) {
      if (entry.worker === null) await this.#startWorker(entry);
    }
  }

  async #startWorker(entry: { worker: Worker | null; subscription: Subscription }): Promise<void> {
    const { subscription } = entry;
    const { settings } = subscription;
    if (settings.fifo) {
      // One job at a time across every engine keeps the topic in order.
      // NOTE: the limit stays in Redis after the last FIFO subscription of the topic goes away.
      await this.#queue(subscription.topic).setGlobalConcurrency(1).catch((error: unknown) => {
        this.#logger.warn(`could not limit FIFO topic '${subscription.topic}' to one job at a time in redis`, error);
      });
    }
    await this.#rememberTopic(subscription.topic).catch(() => undefined);

    const worker = new Worker(queueName(subscription.topic), (job, token) => this.#process(subscription, job, token), {
      connection: this.#consumer!,
      prefix: this.#prefix,
      concurrency: settings.fifo ? 1 : settings.concurrency,
      lockDuration: this.#config.visibilityTimeoutMs,
      stalledInterval: this.#config.visibilityTimeoutMs,
      maxStalledCount: settings.maxAttempts,
      // A closing worker may swallow the wake-up marker of a retry, so idle
      // workers re-check for due jobs at least once a second.
      drainDelay: DRAIN_DELAY_SECONDS,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: Number.MAX_SAFE_INTEGER },
      settings: { backoffStrategy: (attemptsMade: number) => computeBackoffMs(settings, attemptsMade) },
    });
    worker.on("error", (error) => this.#logConnectionError(error));
    // The subscription may have been removed, or started by another "ready", while this one awaited.
    if (this.#workers.get(subscription.id) !== entry || entry.worker !== null) {
      await closeWorker(worker);
      return;
    }
    entry.worker = worker;
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    const entry = this.#workers.get(subscriptionId);
    if (!entry) return;

    this.#workers.delete(subscriptionId);
    if (entry.worker) await closeWorker(entry.worker);
  }

  async listTopics(): Promise<string[]> {
    const stored = await this.#call("list topics", () => this.#producer!.smembers(this.#topicsKey()));
    const subscribed = [...this.#workers.values()].map((entry) => entry.subscription.topic);
    return [...new Set([...stored, ...subscribed])].sort();
  }

  async topicStats(topic: string): Promise<TopicStats> {
    const counts = await this.#call(`read stats of topic '${topic}'`, () =>
      this.#queue(topic).getJobCounts("wait", "prioritized", "delayed", "active", "failed"),
    );
    return {
      topic,
      waiting: (counts.wait ?? 0) + (counts.prioritized ?? 0),
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
      dead_lettered: counts.failed ?? 0,
    };
  }

  async deadLetters(topic: string, offset: number, limit: number): Promise<DeadLetterPage> {
    const queue = this.#queue(topic);
    return this.#call(`list dead letters of topic '${topic}'`, async () => {
      const total = await queue.getFailedCount();
      const jobs = limit === 0 ? [] : await queue.getJobs(["failed"], offset, offset + limit - 1, true);
      return { messages: jobs.map((job) => toDeadLetter(topic, job as Job)), total };
    });
  }

  async redrive(topic: string): Promise<number> {
    const queue = this.#queue(topic);
    return this.#call(`redrive topic '${topic}'`, async () => {
      let count = 0;
      for (;;) {
        const jobs = await queue.getJobs(["failed"], 0, 99, true);
        if (jobs.length === 0) return count;
        for (const job of jobs) await revive(job as Job);
        count += jobs.length;
      }
    });
  }

  async redriveMessage(topic: string, jobId: string): Promise<boolean> {
    return this.#call(`redrive job '${jobId}' of topic '${topic}'`, async () => {
      const job = await this.#failedJob(topic, jobId);
      if (!job) return false;
      await revive(job);
      return true;
    });
  }

  async discardMessage(topic: string, jobId: string): Promise<boolean> {
    return this.#call(`discard job '${jobId}' of topic '${topic}'`, async () => {
      const job = await this.#failedJob(topic, jobId);
      if (!job) return false;
      await job.remove();
      return true;
    });
  }

  async #process(subscription: Subscription, job: Job, token: string | undefined): Promise<void> {
    const { settings } = subscription;
    const payload = job.data as JobPayload;
    const firstDueAt = job.timestamp + settings.delayMs;
    if (job.attemptsMade === 0 && settings.delayMs > 0 && firstDueAt > Date.now()) {
      await job.moveToDelayed(firstDueAt, token);
      throw new DelayedError();
    }

    let attempt = job.attemptsMade + (payload.inline_attempts ?? 0) + 1;
    for (;;) {
      const outcome = await this.#run!(subscription.functionId, toDelivery(subscription.topic, job, payload, attempt));
      if (outcome.type === "success") return;
      if (outcome.type === "interrupted") {
        // The engine is stopping: hand the job back untouched so any engine picks it up again.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }

      const reason = `${outcome.error.code}: ${outcome.error.message}`;
      if (attempt >= settings.maxAttempts) throw new UnrecoverableError(reason);
      if (!settings.fifo) throw new Error(reason);

      // A FIFO job retries in place, holding its lock, so the jobs behind it wait.
      this.#logger.debug(`job '${job.id}' of topic '${subscription.topic}' failed attempt ${attempt}; retrying in place`);
      await job.updateData({ ...payload, inline_attempts: attempt - job.attemptsMade });
      await Bun.sleep(computeBackoffMs(settings, attempt));
      attempt++;
    }
  }

  async #failedJob(topic: string, jobId: string): Promise<Job | undefined> {
    const job = (await this.#queue(topic).getJob(jobId)) as Job | undefined;
    if (!job || !(await job.isFailed())) return undefined;
    return job;
  }

  #queue(topic: string): Queue {
    let queue = this.#queues.get(topic);
    if (!queue) {
      queue = new Queue(queueName(topic), { connection: this.#producerClient(), prefix: this.#prefix });
      queue.on("error", (error) => this.#logConnectionError(error));
      this.#queues.set(topic, queue);
    }
    return queue;
  }

  async #rememberTopic(topic: string): Promise<void> {
    if (this.#knownTopics.has(topic)) return;
    await this.#producerClient().sadd(this.#topicsKey(), topic);
    this.#knownTopics.add(topic);
  }

  #producerClient(): RedisClient {
    if (this.#producer && !this.#stopping) return this.#producer;
    throw new EngineError(ErrorCode.backendUnavailable, "queue is closed because the engine is stopping; retry after it restarts");
  }

  #topicsKey(): string {
    return `${this.#prefix}:topics`;
  }

  async #call<T>(action: string, operation: () => Promise<T>): Promise<T> {
    // BullMQ waits for a ready connection instead of failing, so calls during an outage fail here first.
    if (this.#producer && this.#producer.status !== "ready") throw this.#unavailable(action, new Error("not connected"));
    try {
      return await operation();
    } catch (error) {
      throw this.#unavailable(action, error);
    }
  }

  #unavailable(action: string, error: unknown): EngineError {
    if (error instanceof EngineError) return error;
    const status = this.#producer?.status;
    if (status !== undefined && status !== "ready") {
      return new EngineError(
        ErrorCode.backendUnavailable,
        `could not ${action}: redis at '${this.#safeUrl()}' is unavailable (connection ${status}); calls fail until it reconnects`,
        { cause: error },
      );
    }
    const detail = error instanceof Error ? error.message : String(error);
    return new EngineError(
      ErrorCode.backendUnavailable,
      `could not ${action}: redis at '${this.#safeUrl()}' failed (${detail}); check that redis is running and reachable`,
      { cause: error },
    );
  }

  #logConnectionError(error: unknown): void {
    // Closing the clients at shutdown reports "Connection is closed", which is no outage.
    if (this.#stopping) return;
    this.#outage = true;
    const now = Date.now();
    if (now - this.#lastErrorLogAt < ERROR_LOG_INTERVAL_MS) return;
    this.#lastErrorLogAt = now;
    const detail = error instanceof Error ? error.message : String(error);
    this.#logger.warn(`redis at '${this.#safeUrl()}' reported an error (${detail}); enqueue fails while it reconnects`);
  }

  #logRecovery(): void {
    if (!this.#outage) return;
    this.#outage = false;
    this.#logger.info(`redis at '${this.#safeUrl()}' is reachable again; queue processing resumes`);
  }

  #safeUrl(): string {
    return redactRedisUrl(this.#config.redisUrl);
  }

  async #shutdown(): Promise<void> {
    const workers = [...this.#workers.values()].flatMap((entry) => (entry.worker ? [entry.worker] : []));
    this.#workers.clear();
    await Promise.all(workers.map(closeWorker));
    await Promise.all([...this.#queues.values()].map((queue) => queue.close().catch(() => undefined)));
    this.#queues.clear();
    this.#producer?.disconnect();
    this.#consumer?.disconnect();
  }
}

/** BullMQ forbids ':' in queue names; percent-encoding keeps distinct topics distinct. */
function queueName(topic: string): string {
  return encodeURIComponent(topic);
}

/** Lets jobs in flight finish for a short while, then closes without waiting; their locks expire and they run again. */
async function closeWorker(worker: Worker): Promise<void> {
  const closed = worker.close().then(() => true, () => true);
  const finished = await Promise.race([closed, Bun.sleep(STOP_WAIT_MS).then(() => false)]);
  if (!finished) await worker.close(true).catch(() => undefined);
}

/** Moves a dead letter back to waiting with every attempt counter reset. */
async function revive(job: Job): Promise<void> {
  const payload = job.data as JobPayload;
  if (payload.inline_attempts !== undefined) await job.updateData({ ...payload, inline_attempts: 0 });
  await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
}

function toDelivery(topic: string, job: Job, payload: JobPayload, attempt: number): JobDelivery {
  return {
    jobId: String(job.id),
    topic,
    data: parseJson(payload.payload),
    attempt,
    trace: { traceparent: payload.traceparent, baggage: payload.baggage },
  };
}

function toDeadLetter(topic: string, job: Job): DeadLetter {
  const payload = job.data as JobPayload;
  const reason = job.failedReason ?? "";
  const separator = reason.indexOf(": ");
  return {
    job_id: String(job.id),
    topic,
    data: parseJson(payload.payload),
    attempts_made: job.attemptsMade + (payload.inline_attempts ?? 0),
    error_code: separator > 0 ? reason.slice(0, separator) : "invocation_failed",
    error: separator > 0 ? reason.slice(separator + 2) : reason,
    created_at: job.timestamp,
    failed_at: job.finishedOn ?? 0,
  };
}
