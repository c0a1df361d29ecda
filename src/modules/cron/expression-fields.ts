import { CronExpressionError } from "./expression-error";

/** One position of a cron expression: its allowed values, names and wording for errors. */
export interface CronField {
  readonly label: string;
  readonly min: number;
  readonly max: number;
  /** Accepted values, as shown after "expected" in error messages. */
  readonly expected: string;
  readonly names?: ReadonlyMap<string, number>;
  /** Whether `?` is accepted as a synonym of `*`. */
  readonly acceptsAny?: boolean;
}

const WEEKDAY_NAMES: ReadonlyMap<string, number> = new Map([
  ["sun", 1], ["sunday", 1],
  ["mon", 2], ["monday", 2],
  ["tue", 3], ["tues", 3], ["tuesday", 3],
  ["wed", 4], ["wednesday", 4],
  ["thu", 5], ["thurs", 5], ["thursday", 5],
  ["fri", 6], ["friday", 6],
  ["sat", 7], ["saturday", 7],
]);

const MONTH_NAMES: ReadonlyMap<string, number> = new Map([
  ["jan", 1], ["january", 1],
  ["feb", 2], ["february", 2],
  ["mar", 3], ["march", 3],
  ["apr", 4], ["april", 4],
  ["may", 5],
  ["jun", 6], ["june", 6],
  ["jul", 7], ["july", 7],
  ["aug", 8], ["august", 8],
  ["sep", 9], ["september", 9],
  ["oct", 10], ["october", 10],
  ["nov", 11], ["november", 11],
  ["dec", 12], ["december", 12],
]);

export const SECOND_FIELD: CronField = { label: "second", min: 0, max: 59, expected: "0-59" };
export const MINUTE_FIELD: CronField = { label: "minute", min: 0, max: 59, expected: "0-59" };
export const HOUR_FIELD: CronField = { label: "hour", min: 0, max: 23, expected: "0-23" };

export const DAY_OF_MONTH_FIELD: CronField = {
  label: "day-of-month",
  min: 1,
  max: 31,
  expected: "1-31 or '?'",
  acceptsAny: true,
};

export const MONTH_FIELD: CronField = {
  label: "month",
  min: 1,
  max: 12,
  expected: "1-12 or JAN-DEC",
  names: MONTH_NAMES,
};

/** Day-of-week counts 1-7 from Sunday, so 0 is out of range. */
export const DAY_OF_WEEK_FIELD: CronField = {
  label: "day-of-week",
  min: 1,
  max: 7,
  expected: "1-7 with 1 = Sunday, SUN-SAT or '?'",
  names: WEEKDAY_NAMES,
  acceptsAny: true,
};

/** Years beyond this range are rejected, so `*` means 1970-2100. */
export const YEAR_FIELD: CronField = { label: "year", min: 1970, max: 2100, expected: "1970-2100" };

/** The fields of a 6- or 7-field expression, in order. */
export const CRON_FIELDS: readonly CronField[] = [
  SECOND_FIELD,
  MINUTE_FIELD,
  HOUR_FIELD,
  DAY_OF_MONTH_FIELD,
  MONTH_FIELD,
  DAY_OF_WEEK_FIELD,
  YEAR_FIELD,
];

/**
 * Expands one field (`*`, `?`, numbers, names, ranges, lists and steps) into its
 * sorted allowed values; throws `CronExpressionError` naming `expression` and the field.
 */
export function parseCronField(field: CronField, text: string, expression: string): number[] {
  const values = new Set<number>();

  for (const item of text.split(",")) {
    if (item === "") {
      throw invalidField(expression, `${field.label} '${text}' has an empty list entry; expected values separated by single commas`);
    }
    for (const value of expandItem(field, item, expression)) values.add(value);
  }

  return [...values].sort((a, b) => a - b);
}

/** Builds the error for a field problem; `detail` names the field and its bad value. */
export function invalidField(expression: string, detail: string): CronExpressionError {
  return new CronExpressionError(`invalid cron expression '${expression}': ${detail}`);
}

