import type { Server, ServerWebSocket } from "bun";
import type { EngineConfig } from "../config/load.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import { describePortOwner } from "../util/port-owner.ts";
import { ChannelManager, type ChannelSocketData } from "./channels.ts";
import type { EngineContext, EngineModule, ListenOptions } from "./context.ts";
import type { UpgradeGuard } from "./auth.ts";
import { EngineError, ErrorCode } from "./errors.ts";
import { EngineEvents } from "./events.ts";
import { FunctionRegistry } from "./function-registry.ts";
import { encode, parseFrame, telemetryKindOf } from "./protocol.ts";
import { Router } from "./router.ts";
import { createDroppingSink, type TelemetrySink } from "./telemetry-sink.ts";
import { passThroughTracing, type Tracing } from "./tracing.ts";
import { TriggerRegistry } from "./trigger-registry.ts";
import { CloseCode, WorkerConnection, type WorkerSocketData } from "./worker-connection.ts";
import { WorkerProtocol, type ExternalFunctionProvider } from "./worker-protocol.ts";

type SocketData = WorkerSocketData | ChannelSocketData;

export interface EngineOptions {
  config: Pick<
    EngineConfig,
    "port" | "host" | "maxFrameBytes" | "workerIdleTimeoutMs" | "maxSendBufferBytes" | "maxPendingInvocations" | "maxWorkerConnections"
  >;
  modules: EngineModule[];
  version: string;
  dataDir: string;
  upgradeGuard?: UpgradeGuard;
}

// Shutdown must finish within 5 s: workers get up to 1.5 s to be cleaned up, and
// modules share what is left of 4.5 s (the shell module needs 3 s for its grace period).
const STOP_BUDGET_MS = 4_500;
const WORKER_CLEANUP_DEADLINE_MS = 1_500;
const MIN_MODULE_STOP_MS = 100;

// After this many disconnects, and once connections have been quiet for the delay,
// the engine runs a full garbage collection. The live heap is small (a few MiB
// even with thousands of workers), so the pause is short, and it hands the memory
// of departed workers back instead of leaving RSS high until the next natural GC.
const DISCONNECTS_BEFORE_COLLECTION = 256;
const COLLECTION_QUIET_MS = 1_000;

// The liveness check runs four times per worker_idle_timeout_ms, within these bounds.
const MIN_LIVENESS_INTERVAL_MS = 100;
const MAX_LIVENESS_INTERVAL_MS = 5_000;
const MAX_BUN_IDLE_TIMEOUT_SECONDS = 960;

/**
 * Owns the worker listener, the registries and the router, and starts and stops
 * modules. Modules start in config order before the worker port is bound, and
 * stop in reverse order after every worker has been disconnected.
 */
export class Engine {
  readonly functions: FunctionRegistry<WorkerConnection>;
  readonly triggers: TriggerRegistry;
  readonly router: Router;
  readonly events = new EngineEvents();
  readonly channels: ChannelManager;
  readonly context: EngineContext;

  readonly #options: EngineOptions;
  readonly #logger: Logger;
  readonly #protocol: WorkerProtocol;
  readonly #workers = new Map<string, WorkerConnection>();
  readonly #cleanups = new Map<WorkerConnection, Promise<void>>();
  readonly #servers: Array<{ label: string; server: Server<unknown> }> = [];
  /** Ports this engine listens on, with the listener's label, to explain a clash between two of them. */
  readonly #boundPorts = new Map<number, string>();
  readonly #started: EngineModule[] = [];
  #telemetrySink: TelemetrySink;
  #externalFunctions: ExternalFunctionProvider | null = null;
  #workerServer: Server<SocketData> | null = null;
  #state: "created" | "starting" | "running" | "stopping" | "stopped" = "created";
  #rejectedConnections = 0;
  #disconnectsSinceCollection = 0;
  #collectionTimer: ReturnType<typeof setTimeout> | null = null;
  #livenessTimer: ReturnType<typeof setInterval> | null = null;

