import { EngineError } from "../../core/errors.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, parseJson, stringifyJson, type JsonValue } from "../../util/json.ts";
import { describeBridgeUrl } from "./config.ts";

export const BRIDGE_ERROR = "bridge_error";

/** Reconnect delays: doubling from the first to the last value, each varied by up to 20 % either way. */
export const RECONNECT_INITIAL_DELAY_MS = 250;
export const RECONNECT_MAX_DELAY_MS = 10_000;
const RECONNECT_JITTER = 0.2;

/** Interval between liveness pings. A link that stays silent for two intervals is treated as lost. */
export const LIVENESS_INTERVAL_MS = 15_000;

/** An `invokefunction` frame received from the remote engine. */
export interface RemoteInvocation {
  invocationId: string | null;
  functionId: string;
  data: JsonValue;
  traceparent?: string;
  baggage?: string;
}

/** Trace context forwarded with a call. */
export interface TraceContext {
  traceparent?: string;
  baggage?: string;
}

interface PendingCall {
  functionId: string;
  resolve(result: JsonValue | undefined): void;
  reject(error: EngineError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A worker-protocol connection to another engine. Connects in the background,
 * reconnects with backoff for as long as it runs, and calls `onOpen` after each
 * connect so the owner can register again. Calls made while disconnected fail
 * at once with `bridge_error`; calls in flight when the link drops fail too.
 */
export class BridgeConnection {
  readonly #url: string;
  readonly #shownUrl: string;
  readonly #logger: Logger;
  readonly #onOpen: () => void;
  readonly #onInvoke: (invocation: RemoteInvocation) => void;
  readonly #pending = new Map<string, PendingCall>();
  #socket: WebSocket | null = null;
  #open = false;
  #stopped = false;
  #failures = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #livenessIntervalMs: number;
  #livenessTimer: ReturnType<typeof setInterval> | null = null;
  #lastFrameAt = 0;

  constructor(options: {
    url: string;
    logger: Logger;
    onOpen: () => void;
    onInvoke: (invocation: RemoteInvocation) => void;
    livenessIntervalMs?: number;
  }) {
    this.#url = options.url;
    this.#livenessIntervalMs = options.livenessIntervalMs ?? LIVENESS_INTERVAL_MS;
    this.#shownUrl = describeBridgeUrl(options.url);
    this.#logger = options.logger;
    this.#onOpen = options.onOpen;
    this.#onInvoke = options.onInvoke;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Starts connecting; returns at once. */
  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Closes the link for good and fails every call in flight; safe to call twice. */
  stop(): void {
    this.#stopped = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#stopLiveness();
    this.#socket?.close(1000, "bridge client stopping");
    this.#socket = null;
    this.#open = false;
    this.#failPending("the bridge client is stopping");
  }

  /** Sends one frame; returns false when the link is down. */
  send(frame: Record<string, JsonValue | undefined>): boolean {
    if (!this.#open || !this.#socket) return false;
    this.#socket.send(stringifyJson(frame));
    return true;
  }

  /**
   * Calls a remote function; resolves with its result (undefined for none) or
   * rejects with `bridge_error` on a remote error, a timeout or a lost link.
   */
  invoke(functionId: string, data: JsonValue, timeoutMs: number, trace: TraceContext = {}): Promise<JsonValue | undefined> {
    const invocationId = crypto.randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(invocationId);
        reject(new EngineError(BRIDGE_ERROR, `remote function '${functionId}' did not return within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(invocationId, { functionId, resolve, reject, timer });

      const sent = this.send({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data, ...trace });
      if (sent) return;
      clearTimeout(timer);
      this.#pending.delete(invocationId);
      reject(this.#notConnected(functionId));
    });
  }

  /** Calls a remote function without waiting for its result; throws `bridge_error` when the link is down. */
  invokeAsync(functionId: string, data: JsonValue, trace: TraceContext = {}): void {
    if (!this.send({ type: "invokefunction", function_id: functionId, data, ...trace })) throw this.#notConnected(functionId);
  }

  #connect(): void {
    if (this.#stopped) return;
    const socket = new WebSocket(this.#url);
    this.#socket = socket;
    socket.addEventListener("open", () => this.#onSocketOpen(socket));
    socket.addEventListener("message", (event) => this.#onMessage(event.data));
    socket.addEventListener("close", (event) => this.#onSocketClose(socket, event.code, event.reason));
  }

  #onSocketOpen(socket: WebSocket): void {
    if (socket !== this.#socket) return;
    this.#open = true;
    this.#failures = 0;
    this.#startLiveness(socket);
    this.#logger.info(`connected to remote engine at ${this.#shownUrl}`);
    try {
      this.#onOpen();
    } catch (error) {
      this.#logger.error("registering on the remote engine failed", error);
    }
  }

  #onSocketClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.#socket) return;
    const wasOpen = this.#open;
    this.#open = false;
    this.#socket = null;
    this.#stopLiveness();
    this.#failPending(`the connection to ${this.#shownUrl} was lost`);
    if (this.#stopped) return;

    const delay = this.#nextDelay();
    if (wasOpen) {
      this.#logger.warn(`lost the connection to remote engine at ${this.#shownUrl} (code ${code}${reason ? `: ${reason}` : ""}); reconnecting in ${delay} ms`);
    } else if (this.#failures === 1) {
      this.#logger.warn(`cannot connect to remote engine at ${this.#shownUrl}; retrying with backoff up to ${RECONNECT_MAX_DELAY_MS} ms`);
    } else {
      this.#logger.debug(`connection attempt ${this.#failures} to ${this.#shownUrl} failed; retrying in ${delay} ms`);
    }
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, delay);
  }

  /**
   * Pings the remote engine every interval and drops a link that sent no frame for two
   * intervals, because a silently broken TCP path would otherwise look open until the OS gives up.
   */
  #startLiveness(socket: WebSocket): void {
    this.#lastFrameAt = Date.now();
    this.#livenessTimer = setInterval(() => {
      const silentMs = Date.now() - this.#lastFrameAt;
      if (silentMs < 2 * this.#livenessIntervalMs) {
        this.send({ type: "ping" });
        return;
      }
      const reason = `no frame for ${silentMs} ms`;
      this.#onSocketClose(socket, 4000, reason);
      socket.close(4000, reason);
    }, this.#livenessIntervalMs);
  }

  #stopLiveness(): void {
    if (this.#livenessTimer) clearInterval(this.#livenessTimer);
    this.#livenessTimer = null;
  }

  #nextDelay(): number {
    this.#failures++;
    const base = Math.min(RECONNECT_INITIAL_DELAY_MS * 2 ** (this.#failures - 1), RECONNECT_MAX_DELAY_MS);
    const jitter = 1 + (Math.random() * 2 - 1) * RECONNECT_JITTER;
    return Math.round(base * jitter);
  }

  #onMessage(raw: unknown): void {
    this.#lastFrameAt = Date.now();
    const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw as ArrayBuffer);
    let frame: JsonValue;
    try {
      frame = parseJson(text);
    } catch {
      this.#logger.warn(`dropped a frame from ${this.#shownUrl} that is not JSON`);
      return;
    }
    if (!isJsonObject(frame)) return;

    if (frame.type === "invocationresult") this.#complete(frame);
    else if (frame.type === "invokefunction") this.#dispatch(frame);
  }

  #complete(frame: { [key: string]: JsonValue }): void {
    const pending = typeof frame.invocation_id === "string" ? this.#pending.get(frame.invocation_id) : undefined;
    if (!pending) return;
    this.#pending.delete(frame.invocation_id as string);
    clearTimeout(pending.timer);

    const error = frame.error;
    if (error === undefined || error === null) {
      pending.resolve(frame.result === null ? undefined : frame.result);
      return;
    }
    const code = isJsonObject(error) && typeof error.code === "string" ? error.code : "unknown";
    const message = isJsonObject(error) && typeof error.message === "string" ? error.message : stringifyJson(error);
    pending.reject(new EngineError(BRIDGE_ERROR, `remote function '${pending.functionId}' failed with '${code}': ${message}`));
  }

  #dispatch(frame: { [key: string]: JsonValue }): void {
    if (typeof frame.function_id !== "string") return;
    this.#onInvoke({
      invocationId: typeof frame.invocation_id === "string" ? frame.invocation_id : null,
      functionId: frame.function_id,
      data: frame.data === undefined ? null : frame.data,
      traceparent: typeof frame.traceparent === "string" ? frame.traceparent : undefined,
      baggage: typeof frame.baggage === "string" ? frame.baggage : undefined,
    });
  }

  #failPending(reason: string): void {
    for (const [invocationId, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new EngineError(BRIDGE_ERROR, `remote function '${pending.functionId}' did not return: ${reason}`));
      this.#pending.delete(invocationId);
    }
  }

  #notConnected(functionId: string): EngineError {
    return new EngineError(BRIDGE_ERROR, `cannot call remote function '${functionId}': not connected to ${this.#shownUrl}; the bridge is reconnecting`);
  }
}
