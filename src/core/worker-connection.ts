import type { ServerWebSocket } from "bun";
import type { JsonValue } from "../util/json.ts";
import type { Logger } from "../telemetry/logger.ts";

/** Data Bun keeps on each worker socket; the connection object is attached on open. */
export interface WorkerSocketData {
  kind: "worker";
  ipAddress: string;
  connection?: WorkerConnection;
}

/** Metadata a worker reports about itself through `engine::workers::register`. */
export interface WorkerTelemetryInfo {
  language: string | null;
  project_name: string | null;
  framework: string | null;
}

/** Close codes the engine uses, from the registered range of RFC 6455 section 7.4.1. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  tryAgainLater: 1013,
  /** Reported for a connection dropped without a closing handshake; never sent on the wire. */
  abnormal: 1006,
} as const;

/**
 * One connected worker: its socket, what it registered, and the invocations it
 * takes part in as caller or callee. `send` never throws. A worker whose send
 * buffer passes the limit is disconnected, because it has stopped reading.
 */
export class WorkerConnection {
  readonly id: string;
  readonly ipAddress: string;
  readonly connectedAt: number;
  name: string | null = null;
  runtime: string | null = null;
  version: string | null = null;
  os: string | null = null;
  telemetry: WorkerTelemetryInfo | null = null;
  latestMetrics: { [key: string]: JsonValue } | null = null;

  readonly functions = new Set<string>();
  readonly externalFunctions = new Set<string>();
  readonly triggers = new Set<string>();
  readonly triggerTypes = new Set<string>();
  readonly invocations = new Set<string>();
  /** True once a warning logged that this worker sends call actions (such as "enqueue") that are not supported. */
  actionWarned = false;
  /** Time (epoch ms) of the last frame or pong from the worker, for the liveness check. */
  lastActivityAt: number;
  /** Results that arrived for calls no longer waiting; the first one is logged as a warning. */
  lateResults = 0;

  readonly #socket: ServerWebSocket<WorkerSocketData>;
  readonly #maxSendBufferBytes: number;
  readonly #logger: Logger;
  #open = true;

  constructor(options: {
    id: string;
    socket: ServerWebSocket<WorkerSocketData>;
    maxSendBufferBytes: number;
    logger: Logger;
    now: number;
  }) {
    this.id = options.id;
    this.#socket = options.socket;
    this.ipAddress = options.socket.data.ipAddress;
    this.connectedAt = options.now;
    this.lastActivityAt = options.now;
    this.#maxSendBufferBytes = options.maxSendBufferBytes;
    this.#logger = options.logger;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Queues a text frame and returns false when the worker is gone. Bun drops a
   * frame that would push the send buffer past `backpressureLimit`. Such a worker
   * has stopped reading, so it is disconnected instead of buffering without bound.
   */
  send(frame: string): boolean {
    if (!this.#open) return false;
    if (this.#socket.send(frame) !== 0) return true;
    if (this.#socket.readyState === 1) {
      this.#logger.warn(
        `worker '${this.id}' has ${this.#socket.getBufferedAmount()} bytes waiting to be read, over the ` +
          `${this.#maxSendBufferBytes}-byte limit (max_send_buffer_bytes); disconnecting it`,
      );
      this.close(CloseCode.tryAgainLater, "send buffer full: the worker is not reading its socket");
    }
    return false;
  }

  /** Closes the socket once; the engine's close handler then runs the disconnect cleanup. */
  close(code: number = CloseCode.normal, reason?: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.#socket.close(code, reason);
  }

  /** Sends a WebSocket ping; the pong counts as activity. */
  ping(): void {
    if (this.#open) this.#socket.ping();
  }

  /** Drops the connection without a closing handshake, for a peer that stopped responding. */
  terminate(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#socket.terminate();
  }

  /** Marks the socket closed by the peer, so later sends are skipped. */
  markClosed(): void {
    this.#open = false;
  }
}
