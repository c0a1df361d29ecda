import { Cron } from "croner";

import { CronExpressionError } from "./expression-error";
import {
  type CronField,
  DAY_OF_MONTH_FIELD,
  DAY_OF_WEEK_FIELD,
  HOUR_FIELD,
  MINUTE_FIELD,
  MONTH_FIELD,
  SECOND_FIELD,
  formatRuns,
} from "./expression-fields";
import { type CronFieldValues, parseCronFields } from "./expression-parse";

export { CronExpressionError, INVALID_CRON_EXPRESSION } from "./expression-error";

/** A parsed cron expression bound to a timezone. It computes fire times and starts no timers. */
export interface CronSchedule {
  /**
   * Returns the first fire time strictly after `time`, at whole seconds, or null when no
   * fire time is left (for example after the last allowed year).
   */
  nextAfter(time: Date): Date | null;
  readonly expression: string;
  readonly timezone: string;
}

export const DEFAULT_CRON_TIMEZONE = "UTC";

/**
 * Parses a 6- or 7-field cron expression (`sec min hour day-of-month month day-of-week [year]`)
 * or a macro such as `@daily`, evaluated in the IANA `timezone`. Throws `CronExpressionError`
 * (code `invalid_cron_expression`) for an invalid expression or an unknown timezone.
 */
export function parseCronExpression(expression: string, timezone: string = DEFAULT_CRON_TIMEZONE): CronSchedule {
  const fields = parseCronFields(expression);
  assertKnownTimezone(timezone);
  return new CronerSchedule(expression, timezone, fields);
}

/** Lists up to `count` consecutive fire times after `after`; fewer when the schedule runs out. */
export function nextFireTimes(schedule: CronSchedule, after: Date, count: number): Date[] {
  const times: Date[] = [];

  let cursor = after;
  while (times.length < count) {
    const next = schedule.nextAfter(cursor);
    if (next === null) break;
    times.push(next);
    cursor = next;
  }

  return times;
}

/**
 * Daylight saving time follows croner 11 with `fixedTimeRule: "single-value"`. An expression
 * with one value in each of second, minute and hour fires once when its wall-clock time occurs
 * twice, and at the end of the gap when that time is skipped. Any other expression fires at
 * every matching instant, so it fires twice in a repeated hour and not at all in a gap.
 */
class CronerSchedule implements CronSchedule {
  readonly expression: string;
  readonly timezone: string;
  readonly #cron: Cron;

  constructor(expression: string, timezone: string, fields: CronFieldValues) {
    this.expression = expression;
    this.timezone = timezone;
    this.#cron = new Cron(toCronerPattern(fields), {
      paused: true,
      timezone,
      domAndDow: true,
      mode: "7-part",
      fixedTimeRule: "single-value",
    });
  }

  nextAfter(time: Date): Date | null {
    // croner 11 returns the next whole second after `time`, never `time` itself.
    return this.#cron.nextRun(time);
  }
}

/**
 * Writes the values as croner's 7-part pattern: a full field becomes `*`, except the year,
 * which croner would otherwise let run past 2100; croner counts day-of-week 0-6 from Sunday.
 */
function toCronerPattern(fields: CronFieldValues): string {
  return [
    formatField(fields.seconds, SECOND_FIELD),
    formatField(fields.minutes, MINUTE_FIELD),
    formatField(fields.hours, HOUR_FIELD),
    formatField(fields.daysOfMonth, DAY_OF_MONTH_FIELD),
    formatField(fields.months, MONTH_FIELD),
    formatField(fields.daysOfWeek, DAY_OF_WEEK_FIELD, -1),
    formatRuns(fields.years),
  ].join(" ");
}

function formatField(values: readonly number[], field: CronField, shift = 0): string {
  if (values.length === field.max - field.min + 1) return "*";
  return formatRuns(values.map((value) => value + shift));
}

function assertKnownTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch (error) {
    throw new CronExpressionError(
      `cron timezone '${timezone}' is not a known IANA time zone; expected a name such as 'UTC' or 'Europe/Berlin'`,
      { cause: error },
    );
  }
}
