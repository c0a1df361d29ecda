import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import type { StreamAdapter } from "./adapter.ts";
import { KvStoreStreamAdapter } from "./adapters/kv-store.ts";
import { parseStreamConfig, STREAM_MODULE_CLASS, type StreamAdapterConfig, type StreamConfig } from "./config.ts";
import type { StreamEvent } from "./events.ts";
import { StreamFunctions, type TraceHeaders } from "./functions.ts";
import { StreamSocketServer } from "./socket-server.ts";
import { StreamTriggers } from "./triggers.ts";

export const streamModuleFactory: ModuleFactory = {
  className: STREAM_MODULE_CLASS,
  summary: "Real-time stream items and events over WebSocket (port 3112)",
  create(config, path, environment): EngineModule {
    return new StreamModule(parseStreamConfig(config, path, environment.dataDir, environment.defaultSet));
  },
};

/**
 * Stream items in groups, the `stream::*` functions and triggers, and a
 * WebSocket listener where clients follow groups or items. Every write emits
 * an event: the adapter carries it to the sockets of every engine sharing its
 * backend, and this engine runs the matching `stream` triggers.
 */
export class StreamModule implements EngineModule {
  readonly className = STREAM_MODULE_CLASS;
  readonly #config: StreamConfig;
  #logger: Logger | null = null;
  #adapter: StreamAdapter | null = null;
  #triggers: StreamTriggers | null = null;
  #sockets: StreamSocketServer | null = null;

  constructor(config: StreamConfig) {
    this.#config = config;
  }

  /** The bound stream port, useful when the config asked for port 0; 0 before start. */
  get port(): number {
    return this.#sockets?.port ?? 0;
  }

  /** Open stream sockets on this engine. */
  get connectionCount(): number {
    return this.#sockets?.connectionCount ?? 0;
  }

  async start(context: EngineContext): Promise<void> {
    const logger = context.createLogger("stream");
    this.#logger = logger;

    const adapter = await createAdapter(this.#config.adapter, logger);
    const triggers = new StreamTriggers(context, logger);
    const functions = new StreamFunctions({ context, adapter, logger, emit: (event, trace) => this.#emit(event, trace) });
    const sockets = new StreamSocketServer({
      host: this.#config.host,
      port: this.#config.port,
      authFunction: this.#config.authFunction,
      maxSendBufferBytes: this.#config.maxSendBufferBytes,
      maxConnections: this.#config.maxConnections,
      functions,
      triggers,
      logger,
    });

    await adapter.open((event, text) => sockets.deliver(event, text));
    this.#adapter = adapter;
    this.#triggers = triggers;
    functions.register();
    await triggers.register();
    sockets.listen(context);
    this.#sockets = sockets;
  }

  async stop(): Promise<void> {
    this.#sockets?.stop();
    this.#sockets = null;
    const adapter = this.#adapter;
    this.#adapter = null;
    await adapter?.close();
  }

  /** Dispatches triggers and publishes to subscribers; the returned promise rejects when publishing failed. */
  #emit(event: StreamEvent, trace: TraceHeaders): Promise<void> {
    this.#triggers?.dispatch(event, trace);
    const publishing = this.#adapter?.publish(event) ?? Promise.resolve();
    publishing.catch((error) => {
      this.#logger?.warn(`stream event for '${event.streamName}/${event.groupId}' was not published; subscribers miss it`, error);
    });
    return publishing;
  }
}

/** Builds the configured adapter; the Redis one (and ioredis) is loaded only when chosen. */
async function createAdapter(config: StreamAdapterConfig, logger: Logger): Promise<StreamAdapter> {
  switch (config.type) {
    case "kv_store":
      return new KvStoreStreamAdapter({ ...config.store, logger });
    case "redis": {
      const { RedisStreamAdapter } = await import("./adapters/redis.ts");
      return new RedisStreamAdapter({ redisUrl: config.redisUrl, keyPrefix: config.keyPrefix, logger });
    }
    default: {
      const unknown: never = config;
      throw new EngineError(ErrorCode.configInvalid, `unknown stream adapter ${JSON.stringify(unknown)}`);
    }
  }
}
