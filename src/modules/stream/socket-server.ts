import type { Server, ServerWebSocket } from "bun";

import type { ListenOptions } from "../../core/context.ts";
import { formatHost } from "../../core/engine.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, stringifyJson, type JsonValue } from "../../util/json.ts";
import type { EngineContext } from "../module.ts";
import { parseClientMessage, type SubscriptionRequest } from "./client-message.ts";
import { createStreamEvent, groupTopic, itemTopic, type StreamEvent, type StreamEventBody } from "./events.ts";
import type { StreamFunctions } from "./functions.ts";
import { TopicSlots } from "./topic-slots.ts";
import type { StreamTriggers, SubscriptionPayload } from "./triggers.ts";

export interface StreamSocketServerOptions {
  host: string;
  port: number;
  authFunction: string | undefined;
  maxSendBufferBytes: number;
  /** Open sockets allowed at once; further upgrade requests get 503. */
  maxConnections: number;
  functions: StreamFunctions;
  triggers: StreamTriggers;
  logger: Logger;
}

/** A subscription of one socket to a group (`id` null) or to one item. */
interface Subscription {
  id: string;
  streamName: string;
  groupId: string;
  itemId: string | null;
  topic: string;
}

/** State Bun keeps on each stream socket. */
interface StreamSocketData {
  connectionId: string;
  /** `context` from the auth function's result, or null. */
  authContext: JsonValue;
  subscriptions: Map<string, Subscription>;
  /** Number of subscriptions per topic, for the slot bookkeeping of `TopicSlots`. */
  topicCounts: Map<string, number>;
  /** Frames of one socket are handled one after another, in arrival order. */
  queue: Promise<void>;
  open: boolean;
}

type StreamSocket = ServerWebSocket<StreamSocketData>;

// Join and leave frames are small; anything far larger is a misbehaving client.
const MAX_CLIENT_FRAME_BYTES = 1024 * 1024;
// Delay between a publish and the check for sockets whose send buffer is over the limit.
const SLOW_CLIENT_CHECK_DELAY_MS = 250;
// How long the upgrade waits for `auth_function` before accepting without context.
const AUTH_TIMEOUT_MS = 10_000;
// Close code 1013 ("try again later", RFC 6455 section 7.4.1 registry) asks the client to reconnect later.
const CLOSE_TRY_AGAIN_LATER = 1013;
const CLOSE_GOING_AWAY = 1001;

/**
 * The stream WebSocket listener: `GET /` upgrades (after the optional auth
 * function), clients join and leave groups or items, and events reach every
 * matching subscription through Bun's pub/sub topics.
 */
export class StreamSocketServer {
  readonly #options: StreamSocketServerOptions;
  readonly #logger: Logger;
  readonly #slots = new TopicSlots();
  readonly #sockets = new Set<StreamSocket>();
  #rejectedConnections = 0;
  #server: Server<unknown> | null = null;
  #checkTimer: ReturnType<typeof setTimeout> | null = null;
  #stopping = false;

