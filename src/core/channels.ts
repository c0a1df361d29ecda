import type { ServerWebSocket } from "bun";
import type { Logger } from "../telemetry/logger.ts";

/** Reference to one end of a channel, as workers receive it; `direction` is seen from the worker. */
export interface ChannelRef {
  channel_id: string;
  access_key: string;
  direction: "read" | "write";
}

export type ChannelItem = string | Uint8Array;

/** Data Bun keeps on a channel socket. */
export interface ChannelSocketData {
  kind: "channel";
  channel: DataChannel;
  direction: "read" | "write";
  /** Set when this socket took its end; a socket turned away because the end was taken owns nothing. */
  ownsEnd?: boolean;
}

export const DEFAULT_CHANNEL_CAPACITY = 64;
export const MAX_CHANNEL_CAPACITY = 1024;
const SWEEP_INTERVAL_MS = 60_000;
const ABANDONED_AFTER_MS = 5 * 60_000;

/**
 * A one-way, ordered stream of text and binary items with one writer end and one
 * reader end, each taken once. The writer waits while `capacity` items are queued.
 */
export class DataChannel {
  readonly id: string;
  readonly accessKey: string;
  readonly capacity: number;
  readonly createdAt: number;
  readonly ownerWorkerId: string | null;
  readerTaken = false;
  writerTaken = false;
  #writerClosed = false;
  readonly #items: ChannelItem[] = [];
  #readWaiter: (() => void) | null = null;
  #writeWaiters: Array<() => void> = [];
  #readyWaiters: Array<() => void> = [];
  readonly #closeListeners = new Set<() => void>();

  constructor(options: { id: string; accessKey: string; capacity: number; ownerWorkerId: string | null; now: number }) {
    this.id = options.id;
    this.accessKey = options.accessKey;
    this.capacity = options.capacity;
    this.ownerWorkerId = options.ownerWorkerId;
    this.createdAt = options.now;
  }

  get writerClosed(): boolean {
    return this.#writerClosed;
  }

  ref(direction: "read" | "write"): ChannelRef {
    return { channel_id: this.id, access_key: this.accessKey, direction };
  }

