import type { Engine } from "../../../src/core/engine.ts";

/** A pushed stream envelope as a client sees it. */
export interface Envelope {
  type: string;
  timestamp: number;
  streamName: string;
  groupId: string;
  id: string | null;
  event: { type: string; data?: unknown; event?: { type: string; data: unknown }; error?: { code: string; message: string } };
}

/**
 * A raw WebSocket stream client that records every push, so tests can wait
 * for the next one or check that none arrived.
 */
export class StreamClient {
  readonly received: Envelope[] = [];
  readonly #socket: WebSocket;
  #read = 0;
  closeEvent: CloseEvent | null = null;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener("message", (message) => this.received.push(JSON.parse(String(message.data)) as Envelope));
    socket.addEventListener("close", (event) => {
      this.closeEvent = event;
    });
  }

  static async connect(url: string): Promise<StreamClient> {
    const socket = new WebSocket(url);
    const client = new StreamClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error(`could not connect a stream client to ${url}`)), { once: true });
    });
    return client;
  }

  join(subscriptionId: string, streamName: string, groupId: string, id?: string): void {
    this.sendJson({ type: "join", data: { subscriptionId, streamName, groupId, ...(id === undefined ? {} : { id }) } });
  }

  leave(subscriptionId: string, streamName: string, groupId: string, id?: string): void {
    this.sendJson({ type: "leave", data: { subscriptionId, streamName, groupId, ...(id === undefined ? {} : { id }) } });
  }

  sendJson(value: unknown): void {
    this.#socket.send(JSON.stringify(value));
  }

  sendRaw(data: string | Uint8Array): void {
    this.#socket.send(data);
  }

  /** Returns the next push not yet read, waiting up to `timeoutMs`. */
  async next(what: string, timeoutMs = 3_000): Promise<Envelope> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length <= this.#read) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await Bun.sleep(5);
    }
    return this.received[this.#read++]!;
  }

  /** Number of pushes not yet read. */
  get unread(): number {
    return this.received.length - this.#read;
  }

  async close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.#socket.addEventListener("close", () => resolve(), { once: true }));
    this.#socket.close();
    await closed;
  }
}

/** Returns the stream module's bound port from the running engine. */
export function streamPort(engine: Engine): number {
  const module = engine.modules.find((candidate) => candidate.className === "modules::stream::StreamModule") as
    | { port: number }
    | undefined;
  if (!module?.port) throw new Error("the stream module is not running");
  return module.port;
}

/** Returns the stream module itself, for counters such as open connections. */
export function streamModule(engine: Engine): { port: number; connectionCount: number } {
  const module = engine.modules.find((candidate) => candidate.className === "modules::stream::StreamModule");
  if (!module) throw new Error("the stream module is not loaded");
  return module as unknown as { port: number; connectionCount: number };
}
