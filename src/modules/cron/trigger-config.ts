import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import { CronExpressionError, DEFAULT_CRON_TIMEZONE, parseCronExpression, type CronSchedule } from "./expression.ts";

/** A `cron` trigger's config after validation. */
export interface CronTriggerConfig {
  schedule: CronSchedule;
  /** Function asked before each tick; `false` or a failure skips the tick. */
  conditionFunctionId?: string;
}

const EXPRESSION_HINT = "such as '0 */5 * * * *' (sec min hour day-of-month month day-of-week [year])";

/**
 * Reads `expression`, `timezone` (IANA name, default UTC) and `_condition_path`; other
 * keys are ignored. Throws `trigger_registration_failed` naming the trigger and the
 * reason, with the expression error as `cause`.
 */
export function parseCronTriggerConfig(trigger: Trigger): CronTriggerConfig {
  const config = trigger.config;
  if (!isJsonObject(config)) {
    throw rejection(trigger, `needs a config object with an 'expression' ${EXPRESSION_HINT}`);
  }

  const expression = config.expression;
  if (typeof expression !== "string" || expression.trim() === "") {
    throw rejection(trigger, `needs a string 'expression' ${EXPRESSION_HINT}, got ${describe(expression)}`);
  }

  const timezone = config.timezone ?? DEFAULT_CRON_TIMEZONE;
  if (typeof timezone !== "string") {
    throw rejection(trigger, `has 'timezone' ${describe(timezone)}; expected an IANA time zone name such as 'Europe/Berlin'`);
  }

  const condition = config._condition_path ?? null;
  if (condition !== null && (typeof condition !== "string" || condition === "")) {
    throw rejection(trigger, `has '_condition_path' ${describe(condition)}; expected the id of a condition function`);
  }

  let schedule: CronSchedule;
  try {
    schedule = parseCronExpression(expression, timezone);
  } catch (error) {
    if (!(error instanceof CronExpressionError)) throw error;
    throw new EngineError(ErrorCode.triggerRegistrationFailed, `cron trigger '${trigger.id}': ${error.message}`, { cause: error });
  }

  return { schedule, conditionFunctionId: condition ?? undefined };
}

function rejection(trigger: Trigger, reason: string): EngineError {
  return new EngineError(ErrorCode.triggerRegistrationFailed, `cron trigger '${trigger.id}' ${reason}`);
}

function describe(value: JsonValue | undefined): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return `'${value}'`;
  if (Array.isArray(value)) return "a list";
  if (isJsonObject(value)) return "an object";
  return String(value);
}
