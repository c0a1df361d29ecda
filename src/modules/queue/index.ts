import { ErrorCode } from "../../core/errors.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import type { JobDelivery, JobOutcome, QueueAdapter } from "./adapter.ts";
import { BuiltinQueueAdapter } from "./adapters/builtin.ts";
import { REDIS_ADAPTER_CLASS, parseQueueConfig, type QueueModuleConfig } from "./config.ts";
import { registerQueueFunctions } from "./functions.ts";
import { parseQueueTrigger } from "./subscription-config.ts";

export type { QueueAdapter } from "./adapter.ts";
export { BUILTIN_ADAPTER_CLASS, REDIS_ADAPTER_CLASS, parseQueueConfig } from "./config.ts";

export const queueModuleFactory: ModuleFactory = {
  className: "modules::queue::QueueModule",
  summary: "durable job queue with retries and dead letters: the enqueue function and queue triggers",
  create(config, path, environment): EngineModule {
    return new QueueModule(parseQueueConfig(config, path, environment.dataDir));
  },
};

/**
 * A durable job queue. Each job enqueued on a topic goes to exactly one of the
 * topic's `queue` subscribers. A failed attempt is retried with backoff, and a
 * job that uses up its attempts lands in a dead-letter queue, which operator
 * functions list, redrive or discard.
 */
class QueueModule implements EngineModule {
  readonly className = queueModuleFactory.className;
  readonly #config: QueueModuleConfig;
  #context: EngineContext | undefined;
  #adapter: QueueAdapter | undefined;
  #logger: Logger | undefined;

  constructor(config: QueueModuleConfig) {
    this.#config = config;
  }

  async start(context: EngineContext): Promise<void> {
    this.#context = context;
    const logger = context.createLogger("queue");
    this.#logger = logger;
    const adapter = await this.#createAdapter(logger);
    await adapter.start((functionId, delivery) => this.#runJob(functionId, delivery));
    this.#adapter = adapter;

    registerQueueFunctions(context, adapter);
    await context.registerTriggerType("queue", "Jobs of a topic, each delivered to one subscriber with retries", {
      register: (trigger) => this.#subscribe(adapter, trigger),
      unregister: (trigger) => adapter.unsubscribe(trigger.id),
    });
    logger.info(`queue module started with adapter '${this.#config.adapter.className}'`);
  }

  async stop(): Promise<void> {
    const adapter = this.#adapter;
    this.#adapter = undefined;
    await adapter?.stop();
  }

  async #createAdapter(logger: Logger): Promise<QueueAdapter> {
    const config = this.#config.adapter;
    if (config.className === REDIS_ADAPTER_CLASS) {
      // BullMQ and ioredis are loaded only when the Redis adapter is chosen.
      const { RedisQueueAdapter } = await import("./adapters/redis.ts");
      return new RedisQueueAdapter(config, logger);
    }
    return new BuiltinQueueAdapter(config, logger);
  }

  async #subscribe(adapter: QueueAdapter, trigger: Trigger): Promise<void> {
    const { topic, settings } = parseQueueTrigger(trigger, this.#config.adapter.defaults);
    await adapter.subscribe({ id: trigger.id, topic, functionId: trigger.function_id, settings });
    this.#logger?.debug(`trigger '${trigger.id}' subscribed '${trigger.function_id}' to topic '${topic}'`);
  }

  async #runJob(functionId: string, delivery: JobDelivery): Promise<JobOutcome> {
    const context = this.#context!;
    const span = context.tracing.startSpan({
      name: `queue ${delivery.topic}`,
      kind: "consumer",
      traceparent: delivery.trace.traceparent,
      baggage: delivery.trace.baggage,
      attributes: {
        "messaging.system": "iii",
        "messaging.destination.name": delivery.topic,
        "messaging.message.id": delivery.jobId,
        "iii.queue.attempt": delivery.attempt,
      },
    });

    const outcome = await context.invoke(functionId, delivery.data, { traceparent: span.traceparent, baggage: span.baggage });
    if (outcome.type === "success") {
      span.end();
      return { type: "success" };
    }
    span.end(outcome.error);
    if (context.stopping && outcome.error.code === ErrorCode.invocationStopped) return { type: "interrupted" };
    return { type: "failure", error: outcome.error };
  }
}
