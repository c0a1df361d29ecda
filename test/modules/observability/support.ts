import type { OtelModule } from "../../../src/modules/observability/index.ts";
import type { TestEngine } from "../../support/engine.ts";

/**
 * YAML for an engine with the observability module on free ports: tracing on
 * with the memory exporter, no console output. `extra` lines are added to (or
 * replace) the module's top-level config keys.
 */
export function observabilityConfig(extra = ""): string {
  const extraLines = extra.split("\n").filter((line) => line.trim() !== "");
  const overridden = new Set(extraLines.filter((line) => !line.startsWith(" ")).map((line) => line.split(":")[0]!.trim()));
  const base = ["enabled: true", "exporter: memory", "logs_console_output: false", "prometheus:", "  port: 0"];
  const kept = base.filter((line, index) => {
    const key = line.trim().split(":")[0]!;
    if (line.startsWith(" ")) return !overridden.has(base[index - 1]!.split(":")[0]!);
    return !overridden.has(key);
  });
  const body = [...kept, ...extraLines].map((line) => `      ${line}`).join("\n");
  return `
port: 0
modules:
  - class: modules::observability::OtelModule
    config:
${body}
`;
}

export function findOtelModule(engine: TestEngine): OtelModule {
  const module = engine.engine.modules.find((candidate) => candidate.className === "modules::observability::OtelModule");
  if (!module) throw new Error("the observability module is not loaded");
  return module as OtelModule;
}

/** Sends one binary telemetry frame: the 4-byte prefix followed by the JSON body. */
export function sendTelemetry(worker: TestWorker, prefix: "OTLP" | "MTRC" | "LOGS", body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  worker.socket.send(new TextEncoder().encode(prefix + text));
}

/** Calls a function and returns its result, failing on an error reply. */
export async function callOk(worker: TestWorker, functionId: string, data: unknown = {}): Promise<Record<string, unknown>> {
  const reply = await worker.call(functionId, data);
  if (reply.error) throw new Error(`${functionId} failed: ${JSON.stringify(reply.error)}`);
  return reply.result as Record<string, unknown>;
}

export function resourceWith(serviceName: string): unknown {
  return { attributes: [{ key: "service.name", value: { stringValue: serviceName } }] };
}

/**
 * A bare WebSocket worker: sends protocol frames (text) and telemetry frames
 * (binary) and waits for parsed replies.
 */
export class TestWorker implements Disposable {
  readonly socket: WebSocket;
  readonly received: Array<Record<string, unknown>> = [];
  closed: { code: number } | null = null;
  #wake: () => void = () => {};

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string") this.received.push(JSON.parse(event.data) as Record<string, unknown>);
      this.#wake();
    });
    socket.addEventListener("close", (event) => {
      this.closed = { code: event.code };
      this.#wake();
    });
  }

  static async connect(url: string): Promise<TestWorker> {
    const worker = new TestWorker(new WebSocket(url));
    await worker.next((message) => message.type === "workerregistered");
    return worker;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Calls a function and waits for its `invocationresult`. */
  call(functionId: string, data: unknown): Promise<Record<string, unknown>> {
    const invocationId = crypto.randomUUID();
    this.send({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data });
    return this.next((message) => message.type === "invocationresult" && message.invocation_id === invocationId);
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
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  [Symbol.dispose](): void {
    this.socket.close();
  }
}

/** Connects a test worker that `using` closes at the end of the block. */
export function connectWorker(url: string): Promise<TestWorker> {
  return TestWorker.connect(url);
}
