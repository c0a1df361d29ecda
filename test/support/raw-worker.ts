/** A bare WebSocket worker for protocol tests: sends frames and waits for parsed replies. */
export class RawWorker {
  readonly socket: WebSocket;
  readonly received: Array<Record<string, unknown>> = [];
  workerId = "";
  closed: { code: number; reason: string } | null = null;
  readonly #waiters = new Set<() => void>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string") this.received.push(JSON.parse(event.data));
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

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Resolves with the first received message (old or new) that matches, removing it from the buffer. */
  async next(match: (message: Record<string, unknown>) => boolean, timeoutMs = 3_000): Promise<Record<string, unknown>> {
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
  async call(functionId: string, data: unknown, timeoutMs = 3_000): Promise<Record<string, unknown>> {
    const invocationId = crypto.randomUUID();
    this.send({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data });
    return this.next((message) => message.type === "invocationresult" && message.invocation_id === invocationId, timeoutMs);
  }

  /** Waits for the socket to close and returns its close code and reason. */
  async waitClosed(timeoutMs = 3_000): Promise<{ code: number; reason: string }> {
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
