import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../support/engine.ts";
import { ROOT } from "../support/binary.ts";

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

/** A temp directory that `remove` deletes with everything in it. */
export function makeTempDir(label: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `iii-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * An engine run as a child process (`bun src/main.ts -c <config>`) with its
 * data dir in `III_DATA_DIR`, so a test can kill it with SIGKILL and start
 * it again on the same data dir and worker port.
 */
export class EngineChild {
  readonly process: ReturnType<typeof Bun.spawn>;
  readonly workerUrl: string;
  output = "";

  private constructor(configPath: string, dataDir: string, port: number) {
    this.workerUrl = `ws://127.0.0.1:${port}`;
    this.process = Bun.spawn(["bun", "src/main.ts", "-c", configPath], {
      cwd: ROOT,
      env: { ...process.env, III_DATA_DIR: dataDir, III_LOG_LEVEL: "info", NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    void this.#collect(this.process.stdout as ReadableStream<Uint8Array>);
    void this.#collect(this.process.stderr as ReadableStream<Uint8Array>);
  }

  /** Writes `yaml` to `<dataDir>/config.yaml`, starts the engine and waits for its ready line. */
  static async start(dataDir: string, port: number, yaml: string): Promise<EngineChild> {
    const configPath = join(dataDir, "config.yaml");
    writeFileSync(configPath, yaml);
    const child = new EngineChild(configPath, dataDir, port);

    try {
      await waitFor(
        "engine child ready",
        () => {
          if (/ ready\b/.test(child.output)) return true;
          if (child.process.exitCode !== null) throw new Error(`engine child exited with ${child.process.exitCode}:\n${child.output}`);
          return undefined;
        },
        20_000,
      );
    } catch (error) {
      await child.kill();
      throw error;
    }
    return child;
  }

  /** Sends SIGKILL and waits for the process to be gone. */
  async kill(): Promise<void> {
    this.process.kill("SIGKILL");
    await this.process.exited;
  }

  /** Sends SIGTERM and resolves with the exit code once the engine has shut down. */
  async terminate(): Promise<number> {
    this.process.kill("SIGTERM");
    return this.process.exited;
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) this.output += decoder.decode(chunk, { stream: true });
  }
}

/**
 * A private `redis-server` on a free loopback port with its files in a temp
 * dir. Writes go to an append-only file fsynced on every write, so a restart
 * keeps every write Redis acknowledged and a lost job can only be the engine's.
 */
export class PrivateRedis {
  readonly port = freePort();
  readonly url = `redis://127.0.0.1:${this.port}`;
  readonly #dir = makeTempDir("redis");
  #process: ReturnType<typeof Bun.spawn> | null = null;

  async start(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always"];
    this.#process = Bun.spawn(["redis-server", ...args, "--dir", this.#dir.path], { stdout: "ignore", stderr: "ignore" });
    await waitFor(`redis on port ${this.port}`, async () => ((await this.ping()) ? true : undefined), 10_000);
  }

  /** Stops the server with SIGTERM, the same path as `SHUTDOWN`, and waits for it to exit. */
  async stop(): Promise<void> {
    const redis = this.#process;
    this.#process = null;
    if (!redis) return;
    redis.kill("SIGTERM");
    await redis.exited;
  }

  /** Stops the server if it runs and deletes its files. */
  async dispose(): Promise<void> {
    const redis = this.#process;
    this.#process = null;
    if (redis) {
      redis.kill("SIGKILL");
      await redis.exited;
    }
    this.#dir.remove();
  }

  async ping(): Promise<boolean> {
    const probe = Bun.spawn(["redis-cli", "-p", String(this.port), "ping"], { stdout: "pipe", stderr: "ignore" });
    const output = await new Response(probe.stdout).text();
    await probe.exited;
    return output.trim() === "PONG";
  }
}

/** The reply to one call: `result` on success, `error` with a code otherwise. */
export interface CallReply {
  result?: unknown;
  error?: { code: string; message: string };
}

/**
 * A raw WebSocket worker that keeps many calls in flight and matches replies
 * by invocation id. When the socket closes, every call still waiting rejects,
 * so a test can tell acknowledged calls from calls cut off by a crash.
 */
export class PipelinedWorker {
  readonly socket: WebSocket;
  readonly #pending = new Map<string, { resolve(reply: CallReply): void; reject(error: Error): void }>();
  readonly #handlers = new Map<string, (data: unknown, invocationId: string) => void>();
  closed = false;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener("message", (event) => this.#onMessage(JSON.parse(String(event.data))));
    socket.addEventListener("close", () => {
      this.closed = true;
      for (const waiter of this.#pending.values()) waiter.reject(new Error("socket closed before the reply"));
      this.#pending.clear();
    });
  }

  static async connect(url: string): Promise<PipelinedWorker> {
    const socket = new WebSocket(url);
    const worker = new PipelinedWorker(socket);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("message", (event) => String(event.data).includes('"workerregistered"') && resolve());
      socket.addEventListener("error", () => reject(new Error(`could not connect to ${url}`)), { once: true });
    });
    return worker;
  }

  call(functionId: string, data: unknown, timeoutMs = 10_000): Promise<CallReply> {
    if (this.closed) return Promise.reject(new Error("socket closed"));

    const invocationId = crypto.randomUUID();
    return new Promise<CallReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(invocationId);
        reject(new Error(`no reply to '${functionId}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(invocationId, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.send({ type: "invokefunction", invocation_id: invocationId, function_id: functionId, data });
    });
  }

  /** Registers `functionId`; `handle` receives each invocation and must call `answer` itself. */
  serve(functionId: string, handle: (data: unknown, invocationId: string) => void): void {
    this.#handlers.set(functionId, handle);
    this.send({ type: "registerfunction", id: functionId });
  }

  answer(functionId: string, invocationId: string, result: unknown): void {
    if (this.closed) return;
    this.send({ type: "invocationresult", invocation_id: invocationId, function_id: functionId, result });
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  close(): void {
    if (!this.closed) this.socket.close();
  }

  #onMessage(message: Record<string, unknown>): void {
    if (message.type === "invocationresult") {
      const waiter = this.#pending.get(message.invocation_id as string);
      if (!waiter) return;
      this.#pending.delete(message.invocation_id as string);
      waiter.resolve({ result: message.result, error: message.error as CallReply["error"] });
      return;
    }
    if (message.type === "invokefunction") {
      this.#handlers.get(message.function_id as string)?.(message.data, message.invocation_id as string);
    }
  }
}