  /** Queues an item, waiting for room; items written after the writer closed are dropped. */
  async write(item: ChannelItem): Promise<void> {
    while (this.#items.length >= this.capacity && !this.#writerClosed) {
      await new Promise<void>((resolve) => this.#writeWaiters.push(resolve));
    }
    this.push(item);
  }

  /** Queues an item without waiting; for sources that cannot be paused, such as a WebSocket. */
  push(item: ChannelItem): void {
    if (this.#writerClosed) return;
    this.#items.push(item);
    this.#wakeReader();
  }

  closeWriter(): void {
    if (this.#writerClosed) return;
    this.#writerClosed = true;
    this.#wakeReader();
    for (const wake of this.#writeWaiters.splice(0)) wake();
    for (const listener of this.#closeListeners) listener();
  }

  /** Calls `listener` once the writer end closes. */
  onWriterClosed(listener: () => void): void {
    if (this.#writerClosed) listener();
    else this.#closeListeners.add(listener);
  }

  /** Calls `listener` once, as soon as an item is queued or the writer has closed. */
  onReady(listener: () => void): void {
    if (this.#items.length > 0 || this.#writerClosed) listener();
    else this.#readyWaiters.push(listener);
  }

  /** Returns the next item, or null once the writer closed and the queue is drained. */
  async read(): Promise<ChannelItem | null> {
    while (this.#items.length === 0) {
      if (this.#writerClosed) return null;
      await new Promise<void>((resolve) => {
        this.#readWaiter = resolve;
      });
    }
    const item = this.#items.shift()!;
    this.#writeWaiters.shift()?.();
    return item;
  }

  #wakeReader(): void {
    const wake = this.#readWaiter;
    this.#readWaiter = null;
    wake?.();
    for (const waiter of this.#readyWaiters.splice(0)) waiter();
  }
}

/**
 * Open channels by id, the `/ws/channels/{id}` endpoint that lets workers take
 * an end, and a sweep that drops channels left with an untaken end for 5 minutes.
 */
export class ChannelManager {
  readonly #channels = new Map<string, DataChannel>();
  readonly #logger: Logger;
  #sweepTimer: ReturnType<typeof setInterval> | null = null;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  start(): void {
    this.#sweepTimer = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref?.();
  }

  stop(): void {
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    for (const channel of this.#channels.values()) channel.closeWriter();
    this.#channels.clear();
  }

  /** Creates a channel; `capacity` is clamped to 1..1024 items. */
  create(capacity: number = DEFAULT_CHANNEL_CAPACITY, ownerWorkerId: string | null = null): DataChannel {
    const channel = new DataChannel({
      id: crypto.randomUUID(),
      accessKey: crypto.randomUUID(),
      capacity: Math.min(Math.max(Math.trunc(capacity) || 1, 1), MAX_CHANNEL_CAPACITY),
      ownerWorkerId,
      now: Date.now(),
    });
    this.#channels.set(channel.id, channel);
    return channel;
  }

  remove(channel: DataChannel): void {
    channel.closeWriter();
    this.#channels.delete(channel.id);
  }

  removeOwnedBy(workerId: string): void {
    for (const channel of this.#channels.values()) {
      if (channel.ownerWorkerId === workerId) this.remove(channel);
    }
  }

  get size(): number {
    return this.#channels.size;
  }

  /** Drops channels older than 5 minutes that still have an untaken end. */
  sweep(now: number): void {
    for (const channel of this.#channels.values()) {
      if (now - channel.createdAt < ABANDONED_AFTER_MS) continue;
      if (channel.readerTaken && channel.writerTaken) continue;
      this.#logger.debug(`removed abandoned channel '${channel.id}'`);
      this.remove(channel);
    }
  }

  /**
   * Checks a `/ws/channels/{id}?key=…&dir=read|write` request. Returns the
   * socket data to upgrade with, or the HTTP response to send instead.
   */
  resolveUpgrade(pathname: string, query: URLSearchParams): ChannelSocketData | Response {
    let id: string;
    try {
      id = decodeURIComponent(pathname.slice("/ws/channels/".length));
    } catch {
      return new Response("Channel not found", { status: 404 });
    }
    const key = query.get("key");
    const direction = query.get("dir");
    if (!key || (direction !== "read" && direction !== "write")) {
      return new Response("query must have 'key' and 'dir' set to read or write", { status: 400 });
    }
    const channel = this.#channels.get(id);
    if (!channel || channel.accessKey !== key) return new Response("Channel not found", { status: 404 });
    return { kind: "channel", channel, direction };
  }

  /** Starts serving a channel socket: a reader gets every item in order, a writer's frames are queued. */
  onOpen(socket: ServerWebSocket<ChannelSocketData>): void {
    const { channel, direction } = socket.data;
    if (direction === "read") {
      if (channel.readerTaken) return socket.close(1008, "reader end already taken");
      channel.readerTaken = true;
      socket.data.ownsEnd = true;
      void this.#pumpToSocket(channel, socket);
      return;
    }
    if (channel.writerTaken) return socket.close(1008, "writer end already taken");
    channel.writerTaken = true;
    socket.data.ownsEnd = true;
  }

  onMessage(socket: ServerWebSocket<ChannelSocketData>, message: string | Buffer): void {
    if (socket.data.direction !== "write" || !socket.data.ownsEnd) return;
    socket.data.channel.push(typeof message === "string" ? message : new Uint8Array(message));
  }

  /** Closes the writer when its socket ends. When the reader's socket ends the channel is removed, because that end cannot be taken again. */
  onClose(socket: ServerWebSocket<ChannelSocketData>): void {
    if (!socket.data.ownsEnd) return;
    if (socket.data.direction === "write") socket.data.channel.closeWriter();
    else this.remove(socket.data.channel);
  }

  async #pumpToSocket(channel: DataChannel, socket: ServerWebSocket<ChannelSocketData>): Promise<void> {
    try {
      for (let item = await channel.read(); item !== null; item = await channel.read()) {
        // send() also returns 0 for an empty item that was sent, so only a closed socket stops the pump.
        if (socket.send(item) === 0 && socket.readyState !== WebSocket.OPEN) return;
      }
      socket.close(1000, "channel closed");
    } catch (error) {
      this.#logger.warn(`channel '${channel.id}' reader failed`, error);
    } finally {
      this.#channels.delete(channel.id);
    }
  }
}
