import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { InvocationOutcome } from "../../core/router.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import { levelOf, logToJson, type LogRecordEntry, type LogStore } from "./log-store.ts";

/** Tag of the logger that prints stored records, so the engine-log listener can skip its own output. */
export const PRINTED_LOG_TAG = "log";

const TRIGGER_LEVELS = ["all", "trace", "debug", "info", "warn", "error"];

export interface LogPipelineOptions {
  store: LogStore;
  consoleOutput: boolean;
  /** Logger for printing records; its tag must be `PRINTED_LOG_TAG`. */
  printer: Logger;
  logger: Logger;
  invoke(functionId: string, data: JsonValue): Promise<InvocationOutcome>;
}

/**
 * The path of every stored log record. It is added to the ring buffer, printed
 * at its own level when console output is on, and sent to each `log` trigger
 * whose `level` is `all` or equals the record's level. Trigger handlers run in
 * the background.
 */
export class LogPipeline {
  readonly #options: LogPipelineOptions;
  readonly #triggers = new Map<string, { functionId: string; level: string }>();

  constructor(options: LogPipelineOptions) {
    this.#options = options;
  }

  /** Accepts a `log` trigger; `level` must be `all` (the default) or a level name, other keys are ignored. */
  registerTrigger(trigger: Trigger): void {
    const config = isJsonObject(trigger.config) ? trigger.config : {};
    const level = config.level ?? "all";
    if (typeof level !== "string" || !TRIGGER_LEVELS.includes(level.toLowerCase())) {
      throw new EngineError(
        ErrorCode.triggerRegistrationFailed,
        `log trigger '${trigger.id}': level ${JSON.stringify(level)} is not valid; use one of ${TRIGGER_LEVELS.join(", ")}`,
      );
    }
    this.#triggers.set(trigger.id, { functionId: trigger.function_id, level: level.toLowerCase() });
  }

  unregisterTrigger(trigger: Trigger): void {
    this.#triggers.delete(trigger.id);
  }

  /** Stores a record, prints it when `print` is set and console output is on, and fires matching triggers. */
  accept(log: LogRecordEntry, print: boolean): void {
    this.#options.store.add(log);
    if (print && this.#options.consoleOutput) this.#print(log);
    if (this.#triggers.size === 0) return;

    const level = levelOf(log);
    const payload = logToJson(log);
    for (const [triggerId, trigger] of this.#triggers) {
      if (trigger.level !== "all" && trigger.level !== level) continue;
      void this.#options.invoke(trigger.functionId, payload).then((outcome) => {
        if (outcome.type === "failure") {
          this.#options.logger.debug(`log trigger '${triggerId}' handler '${trigger.functionId}' failed: ${outcome.error.message}`);
        }
      });
    }
  }

  #print(log: LogRecordEntry): void {
    const printer = this.#options.printer;
    const line = `[${log.serviceName}] ${log.body}`;
    switch (levelOf(log)) {
      case "error":
        printer.error(line);
        return;
      case "warn":
        printer.warn(line);
        return;
      case "debug":
        printer.debug(line);
        return;
      case "trace":
        printer.trace(line);
        return;
      default:
        printer.info(line);
    }
  }
}