/** Formats sorted values as a list with consecutive runs written as ranges: `1,3-5`. */
export function formatRuns(values: readonly number[]): string {
  const runs: string[] = [];

  let index = 0;
  while (index < values.length) {
    const start = values[index]!;
    let end = start;
    while (values[index + 1] === end + 1) {
      end += 1;
      index += 1;
    }
    runs.push(start === end ? `${start}` : `${start}-${end}`);
    index += 1;
  }

  return runs.join(",");
}

function expandItem(field: CronField, item: string, expression: string): number[] {
  const slash = item.indexOf("/");
  const base = slash === -1 ? item : item.slice(0, slash);
  const step = slash === -1 ? 1 : parseStep(field, item, item.slice(slash + 1), expression);
  const [start, end] = parseBase(field, base, item, expression);

  const values: number[] = [];
  for (let value = start; value <= end; value += step) values.push(value);
  return values;
}

function parseStep(field: CronField, item: string, text: string, expression: string): number {
  const step = /^\d+$/.test(text) ? Number(text) : 0;
  if (step < 1) {
    throw invalidField(expression, `${field.label} step in '${item}' is invalid; expected a whole number of at least 1 after '/'`);
  }
  return step;
}

/** Returns the inclusive bounds of a list item before any step. */
function parseBase(field: CronField, base: string, item: string, expression: string): [number, number] {
  if (base === "*") return [field.min, field.max];

  if (base === "?") {
    if (!field.acceptsAny) {
      throw invalidField(expression, `${field.label} does not accept '?'; it is allowed only in day-of-month and day-of-week`);
    }
    return [field.min, field.max];
  }

  if (base === "") {
    throw invalidField(expression, `${field.label} '${item}' is not valid; expected ${field.expected}`);
  }

  const dash = base.indexOf("-");
  if (dash !== -1) return parseRange(field, base, base.slice(0, dash), base.slice(dash + 1), expression);

  const value = resolveValue(field, base, expression);
  if (base === item) return [value, value];

  // `a/n` runs from a to the end of the field; a name may not start a step, as in `MON/2`.
  if (!isNumber(base)) {
    throw invalidField(expression, `${field.label} step '${item}' starts at a name; use a number, '*' or a range before '/'`);
  }
  return [value, field.max];
}

function parseRange(field: CronField, range: string, startText: string, endText: string, expression: string): [number, number] {
  if (!isToken(startText) || !isToken(endText)) {
    throw invalidField(expression, `${field.label} range '${range}' is not valid; expected 'start-end' with each end in ${field.expected}`);
  }
  if (isNumber(startText) !== isNumber(endText)) {
    throw invalidField(expression, `${field.label} range '${range}' mixes a number and a name; use two numbers or two names`);
  }

  const start = resolveValue(field, startText, expression);
  const end = resolveValue(field, endText, expression);
  if (start > end) {
    throw invalidField(expression, `${field.label} range '${range}' runs backwards; expected its start to be at most its end`);
  }
  return [start, end];
}

function resolveValue(field: CronField, token: string, expression: string): number {
  if (isNumber(token)) {
    const value = Number(token);
    if (value < field.min || value > field.max) {
      throw invalidField(expression, `${field.label} '${token}' is out of range; expected ${field.expected}`);
    }
    return value;
  }

  const named = /^[a-z]+$/i.test(token) ? field.names?.get(token.toLowerCase()) : undefined;
  if (named !== undefined) return named;

  const problem = field.names && /^[a-z]+$/i.test(token) ? "is not a known name" : "is not valid";
  throw invalidField(expression, `${field.label} '${token}' ${problem}; expected ${field.expected}`);
}

function isNumber(token: string): boolean {
  return /^\d+$/.test(token);
}

function isToken(token: string): boolean {
  return /^(\d+|[a-z]+)$/i.test(token);
}
