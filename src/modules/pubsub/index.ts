import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, isRawJson, type JsonValue } from "../../util/json.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import { readInputObject, readRequiredString, readRequiredValue } from "../input.ts";
import type { PubSubAdapter } from "./adapter.ts";
import { LocalPubSubAdapter } from "./adapters/local.ts";
import { PUBSUB_MODULE_CLASS, parsePubSubConfig, type PubSubAdapterConfig, type PubSubConfig } from "./config.ts";

export { LocalPubSubAdapter } from "./adapters/local.ts";
export type { MessageHandler, PubSubAdapter } from "./adapter.ts";
export { PUBSUB_ADAPTER_CLASSES, parsePubSubConfig, type PubSubAdapterConfig, type PubSubConfig } from "./config.ts";

export const pubSubModuleFactory: ModuleFactory = {
  className: PUBSUB_MODULE_CLASS,
  summary: "topic messaging: the publish function and subscribe triggers",
  create(config, path): EngineModule {
    return new PubSubModule(parsePubSubConfig(config, path));
  },
};

const SUBSCRIBE_TRIGGER_TYPE = "subscribe";

/**
 * Serves `publish` and the `subscribe` trigger type. Each subscribing trigger's
 * function is called with the published `data` alone, without waiting for it
 * and without retries.
 */
class PubSubModule implements EngineModule {
  readonly className = PUBSUB_MODULE_CLASS;
  readonly #config: PubSubConfig;
  readonly #topics = new Map<string, string>();
  #adapter: PubSubAdapter | null = null;
  #context: EngineContext | null = null;
  #logger: Logger | null = null;

  constructor(config: PubSubConfig) {
    this.#config = config;
  }

  async start(context: EngineContext): Promise<void> {
    const logger = context.createLogger("pubsub");
    this.#context = context;
    this.#logger = logger;
    this.#adapter = await createAdapter(this.#config.adapter, logger);
    await this.#adapter.open();

    await context.registerTriggerType(SUBSCRIBE_TRIGGER_TYPE, "Calls a function with each message published on a topic", {
      register: (trigger) => this.#subscribe(trigger),
      unregister: (trigger) => this.#unsubscribe(trigger),
    });
    context.registerFunction({ id: "publish", description: "Publish a message to the subscribers of a topic" }, (data) =>
      this.#publish(data),
    );
    logger.info(`pubsub module started on the ${this.#config.adapter.type} adapter`);
  }

  async stop(): Promise<void> {
    const adapter = this.#adapter;
    this.#adapter = null;
    this.#topics.clear();
    await adapter?.close();
    if (adapter) this.#logger?.info("pubsub module stopped");
  }

  async #publish(data: JsonValue): Promise<undefined> {
    const input = readInputObject("publish", data);
    const topic = readRequiredString("publish", input, "topic");
    const message = readRequiredValue("publish", input, "data");
    if (topic === "") throw new EngineError(ErrorCode.topicNotSet, "Topic is not set");

    await this.#open().publish(topic, message);
    this.#logger?.debug(`published a message on topic '${topic}'`);
    return undefined;
  }

  async #subscribe(trigger: Trigger): Promise<void> {
    const config = isJsonObject(trigger.config) ? trigger.config : {};
    const topic = config.topic;
    if (typeof topic !== "string" || topic === "") {
      throw new EngineError(
        ErrorCode.triggerRegistrationFailed,
        `subscribe trigger '${trigger.id}' needs a non-empty string 'topic', got ${describe(topic)}`,
      );
    }

    this.#topics.set(trigger.id, topic);
    try {
      await this.#open().subscribe(topic, trigger.id, (data) => this.#deliver(trigger, topic, data));
    } catch (error) {
      this.#topics.delete(trigger.id);
      throw error;
    }
    this.#logger?.debug(`trigger '${trigger.id}' subscribed to topic '${topic}'`);
  }

  async #unsubscribe(trigger: Trigger): Promise<void> {
    const topic = this.#topics.get(trigger.id);
    if (topic === undefined) return;

    this.#topics.delete(trigger.id);
    await this.#adapter?.unsubscribe(topic, trigger.id);
  }

  #deliver(trigger: Trigger, topic: string, data: JsonValue): void {
    const context = this.#context;
    if (context === null) return;

    void context.invoke(trigger.function_id, data).then((outcome) => {
      if (outcome.type === "success") return;
      this.#logger?.debug(`subscriber '${trigger.function_id}' of topic '${topic}' failed with '${outcome.error.code}'`);
    });
  }

  #open(): PubSubAdapter {
    if (this.#adapter === null) throw new EngineError(ErrorCode.backendUnavailable, "the pubsub module is stopped");
    return this.#adapter;
  }
}

/** Builds the configured adapter; the Redis one (and ioredis) is loaded only when chosen. */
async function createAdapter(config: PubSubAdapterConfig, logger: Logger): Promise<PubSubAdapter> {
  switch (config.type) {
    case "local":
      return new LocalPubSubAdapter(logger);
    case "redis": {
      const { RedisPubSubAdapter } = await import("./adapters/redis.ts");
      return new RedisPubSubAdapter({ redisUrl: config.redisUrl, keyPrefix: config.keyPrefix, logger });
    }
    default: {
      const unreachable: never = config;
      throw new EngineError(ErrorCode.configInvalid, `unknown pubsub adapter ${String(unreachable)}`);
    }
  }
}

function describe(value: JsonValue | undefined): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return `'${value}'`;
  if (isRawJson(value)) return value.rawJSON;
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}
