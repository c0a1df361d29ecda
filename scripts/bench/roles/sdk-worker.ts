/**
 * A worker built on the official SDK (iii-sdk), as an application would write it.
 *
 *   --url=ws://…            engine or relay worker URL
 *   --function=bench.echo   function that returns its input
 *   --routes=N              also register `bench.http` behind N `http` triggers, as raw-worker.ts does
 */
import { init } from "iii-sdk";
import { exitOnSignal, readFlags, report } from "./args.ts";

const flags = readFlags();
const routes = flags.number("routes", 0);
const iii = init(flags.text("url"), { workerName: "bench-sdk-worker" });

iii.registerFunction({ id: flags.text("function", "bench.echo") }, async (input: unknown) => input);
if (routes > 0) {
  iii.registerFunction({ id: "bench.http" }, async () => ({ status_code: 200, body: { ok: true } }));
  for (let index = 0; index < routes; index++) {
    const path = index === 0 ? "bench" : `bench/r${index}`;
    iii.registerTrigger({ type: "http", function_id: "bench.http", config: { api_path: path, http_method: "GET" } });
  }
}
report({ ready: true });
exitOnSignal(() => iii.shutdown());