  constructor(options: EngineOptions) {
    this.#options = options;
    this.#logger = createLogger("engine");
    this.functions = new FunctionRegistry<WorkerConnection>();
    this.triggers = new TriggerRegistry(createLogger("triggers"));
    this.channels = new ChannelManager(createLogger("channels"));
    this.router = new Router({
      functions: this.functions,
      events: this.events,
      tracing: passThroughTracing,
      logger: createLogger("router"),
      maxPendingPerWorker: options.config.maxPendingInvocations,
    });
    this.#telemetrySink = createDroppingSink(createLogger("telemetry"));
    this.#protocol = new WorkerProtocol({
      functions: this.functions,
      triggers: this.triggers,
      router: this.router,
      logger: createLogger("worker"),
      externalFunctions: () => this.#externalFunctions,
    });
    this.context = this.#createContext();
  }

  /** The bound worker port (useful when the config asked for port 0). */
  get port(): number {
    return this.#workerServer?.port ?? 0;
  }

  get modules(): readonly EngineModule[] {
    return this.#options.modules;
  }

  get workers(): ReadonlyMap<string, WorkerConnection> {
    return this.#workers;
  }

  /** Starts every module in order, then binds the worker port. Stops what started if one fails. */
  async start(): Promise<void> {
    this.#state = "starting";
    try {
      for (const module of this.#options.modules) {
        await module.start(this.context);
        this.#started.push(module);
        this.#logger.debug(`module '${module.className}' started`);
      }
      this.channels.start();
      this.#workerServer = this.#listenForWorkers();
      this.#startLivenessCheck();
      this.#state = "running";
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * Stops accepting workers, ends every waiting call with `invocation_stopped`,
   * disconnects workers, then stops modules in reverse start order. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.#state === "stopping" || this.#state === "stopped") return;
    this.#state = "stopping";
    const deadline = Date.now() + STOP_BUDGET_MS;

    this.#workerServer?.stop(false);
    if (this.#livenessTimer) clearInterval(this.#livenessTimer);
    this.#livenessTimer = null;
    const stopped = this.router.stopAll();
    if (stopped > 0) this.#logger.info(`stopped ${stopped} pending invocations for shutdown`);
    // Let the callers' invocation_stopped replies reach their sockets before those close.
    await new Promise((resolve) => setImmediate(resolve));

    for (const worker of [...this.#workers.values()]) {
      worker.close(CloseCode.goingAway, "engine shutting down");
      void this.#disconnect(worker, CloseCode.goingAway);
    }
    await withDeadline(Promise.all(this.#cleanups.values()), WORKER_CLEANUP_DEADLINE_MS);

    for (const module of this.#started.reverse()) {
      try {
        await withDeadline(module.stop(), Math.max(deadline - Date.now(), MIN_MODULE_STOP_MS));
      } catch (error) {
        this.#logger.error(`module '${module.className}' failed to stop`, error);
      }
    }
    this.#started.length = 0;
    if (this.#collectionTimer) clearTimeout(this.#collectionTimer);
    this.channels.stop();
    this.#workerServer?.stop(true);
    for (const { server } of this.#servers) server.stop(true);
    this.#servers.length = 0;
    this.#boundPorts.clear();
    this.#state = "stopped";
  }

  #listenForWorkers(): Server<SocketData> {
    const { host, port, maxFrameBytes, workerIdleTimeoutMs, maxSendBufferBytes } = this.#options.config;
    const server = this.#serve("worker", host, port, () =>
      Bun.serve<SocketData>({
        hostname: host,
        port,
        // NOTE: Bun closes a connection whose request headers never complete after about 12 s, not 10 s.
        // Measured with Bun 1.4.5; the server's idleTimeout setting does not change it.
        fetch: (request, server) => this.#upgrade(request, server),
        websocket: {
          maxPayloadLength: maxFrameBytes,
          backpressureLimit: maxSendBufferBytes,
          // Workers are checked more precisely by the liveness check; Bun's own idle timeout,
          // at twice the setting, is a backstop that also covers channel sockets.
          idleTimeout: Math.min(MAX_BUN_IDLE_TIMEOUT_SECONDS, Math.max(8, Math.ceil((2 * workerIdleTimeoutMs) / 1000))),
          sendPings: true,
          open: (socket) => this.#onOpen(socket),
          message: (socket, message) => this.#onMessage(socket, message),
          pong: (socket) => {
            if (socket.data.kind !== "channel" && socket.data.connection) socket.data.connection.lastActivityAt = Date.now();
          },
          close: (socket, code, reason) => this.#onClose(socket, code, reason),
        },
      }),
    );
    this.#logger.info(`accepting workers at ws://${formatHost(host)}:${server.port}`);
    return server;
  }

  /**
   * Pings workers that have been quiet and drops those silent (no frame and no pong) for
   * `worker_idle_timeout_ms`, so calls waiting on a half-open connection end with `invocation_stopped`.
   */
  #startLivenessCheck(): void {
    const timeoutMs = this.#options.config.workerIdleTimeoutMs;
    const intervalMs = Math.min(MAX_LIVENESS_INTERVAL_MS, Math.max(MIN_LIVENESS_INTERVAL_MS, Math.floor(timeoutMs / 4)));
    this.#livenessTimer = setInterval(() => {
      const now = Date.now();
      for (const worker of this.#workers.values()) {
        const silentMs = now - worker.lastActivityAt;
        if (silentMs < intervalMs) continue;
        if (silentMs < timeoutMs) {
          worker.ping();
          continue;
        }
        this.#logger.warn(`worker '${worker.id}' sent no frame or pong for ${silentMs} ms (worker_idle_timeout_ms is ${timeoutMs}); dropping it`);
        worker.terminate();
        void this.#disconnect(worker, CloseCode.abnormal, "no frame or pong within worker_idle_timeout_ms");
      }
    }, intervalMs);
  }

  #upgrade(request: Request, server: Server<SocketData>): Response | undefined {
    const url = new URL(request.url);
    const address = server.requestIP(request)?.address ?? "unknown";

    if (url.pathname.startsWith("/ws/channels/")) {
      const resolved = this.channels.resolveUpgrade(url.pathname, url.searchParams);
      if (resolved instanceof Response) return resolved;
      if (server.upgrade(request, { data: resolved })) return undefined;
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    if (url.pathname !== "/") return new Response(null, { status: 404 });

    const rejection = this.#options.upgradeGuard?.(request, address, "worker");
    if (rejection) return rejection;
    const limit = this.#options.config.maxWorkerConnections;
    if (this.#workers.size >= limit) {
      this.#rejectedConnections++;
      if (this.#rejectedConnections === 1 || this.#rejectedConnections % 1000 === 0) {
        this.#logger.warn(`rejected worker connection from ${address}: ${limit} workers are connected (max_worker_connections); ${this.#rejectedConnections} rejected so far`);
      }
      return new Response(`too many workers: ${limit} are connected; raise max_worker_connections or retry later`, { status: 503 });
    }
    if (server.upgrade(request, { data: { kind: "worker", ipAddress: address } })) return undefined;
    return new Response("expected a WebSocket upgrade; workers connect with a WebSocket client", { status: 426 });
  }

  #onOpen(socket: ServerWebSocket<SocketData>): void {
    if (socket.data.kind === "channel") {
      this.channels.onOpen(socket as ServerWebSocket<ChannelSocketData>);
      return;
    }
    const worker = new WorkerConnection({
      id: crypto.randomUUID(),
      socket: socket as ServerWebSocket<WorkerSocketData>,
      maxSendBufferBytes: this.#options.config.maxSendBufferBytes,
      logger: this.#logger,
      now: Date.now(),
    });
    socket.data.connection = worker;
    this.#workers.set(worker.id, worker);
    worker.send(`{"type":"workerregistered","worker_id":"${worker.id}"}`);
    this.#logger.info(`worker '${worker.id}' connected from ${worker.ipAddress}`);
    this.events.emit("worker_connected", worker);
  }

  #onMessage(socket: ServerWebSocket<SocketData>, message: string | Buffer): void {
    const data = socket.data;
    if (data.kind === "channel") {
      this.channels.onMessage(socket as ServerWebSocket<ChannelSocketData>, message);
      return;
    }
    const worker = data.connection;
    if (!worker) return;

    let text: string;
    if (typeof message === "string") {
      text = message;
    } else {
      const kind = telemetryKindOf(message);
      if (kind) {
        this.#telemetrySink.ingest(kind, message.subarray(4), worker);
        return;
      }
      text = message.toString("utf8");
    }

    const parsed = parseFrame(text);
    if (parsed === null) return;
    if (parsed.type === "rejected") {
      this.#logger.warn(`dropped a frame from worker '${worker.id}': ${parsed.reason}`);
      const call = parsed.failedCall;
      if (call) {
        const error = { code: ErrorCode.deserializationError, message: `${parsed.reason}; generate it with crypto.randomUUID() or similar` };
        worker.send(encode.invocationResult(call.invocationId, call.functionId, { error }));
      }
      return;
    }
    this.#protocol.accept(worker, parsed);
  }

  #onClose(socket: ServerWebSocket<SocketData>, code: number, reason: string): void {
    if (socket.data.kind === "channel") {
      this.channels.onClose(socket as ServerWebSocket<ChannelSocketData>);
      return;
    }
    const worker = socket.data.connection;
    if (!worker) return;
    // Bun reports its own size-limit close to the server as 1006 with this reason, not as 1009.
    if (code === CloseCode.messageTooBig || reason === "Received too big message") {
      this.#logger.warn(
        `worker '${worker.id}' sent a frame larger than the ${this.#options.config.maxFrameBytes}-byte limit ` +
          "(max_frame_bytes); connection closed",
      );
    }
    void this.#disconnect(worker, code, reason);
  }

  #disconnect(worker: WorkerConnection, code: number, reason = ""): Promise<void> {
    const existing = this.#cleanups.get(worker);
    if (existing) return existing;
    worker.markClosed();

    const cleanup = (async () => {
      const stopped = await this.#protocol.cleanup(worker);
      this.channels.removeOwnedBy(worker.id);
      this.#workers.delete(worker.id);
      const name = worker.name ? ` (${worker.name})` : "";
      const closeDetail = reason ? `, code ${code}: ${reason}` : "";
      this.#logger.info(`worker '${worker.id}'${name} disconnected${closeDetail}; failed ${stopped} pending invocations`);
      this.events.emit("worker_disconnected", worker);
      this.#collectAfterChurn();
    })()
      .catch((error) => this.#logger.error(`cleanup after worker '${worker.id}' left failed`, error))
      .finally(() => this.#cleanups.delete(worker));
    this.#cleanups.set(worker, cleanup);
    return cleanup;
  }

  #collectAfterChurn(): void {
    this.#disconnectsSinceCollection++;
    if (this.#disconnectsSinceCollection < DISCONNECTS_BEFORE_COLLECTION) return;
    if (this.#collectionTimer) clearTimeout(this.#collectionTimer);
    this.#collectionTimer = setTimeout(() => {
      this.#collectionTimer = null;
      this.#disconnectsSinceCollection = 0;
      Bun.gc(true);
    }, COLLECTION_QUIET_MS);
    this.#collectionTimer.unref?.();
  }

  #serve<T>(label: string, host: string, port: number, start: () => Server<T>): Server<T> {
    let server: Server<T>;
    try {
      server = start();
    } catch (error) {
      throw listenError(label, host, port, error, this.#boundPorts.get(port));
    }
    if (server.port !== undefined) this.#boundPorts.set(server.port, label);
    return server;
  }

  #createContext(): EngineContext {
    const engine = this;
    return {
      version: this.#options.version,
      dataDir: this.#options.dataDir,
      events: this.events,
      channels: this.channels,
      get tracing(): Tracing {
        return engine.router.tracing;
      },
      get stopping(): boolean {
        return engine.#state === "stopping" || engine.#state === "stopped";
      },
      createLogger,
      registerFunction: (definition, handler) => this.functions.registerBuiltin(definition, handler),
      unregisterFunction: (id) => this.functions.unregisterBuiltin(id),
      hasFunction: (id) => this.functions.has(id),
      listFunctions: () => this.functions.list(),
      onFunctionsChanged: (listener) => this.functions.onChange(listener),
      registerTriggerType: (id, description, handler) =>
        this.triggers.registerType(id, description, { type: "module", name: id }, handler),
      listTriggers: () => this.triggers.list(),
      listWorkers: () => [...this.#workers.values()],
      getWorker: (id) => this.#workers.get(id),
      invoke: (functionId, data, options) => this.router.invoke(functionId, data, options),
      listen: (options) => this.#listenForModule(options),
      setTracing: (tracing) => {
        this.router.tracing = tracing;
      },
      setTelemetrySink: (sink) => {
        this.#telemetrySink = sink;
      },
      setExternalFunctionProvider: (provider) => {
        this.#externalFunctions = provider;
      },
      authorizeUpgrade: (request, address, listener) => this.#options.upgradeGuard?.(request, address, listener) ?? null,
    };
  }

  #listenForModule(options: ListenOptions): Server<unknown> {
    const server = this.#serve(options.label, options.host, options.port, () =>
      Bun.serve({
        hostname: options.host,
        port: options.port,
        fetch: options.fetch as never,
        websocket: options.websocket as never,
        maxRequestBodySize: options.maxRequestBodySize,
        idleTimeout: options.idleTimeoutSeconds,
      }),
    ) as Server<unknown>;
    this.#servers.push({ label: options.label, server });
    return server;
  }
}

