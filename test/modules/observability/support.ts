import type { OtelModule } from "../../../src/modules/observability/index.ts";
import type { TestEngine } from "../../support/engine.ts";
import { RawWorker } from "../../support/raw-worker.ts";

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
export function sendTelemetry(worker: RawWorker, prefix: "OTLP" | "MTRC" | "LOGS", body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  worker.socket.send(new TextEncoder().encode(prefix + text));
}

/** Calls a function and returns its result, failing on an error reply. */
export async function callOk(worker: RawWorker, functionId: string, data: unknown = {}): Promise<Record<string, unknown>> {
  const reply = await worker.call(functionId, data);
  if (reply.error) throw new Error(`${functionId} failed: ${JSON.stringify(reply.error)}`);
  return reply.result as Record<string, unknown>;
}

export function resourceWith(serviceName: string): unknown {
  return { attributes: [{ key: "service.name", value: { stringValue: serviceName } }] };
}

/** Connects a test worker that `using` closes at the end of the block. */
export function connectWorker(url: string): Promise<RawWorker> {
  return RawWorker.connect(url);
}