  constructor(options: StreamSocketServerOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  get port(): number {
    return this.#server?.port ?? 0;
  }

  /** Open stream sockets. */
  get connectionCount(): number {
    return this.#sockets.size;
  }

  listen(context: EngineContext): void {
    const { host, port, maxSendBufferBytes } = this.#options;
    this.#server = context.listen({
      label: "stream",
      host,
      port,
      fetch: (request, server) => this.#upgrade(context, request, server) as Promise<Response>,
      // The listener is typed for sockets without data; these handlers read the data set at upgrade.
      websocket: {
        maxPayloadLength: MAX_CLIENT_FRAME_BYTES,
        // Bun drops frames for a socket past this limit; the slow-client check then closes it.
        backpressureLimit: maxSendBufferBytes,
        closeOnBackpressureLimit: false,
        open: (socket: StreamSocket) => this.#onOpen(socket),
        message: (socket: StreamSocket, message: string | Buffer) => this.#onMessage(socket, message),
        close: (socket: StreamSocket, code: number) => this.#onClose(socket, code),
      } as unknown as ListenOptions["websocket"],
    });
    this.#logger.info(`stream listening at ws://${formatHost(host)}:${this.#server.port}`);
  }

  /** Sends an event to every matching subscription on this engine. */
  deliver(event: StreamEvent, text: string): void {
    const server = this.#server;
    if (server === null) return;

    const topics = this.#slots.topicsFor(groupTopic(event.streamName, event.groupId));
    if (event.id !== null) topics.push(...this.#slots.topicsFor(itemTopic(event.streamName, event.groupId, event.id)));
    if (topics.length === 0) return;

    for (const topic of topics) server.publish(topic, text);
    this.#scheduleSlowClientCheck();
  }

  /** Closes every socket without running leave handlers, then the listener. */
  stop(): void {
    this.#stopping = true;
    if (this.#checkTimer !== null) clearTimeout(this.#checkTimer);
    this.#checkTimer = null;

    for (const socket of this.#sockets) socket.close(CLOSE_GOING_AWAY, "engine shutting down");
    this.#server?.stop(true);
    this.#server = null;
  }

  async #upgrade(context: EngineContext, request: Request, server: Server<unknown>): Promise<Response | undefined> {
    const url = new URL(request.url);
    if (url.pathname !== "/") return new Response(null, { status: 404 });
    const rejection = context.authorizeUpgrade(request, formatAddress(server.requestIP(request)), "stream");
    if (rejection) return rejection;
    if (this.#sockets.size >= this.#options.maxConnections) {
      this.#rejectedConnections++;
      if (this.#rejectedConnections === 1 || this.#rejectedConnections % 1000 === 0) {
        this.#logger.warn(
          `rejected a stream connection: ${this.#sockets.size} are open (max_connections); ${this.#rejectedConnections} rejected so far`,
        );
      }
      return new Response("too many stream connections: raise max_connections or retry later", { status: 503 });
    }

    const authContext = await this.#authenticate(context, request, url, server);
    const data: StreamSocketData = {
      connectionId: crypto.randomUUID(),
      authContext,
      subscriptions: new Map(),
      topicCounts: new Map(),
      queue: Promise.resolve(),
      open: true,
    };
    if (server.upgrade(request, { data })) return undefined;
    return new Response("expected a WebSocket upgrade; stream clients connect with a WebSocket client", { status: 426 });
  }

  /**
   * Calls the auth function with the request's headers, raw query parameters
   * and peer address. A failure, no result or a non-object result still lets
   * the client in, without context; only `stream:join` handlers can refuse.
   */
  async #authenticate(context: EngineContext, request: Request, url: URL, server: Server<unknown>): Promise<JsonValue> {
    const functionId = this.#options.authFunction;
    if (functionId === undefined) return null;

    const input = {
      headers: collectHeaders(request.headers),
      path: "/",
      query_params: parseRawQuery(url.search),
      addr: formatAddress(server.requestIP(request)),
    };
    const outcome = await withTimeout(context.invoke(functionId, input), AUTH_TIMEOUT_MS);
    if (outcome === null) {
      this.#logger.warn(`stream auth function '${functionId}' did not answer within ${AUTH_TIMEOUT_MS} ms; accepting the connection without context`);
      return null;
    }
    if (outcome.type === "failure") {
      this.#logger.warn(`stream auth function '${functionId}' failed (${outcome.error.code}); accepting the connection without context`);
      return null;
    }
    return isJsonObject(outcome.result) ? (outcome.result.context ?? null) : null;
  }

  #onOpen(socket: StreamSocket): void {
    this.#sockets.add(socket);
    this.#logger.debug(`stream client '${socket.data.connectionId}' connected`);
  }

  #onMessage(socket: StreamSocket, message: string | Buffer): void {
    const parsed = parseClientMessage(message);
    if (parsed.type === "ignored") {
      this.#logger.debug(`stream client '${socket.data.connectionId}': ignored a frame: ${parsed.reason}`);
      return;
    }

    const handle = parsed.type === "join" ? () => this.#join(socket, parsed.request) : () => this.#leave(socket, parsed.request);
    this.#enqueue(socket, handle);
  }

  #onClose(socket: StreamSocket, code: number): void {
    const data = socket.data;
    data.open = false;
    this.#sockets.delete(socket);
    this.#logger.debug(`stream client '${data.connectionId}' disconnected with code ${code}`);

    // Runs after any join still in progress, so every subscription it added gets its leave.
    this.#enqueue(socket, async () => {
      const subscriptions = [...data.subscriptions.values()];
      for (const subscription of subscriptions) this.#unsubscribe(socket, subscription, false);
      if (this.#stopping) return;
      for (const subscription of subscriptions) await this.#options.triggers.notifyLeave(this.#payload(socket, subscription));
    });
  }

  async #join(socket: StreamSocket, request: SubscriptionRequest): Promise<void> {
    const { subscriptionId, streamName, groupId, id } = request;
    if (subscriptionId === null || streamName === null || groupId === null) {
      const missing = [subscriptionId === null && "subscriptionId", streamName === null && "streamName", groupId === null && "groupId"]
        .filter(Boolean)
        .join(", ");
      this.#send(socket, createStreamEvent(streamName ?? "", groupId ?? "", id, {
        type: "error",
        error: { code: "invalid_join", message: `join needs string values for ${missing}; send {type:'join', data:{subscriptionId, streamName, groupId, id?}}` },
      }));
      return;
    }

    const subscription: Subscription = {
      id: subscriptionId,
      streamName,
      groupId,
      itemId: id,
      topic: id === null ? groupTopic(streamName, groupId) : itemTopic(streamName, groupId, id),
    };
    const allowed = await this.#options.triggers.authorizeJoin(this.#payload(socket, subscription));
    if (!socket.data.open) return;
    if (!allowed) {
      this.#logger.debug(`stream client '${socket.data.connectionId}': join '${subscriptionId}' refused by a stream:join handler`);
      this.#send(socket, createStreamEvent(streamName, groupId, id, { type: "unauthorized" }));
      return;
    }

    const replaced = socket.data.subscriptions.get(subscriptionId);
    if (replaced) this.#unsubscribe(socket, replaced, true);
    this.#subscribe(socket, subscription);
    await this.#sendSync(socket, subscription);
  }

  async #leave(socket: StreamSocket, request: SubscriptionRequest): Promise<void> {
    const subscription = request.subscriptionId === null ? undefined : socket.data.subscriptions.get(request.subscriptionId);
    if (subscription === undefined) {
      this.#logger.debug(`stream client '${socket.data.connectionId}': leave for unknown subscription '${request.subscriptionId}'`);
      return;
    }

    this.#unsubscribe(socket, subscription, socket.data.open);
    await this.#options.triggers.notifyLeave(this.#payload(socket, subscription));
  }

  async #sendSync(socket: StreamSocket, subscription: Subscription): Promise<void> {
    const { streamName, groupId, itemId } = subscription;
    let body: StreamEventBody;
    try {
      const data =
        itemId === null
          ? await this.#options.functions.listItems(streamName, groupId, {})
          : ((await this.#options.functions.getItem(streamName, groupId, itemId, {})) ?? null);
      body = { type: "sync", data };
    } catch (error) {
      const coded = error as { code?: string; message?: string };
      this.#logger.warn(`stream sync for '${streamName}/${groupId}' failed: ${coded.message ?? String(error)}`);
      body = { type: "error", error: { code: coded.code ?? "STREAM_GET_ERROR", message: coded.message ?? String(error) } };
    }
    if (socket.data.open) this.#send(socket, createStreamEvent(streamName, groupId, itemId, body));
  }

  #subscribe(socket: StreamSocket, subscription: Subscription): void {
    const counts = socket.data.topicCounts;
    const existing = counts.get(subscription.topic) ?? 0;
    this.#slots.add(socket, subscription.topic, existing);
    counts.set(subscription.topic, existing + 1);
    socket.data.subscriptions.set(subscription.id, subscription);
  }

  #unsubscribe(socket: StreamSocket, subscription: Subscription, socketOpen: boolean): void {
    const counts = socket.data.topicCounts;
    const existing = counts.get(subscription.topic) ?? 0;
    this.#slots.remove(socket, subscription.topic, existing, socketOpen);
    if (existing <= 1) counts.delete(subscription.topic);
    else counts.set(subscription.topic, existing - 1);
    socket.data.subscriptions.delete(subscription.id);
  }

  #payload(socket: StreamSocket, subscription: Subscription): SubscriptionPayload {
    return {
      subscription_id: subscription.id,
      stream_name: subscription.streamName,
      group_id: subscription.groupId,
      id: subscription.itemId,
      context: socket.data.authContext,
    };
  }

  /** Sends one envelope; a socket whose buffer is full is closed, because it stopped reading. */
  #send(socket: StreamSocket, event: StreamEvent): void {
    if (!socket.data.open) return;
    if (socket.send(stringifyJson(event)) === 0) this.#closeSlowClient(socket);
  }

  #enqueue(socket: StreamSocket, work: () => Promise<void>): void {
    const data = socket.data;
    data.queue = data.queue
      .then(work)
      .catch((error) => this.#logger.error(`stream client '${data.connectionId}': handling a frame failed`, error));
  }

  // Bun fans a publish out without reporting per socket, so sockets are checked shortly after publishing.
  #scheduleSlowClientCheck(): void {
    if (this.#checkTimer !== null) return;
    this.#checkTimer = setTimeout(() => {
      this.#checkTimer = null;
      const limit = this.#options.maxSendBufferBytes;
      for (const socket of this.#sockets) {
        if (socket.getBufferedAmount() >= limit) this.#closeSlowClient(socket);
      }
    }, SLOW_CLIENT_CHECK_DELAY_MS);
    this.#checkTimer.unref?.();
  }

  #closeSlowClient(socket: StreamSocket): void {
    if (!socket.data.open || socket.readyState !== 1) return;
    const buffered = socket.getBufferedAmount();
    const limit = this.#options.maxSendBufferBytes;
    this.#logger.warn(
      `stream client '${socket.data.connectionId}' has ${buffered} bytes waiting to be read, over the ${limit}-byte limit ` +
        "(max_send_buffer_bytes); disconnecting it",
    );
    socket.close(CLOSE_TRY_AGAIN_LATER, "send buffer full: the client is not reading its socket");
  }
}

