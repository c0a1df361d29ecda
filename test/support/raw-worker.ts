/** A decoded frame from the engine. */
export type Frame = { type: string; [key: string]: unknown };

/**
 * A worker that speaks the wire protocol over a bare WebSocket, for protocol
 * edge cases and for cases the SDK cannot express (external function
 * registration, raw channel use), where every frame must be visible.
 */
export class RawWorker {
  readonly socket: WebSocket;
  readonly received: Frame[] = [];
  workerId = "";
  closed: { code: number; reason: string } | null = null;
  /** When set, receives every `invokefunction` frame instead of the buffer. */
  onInvoke: ((frame: Frame) => void) | null = null;
  readonly #waiters = new Set<() => void>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      const frame = JSON.parse(event.data) as Frame;
      if (frame.type === "invokefunction" && this.onInvoke) this.onInvoke(frame);
      else this.received.push(frame);
      this.#wake();
    });
    socket.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.#wake();
    });
  }

  /** Connects and waits for the `workerregistered` frame. */
  static async connect(url: string): Promise<RawWorker> {
    const worker = new RawWorker(new WebSocket(url));
    const registered = await worker.next((message) => message.type === "workerregistered");
    worker.workerId = registered.worker_id as string;
    return worker;
  }

  /** Every received frame not yet taken by `next`; the same array as `received`. */
  get frames(): Frame[] {
    return this.received;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Resolves with the first received message (old or new) that matches, removing it from the buffer. */
  async next(match: (message: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex(match);
      if (index >= 0) return this.received.splice(index, 1)[0]!;
      if (this.closed) throw new Error(`socket closed (code ${this.closed.code}) before the expected message arrived`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no matching message within ${timeoutMs} ms; received ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Calls a function and waits for its `invocationresult`. */
  async call(functionId: string, data: unknown, timeoutMs = 5_000): Promise<Frame> {
    const invocationId = crypto.randomUUID();
    this.send({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data });
    return this.next((message) => message.type === "invocationresult" && message.invocation_id === invocationId, timeoutMs);
  }

  /** Resolves once the engine has handled every frame sent before it (frames are handled in order). */
  async sync(): Promise<void> {
    this.send({ type: "ping" });
    await this.next((frame) => frame.type === "pong");
  }

  /** Waits for the socket to close and returns its close code and reason. */
  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`socket still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
    this.#waiters.clear();
  }
}
