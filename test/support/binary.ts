import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const BINARY = join(ROOT, "dist", "iii");

/** Builds dist/iii once per test process with the project's build script. */
let built: Promise<void> | null = null;
export function buildBinary(): Promise<void> {
  built ??= (async () => {
    const build = Bun.spawn(["bun", "scripts/build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if ((await build.exited) !== 0) throw new Error(`build failed: ${await new Response(build.stderr).text()}`);
  })();
  return built;
}

/** A running engine process whose output is collected line by line. */
export class EngineProcess {
  readonly process: ReturnType<typeof Bun.spawn>;
  output = "";

  constructor(args: string[], options: { cwd: string; env?: Record<string, string> }) {
    this.process = Bun.spawn([BINARY, ...args], {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdout: "pipe",
      stderr: "pipe",
    });
    void this.#collect(this.process.stdout as ReadableStream<Uint8Array>);
    void this.#collect(this.process.stderr as ReadableStream<Uint8Array>);
  }

  /** Waits until the output matches `pattern`, failing with the output so far. */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (Date.now() > deadline) throw new Error(`output never matched ${pattern}; output was:\n${this.output}`);
      await Bun.sleep(20);
    }
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) this.output += decoder.decode(chunk, { stream: true });
  }
}
