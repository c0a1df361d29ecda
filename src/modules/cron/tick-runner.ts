import type { EngineContext } from "../../core/context.ts";
import { ErrorCode, type WireError } from "../../core/errors.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { JsonValue } from "../../util/json.ts";
import type { CronLockAdapter } from "./adapter.ts";
import type { CronClock } from "./clock.ts";

// A trigger that keeps failing is reported at most once per interval. Failures in
// between are logged at debug and counted in the next report.
const REPORT_INTERVAL_MS = 60_000;

/** The trigger a runner fires. */
export interface CronTarget {
  triggerId: string;
  functionId: string;
  conditionFunctionId?: string;
}

export interface CronTickRunnerDeps {
  context: Pick<EngineContext, "invoke">;
  adapter: CronLockAdapter;
  clock: CronClock;
  logger: Logger;
}

/**
 * Runs the ticks of one trigger. Each run claims the tick, calls the condition function,
 * then calls the handler and waits for it. The tick is skipped when another engine claimed
 * it, when the lock backend failed, or when the condition returned `false` or failed.
 * `run` never rejects.
 */
export class CronTickRunner {
  readonly #target: CronTarget;
  readonly #deps: CronTickRunnerDeps;
  readonly #reports = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(target: CronTarget, deps: CronTickRunnerDeps) {
    this.#target = target;
    this.#deps = deps;
  }

  async run(scheduledMs: number): Promise<void> {
    const { triggerId, functionId, conditionFunctionId } = this.#target;
    const { context, logger } = this.#deps;
    const payload = {
      trigger: "cron",
      job_id: triggerId,
      scheduled_time: new Date(scheduledMs).toISOString(),
      actual_time: new Date(this.#deps.clock.now()).toISOString(),
    };

    if (!(await this.#claim(scheduledMs, payload.scheduled_time))) return;

    if (conditionFunctionId !== undefined && !(await this.#conditionAllows(conditionFunctionId, payload))) return;

    const outcome = await context.invoke(functionId, payload, {
      span: { name: `call ${functionId}`, kind: "producer", attributes: { "faas.trigger": "timer", job_id: triggerId } },
    });
    if (outcome.type === "failure" && outcome.error.code === ErrorCode.invocationStopped) {
      // The engine already logs the worker leaving or the engine stopping.
      logger.debug(`cron trigger '${triggerId}': run of '${functionId}' stopped before it finished`);
      return;
    }
    if (outcome.type === "failure") {
      this.#report("handler", `cron trigger '${triggerId}': function '${functionId}' failed`, describeError(outcome.error));
      return;
    }
    logger.debug(`cron trigger '${triggerId}' ran '${functionId}' for ${payload.scheduled_time}`);
  }

  async #claim(scheduledMs: number, scheduledTime: string): Promise<boolean> {
    const { triggerId } = this.#target;
    try {
      const claimed = await this.#deps.adapter.tryAcquire(triggerId, scheduledMs);
      if (!claimed) this.#deps.logger.debug(`cron trigger '${triggerId}' tick ${scheduledTime} was claimed elsewhere; skipped`);
      return claimed;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.#report("lock", `cron trigger '${triggerId}' skipped tick ${scheduledTime} because the lock failed`, reason);
      return false;
    }
  }

  async #conditionAllows(conditionFunctionId: string, payload: JsonValue): Promise<boolean> {
    const { triggerId } = this.#target;
    const outcome = await this.#deps.context.invoke(conditionFunctionId, payload);

    if (outcome.type === "failure") {
      this.#report("condition", `cron trigger '${triggerId}' skipped a tick because condition '${conditionFunctionId}' failed`, describeError(outcome.error));
      return false;
    }
    if (outcome.result === false) {
      this.#deps.logger.debug(`cron trigger '${triggerId}' skipped a tick because condition '${conditionFunctionId}' returned false`);
      return false;
    }
    return true;
  }

  /** Logs a failure at warn or error level once per interval and kind, and at debug level otherwise. */
  #report(kind: string, message: string, reason: string): void {
    const { clock, logger } = this.#deps;
    const now = clock.now();
    const detail = `${message}: ${reason}`;

    const last = this.#reports.get(kind);
    if (last && now - last.lastMs < REPORT_INTERVAL_MS) {
      last.suppressed++;
      logger.debug(detail);
      return;
    }

    const repeats = last && last.suppressed > 0 ? ` (${last.suppressed} more since the last report)` : "";
    this.#reports.set(kind, { lastMs: now, suppressed: 0 });
    if (kind === "handler") logger.error(`${detail}${repeats}`);
    else logger.warn(`${detail}${repeats}`);
  }
}

function describeError(error: WireError): string {
  return `${error.code}: ${error.message}`;
}