/** Header names are lower case; repeated headers are joined with ", ". */
function collectHeaders(headers: Headers): { [name: string]: JsonValue } {
  const result: { [name: string]: JsonValue } = Object.create(null);
  headers.forEach((value, name) => {
    result[name] = value;
  });
  return result;
}

/**
 * Splits a query string into name -> values without percent-decoding; a
 * parameter without `=` gets the value "". `a=1&a=2&c` gives `{a:["1","2"], c:[""]}`.
 */
export function parseRawQuery(search: string): { [name: string]: JsonValue } {
  // A null prototype keeps a parameter named `__proto__` an ordinary key.
  const result: { [name: string]: string[] } = Object.create(null);
  const query = search.startsWith("?") ? search.slice(1) : search;

  for (const part of query.split("&")) {
    if (part === "") continue;
    const equals = part.indexOf("=");
    const name = equals < 0 ? part : part.slice(0, equals);
    const value = equals < 0 ? "" : part.slice(equals + 1);
    const values = result[name] ?? [];
    values.push(value);
    result[name] = values;
  }
  return result;
}

function formatAddress(address: { address: string; port: number } | null): string {
  if (address === null) return "unknown";
  return `${formatHost(address.address)}:${address.port}`;
}

/** Resolves with the work's value, or null when it takes longer than `ms`. */
async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
