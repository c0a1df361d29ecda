import { CronExpressionError } from "./expression-error";
import { CRON_FIELDS, YEAR_FIELD, formatRuns, parseCronField } from "./expression-fields";

/** The allowed values of each field, sorted; day-of-week counts 1-7 from Sunday. */
export interface CronFieldValues {
  readonly seconds: readonly number[];
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: readonly number[];
  readonly months: readonly number[];
  readonly daysOfWeek: readonly number[];
  readonly years: readonly number[];
}

/**
 * Parses `sec min hour day-of-month month day-of-week [year]` or a macro such as
 * `@daily` into allowed values; throws `CronExpressionError` for anything else,
 * including 5-field expressions, whose message shows the 6-field equivalent.
 */
export function parseCronFields(expression: string): CronFieldValues {
  const trimmed = expression.trim();
  if (trimmed === "") {
    throw new CronExpressionError(`cron expression '${expression}' is empty; expected 6 or 7 fields: ${FIELD_LAYOUT}`);
  }

  const text = trimmed.startsWith("@") ? expandMacro(trimmed, expression) : trimmed;
  const parts = text.split(/\s+/);
  if (parts.length === 5) throw fiveFieldError(expression, parts);
  if (parts.length !== 6 && parts.length !== 7) {
    const count = parts.length === 1 ? "1 field" : `${parts.length} fields`;
    throw new CronExpressionError(`cron expression '${expression}' has ${count}; expected 6 or 7 fields: ${FIELD_LAYOUT}`);
  }

  const values = parts.map((part, index) => parseCronField(CRON_FIELDS[index]!, part, expression));
  return {
    seconds: values[0]!,
    minutes: values[1]!,
    hours: values[2]!,
    daysOfMonth: values[3]!,
    months: values[4]!,
    daysOfWeek: values[5]!,
    years: values[6] ?? parseCronField(YEAR_FIELD, "*", expression),
  };
}

const FIELD_LAYOUT = "sec min hour day-of-month month day-of-week [year]";

/** Macros fire at second 0; `@weekly` fires on Sunday, which is day-of-week 1. */
const MACROS: ReadonlyMap<string, string> = new Map([
  ["@yearly", "0 0 0 1 1 *"],
  ["@annually", "0 0 0 1 1 *"],
  ["@monthly", "0 0 0 1 * *"],
  ["@weekly", "0 0 0 * * 1"],
  ["@daily", "0 0 0 * * *"],
  ["@hourly", "0 0 * * * *"],
]);

function expandMacro(macro: string, expression: string): string {
  const fields = MACROS.get(macro.toLowerCase());
  if (fields === undefined) {
    const known = [...MACROS.keys()].join(", ");
    throw new CronExpressionError(`cron expression '${expression}' is not a known macro; expected one of ${known}`);
  }
  return fields;
}

function fiveFieldError(expression: string, parts: string[]): CronExpressionError {
  const [minute, hour, dayOfMonth, month, dayOfWeek] = parts as [string, string, string, string, string];
  const weekdays = translateFiveFieldWeekdays(dayOfWeek);
  const suggestion = weekdays === undefined ? undefined : `0 ${minute} ${hour} ${dayOfMonth} ${month} ${weekdays}`;

  if (suggestion === undefined || !isValidExpression(suggestion)) {
    return new CronExpressionError(
      `cron expression '${expression}' has 5 fields; expressions need seconds first: ${FIELD_LAYOUT}, with day-of-week 1-7 and 1 = Sunday`,
    );
  }

  const weekdayNote = weekdays === dayOfWeek ? "" : " (day-of-week counts 1-7 from Sunday)";
  return new CronExpressionError(
    `cron expression '${expression}' has 5 fields; expressions need seconds first: use '${suggestion}'${weekdayNote}`,
  );
}

/**
 * Rewrites a 5-field day-of-week (0-7, where 0 and 7 are Sunday) as 1-7 with 1 = Sunday.
 * Names and `*` mean the same in both and stay; returns undefined when a value is out of range.
 */
function translateFiveFieldWeekdays(text: string): string | undefined {
  const items: string[] = [];

  for (const item of text.split(",")) {
    const numeric = /^(\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(item);
    if (numeric === null) {
      items.push(item);
      continue;
    }

    const [, startText, endText, stepText] = numeric;
    const start = Number(startText);
    const step = stepText === undefined ? 1 : Number(stepText);
    let end = start;
    if (endText !== undefined) end = Number(endText);
    else if (stepText !== undefined) end = 6;
    if (end > 7 || step < 1) return undefined;

    const days = new Set<number>();
    for (let day = start; day <= end; day += step) days.add((day % 7) + 1);
    items.push(formatRuns([...days].sort((a, b) => a - b)));
  }

  return items.join(",");
}

function isValidExpression(expression: string): boolean {
  try {
    parseCronFields(expression);
    return true;
  } catch {
    return false;
  }
}
