import { EngineError } from "../../core/errors";

/** Error code for a cron expression or timezone that cannot be scheduled. */
export const INVALID_CRON_EXPRESSION = "invalid_cron_expression";

/** A cron expression or timezone was rejected; the message names the value and what was expected. */
export class CronExpressionError extends EngineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(INVALID_CRON_EXPRESSION, message, options);
    this.name = "CronExpressionError";
  }
}