function listenError(label: string, host: string, port: number, error: unknown, ownListener: string | undefined): EngineError {
  const code = (error as { code?: string }).code;
  const address = `${formatHost(host)}:${port}`;
  if (code === "EADDRINUSE" && ownListener !== undefined) {
    return new EngineError(
      "listen_failed",
      `cannot listen on ${address} for the ${label} listener: the ${ownListener} listener of this engine already uses port ${port}; give each listener its own port in the config`,
      { cause: error },
    );
  }
  if (code === "EADDRINUSE") {
    const owner = describePortOwner(port);
    const portUser = owner ? `${owner} is using it` : "another process is using it";
    return new EngineError(
      "listen_failed",
      `cannot listen on ${address} for the ${label} listener: ${portUser}; stop that process or set another port in the config`,
      { cause: error },
    );
  }
  if (code === "EACCES") {
    return new EngineError("listen_failed", `cannot listen on ${address} for the ${label} listener: permission denied; use a port above 1023`, {
      cause: error,
    });
  }
  if (code === "EADDRNOTAVAIL" || code === "EAGAIN" || code === "ENOTFOUND" || code === "EINVAL") {
    return new EngineError(
      "listen_failed",
      `cannot listen on ${address} for the ${label} listener: '${host}' is not an address of this machine (${code}); use 127.0.0.1, 0.0.0.0 or the address of a local interface`,
      { cause: error },
    );
  }
  return new EngineError("listen_failed", `cannot listen on ${address} for the ${label} listener: ${(error as Error).message}`, {
    cause: error,
  });
}

export function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
