import { describe, expect, test } from "bun:test";

import { EngineError } from "../../../src/core/errors";
import { INVALID_CRON_EXPRESSION, nextFireTimes, parseCronExpression } from "../../../src/modules/cron/expression";

// 2026-01-01 is a Thursday.
const NEW_YEAR_2026 = new Date("2026-01-01T00:00:00Z");

interface FireTimeCase {
  expression: string;
  timezone?: string;
  after?: string;
  expected: string[];
}

function fireTimes(expression: string, after: Date, timezone?: string, count = 5): string[] {
  const schedule = parseCronExpression(expression, timezone);
  return nextFireTimes(schedule, after, count).map((time) => time.toISOString());
}

function expectCronError(expression: string, fragments: string[], timezone?: string): void {
  let caught: unknown;
  try {
    parseCronExpression(expression, timezone);
  } catch (error) {
    caught = error;
  }

  expect(caught).toBeInstanceOf(EngineError);
  const error = caught as EngineError;
  expect(error.code).toBe(INVALID_CRON_EXPRESSION);
  for (const fragment of fragments) expect(error.message).toContain(fragment);
}

function checkCases(cases: FireTimeCase[]): void {
  for (const { expression, timezone, after, expected } of cases) {
    test(`'${expression}'${timezone ? ` in ${timezone}` : ""}`, () => {
      const start = after === undefined ? NEW_YEAR_2026 : new Date(after);
      expect(fireTimes(expression, start, timezone)).toEqual(expected);
    });
  }
}

describe("cron fields", () => {
  checkCases([
    {
      expression: "*/15 * * * * *",
      expected: [
        "2026-01-01T00:00:15.000Z",
        "2026-01-01T00:00:30.000Z",
        "2026-01-01T00:00:45.000Z",
        "2026-01-01T00:01:00.000Z",
        "2026-01-01T00:01:15.000Z",
      ],
    },
    {
      // `a/n` starts at a and steps to the end of the field.
      expression: "5/20 * * * * *",
      expected: [
        "2026-01-01T00:00:05.000Z",
        "2026-01-01T00:00:25.000Z",
        "2026-01-01T00:00:45.000Z",
        "2026-01-01T00:01:05.000Z",
        "2026-01-01T00:01:25.000Z",
      ],
    },
    {
      expression: "10-20/5 0 0 * * *",
      expected: [
        "2026-01-01T00:00:10.000Z",
        "2026-01-01T00:00:15.000Z",
        "2026-01-01T00:00:20.000Z",
        "2026-01-02T00:00:10.000Z",
        "2026-01-02T00:00:15.000Z",
      ],
    },
    {
      expression: "0 15,45 9 * * *",
      expected: [
        "2026-01-01T09:15:00.000Z",
        "2026-01-01T09:45:00.000Z",
        "2026-01-02T09:15:00.000Z",
        "2026-01-02T09:45:00.000Z",
        "2026-01-03T09:15:00.000Z",
      ],
    },
    {
      expression: "0 0 22-23 * * *",
      expected: [
        "2026-01-01T22:00:00.000Z",
        "2026-01-01T23:00:00.000Z",
        "2026-01-02T22:00:00.000Z",
        "2026-01-02T23:00:00.000Z",
        "2026-01-03T22:00:00.000Z",
      ],
    },
    {
      expression: "0 0 0 31 * *",
      expected: [
        "2026-01-31T00:00:00.000Z",
        "2026-03-31T00:00:00.000Z",
        "2026-05-31T00:00:00.000Z",
        "2026-07-31T00:00:00.000Z",
        "2026-08-31T00:00:00.000Z",
      ],
    },
    {
      // The start instant matches but is not returned: fire times are strictly after it.
      expression: "0 0 0 1 jan,JUL *",
      expected: [
        "2026-07-01T00:00:00.000Z",
        "2027-01-01T00:00:00.000Z",
        "2027-07-01T00:00:00.000Z",
        "2028-01-01T00:00:00.000Z",
        "2028-07-01T00:00:00.000Z",
      ],
    },
    {
      expression: "0 0 0 1 FEB-APR *",
      expected: [
        "2026-02-01T00:00:00.000Z",
        "2026-03-01T00:00:00.000Z",
        "2026-04-01T00:00:00.000Z",
        "2027-02-01T00:00:00.000Z",
        "2027-03-01T00:00:00.000Z",
      ],
    },
  ]);
});

describe("cron day-of-week", () => {
  checkCases([
    {
      // Day-of-week 1 is Sunday; 2026-01-04 is the first Sunday of 2026.
      expression: "0 0 12 * * 1",
      expected: [
        "2026-01-04T12:00:00.000Z",
        "2026-01-11T12:00:00.000Z",
        "2026-01-18T12:00:00.000Z",
        "2026-01-25T12:00:00.000Z",
        "2026-02-01T12:00:00.000Z",
      ],
    },
    {
      expression: "0 0 8 ? * 7",
      expected: [
        "2026-01-03T08:00:00.000Z",
        "2026-01-10T08:00:00.000Z",
        "2026-01-17T08:00:00.000Z",
        "2026-01-24T08:00:00.000Z",
        "2026-01-31T08:00:00.000Z",
      ],
    },
    {
      expression: "0 0 12 * * MON-FRI",
      expected: [
        "2026-01-01T12:00:00.000Z",
        "2026-01-02T12:00:00.000Z",
        "2026-01-05T12:00:00.000Z",
        "2026-01-06T12:00:00.000Z",
        "2026-01-07T12:00:00.000Z",
      ],
    },
    {
      expression: "0 0 12 * * 2-6",
      expected: [
        "2026-01-01T12:00:00.000Z",
        "2026-01-02T12:00:00.000Z",
        "2026-01-05T12:00:00.000Z",
        "2026-01-06T12:00:00.000Z",
        "2026-01-07T12:00:00.000Z",
      ],
    },
    {
      expression: "0 0 6 * * tues,THURSDAY",
      expected: [
        "2026-01-01T06:00:00.000Z",
        "2026-01-06T06:00:00.000Z",
        "2026-01-08T06:00:00.000Z",
        "2026-01-13T06:00:00.000Z",
        "2026-01-15T06:00:00.000Z",
      ],
    },
    {
      expression: "0 0 0 ? * MON-FRI/2",
      expected: [
        "2026-01-02T00:00:00.000Z",
        "2026-01-05T00:00:00.000Z",
        "2026-01-07T00:00:00.000Z",
        "2026-01-09T00:00:00.000Z",
        "2026-01-12T00:00:00.000Z",
      ],
    },
    {
      // `*/2` is 1,3,5,7: Sunday, Tuesday, Thursday and Saturday.
      expression: "0 0 0 * * */2",
      expected: [
        "2026-01-03T00:00:00.000Z",
        "2026-01-04T00:00:00.000Z",
        "2026-01-06T00:00:00.000Z",
        "2026-01-08T00:00:00.000Z",
        "2026-01-10T00:00:00.000Z",
      ],
    },
    {
      expression: "0 0 8 15 * ?",
      expected: [
        "2026-01-15T08:00:00.000Z",
        "2026-02-15T08:00:00.000Z",
        "2026-03-15T08:00:00.000Z",
        "2026-04-15T08:00:00.000Z",
        "2026-05-15T08:00:00.000Z",
      ],
    },
    {
      // Day-of-month and day-of-week must both match: Friday the 13th only.
      expression: "0 0 0 13 * 6",
      expected: [
        "2026-02-13T00:00:00.000Z",
        "2026-03-13T00:00:00.000Z",
        "2026-11-13T00:00:00.000Z",
        "2027-08-13T00:00:00.000Z",
        "2028-10-13T00:00:00.000Z",
      ],
    },
  ]);
});

describe("cron year field", () => {
  checkCases([
    { expression: "0 0 0 1 1 * 2027", expected: ["2027-01-01T00:00:00.000Z"] },
    {
      expression: "0 0 0 1 1 * *",
      expected: [
        "2027-01-01T00:00:00.000Z",
        "2028-01-01T00:00:00.000Z",
        "2029-01-01T00:00:00.000Z",
        "2030-01-01T00:00:00.000Z",
        "2031-01-01T00:00:00.000Z",
      ],
    },
    {
      // Only leap years in the range have a 29 February.
      expression: "0 0 12 29 2 * 2026-2040",
      expected: [
        "2028-02-29T12:00:00.000Z",
        "2032-02-29T12:00:00.000Z",
        "2036-02-29T12:00:00.000Z",
        "2040-02-29T12:00:00.000Z",
      ],
    },
    {
      expression: "0 0 0 1 1 * 2030,2035",
      expected: ["2030-01-01T00:00:00.000Z", "2035-01-01T00:00:00.000Z"],
    },
    {
      expression: "0 0 0 1 1 * 2030/10",
      expected: [
        "2030-01-01T00:00:00.000Z",
        "2040-01-01T00:00:00.000Z",
        "2050-01-01T00:00:00.000Z",
        "2060-01-01T00:00:00.000Z",
        "2070-01-01T00:00:00.000Z",
      ],
    },
    { expression: "0 0 0 1 1 * 2020", expected: [] },
    { expression: "@yearly", after: "2099-06-01T00:00:00Z", expected: ["2100-01-01T00:00:00.000Z"] },
  ]);

  test("past year returns null", () => {
    const schedule = parseCronExpression("0 0 0 1 1 * 2020");
    expect(schedule.nextAfter(NEW_YEAR_2026)).toBeNull();
  });

  test("impossible date returns null", () => {
    const schedule = parseCronExpression("0 0 0 30 2 *");
    expect(schedule.nextAfter(NEW_YEAR_2026)).toBeNull();
  });
});

describe("cron macros", () => {
  const yearly = [
    "2027-01-01T00:00:00.000Z",
    "2028-01-01T00:00:00.000Z",
    "2029-01-01T00:00:00.000Z",
    "2030-01-01T00:00:00.000Z",
    "2031-01-01T00:00:00.000Z",
  ];

  checkCases([
    { expression: "@yearly", expected: yearly },
    { expression: "@annually", expected: yearly },
    {
      expression: "@monthly",
      expected: [
        "2026-02-01T00:00:00.000Z",
        "2026-03-01T00:00:00.000Z",
        "2026-04-01T00:00:00.000Z",
        "2026-05-01T00:00:00.000Z",
        "2026-06-01T00:00:00.000Z",
      ],
    },
    {
      // Weekly runs on Sunday at midnight.
      expression: "@weekly",
      expected: [
        "2026-01-04T00:00:00.000Z",
        "2026-01-11T00:00:00.000Z",
        "2026-01-18T00:00:00.000Z",
        "2026-01-25T00:00:00.000Z",
        "2026-02-01T00:00:00.000Z",
      ],
    },
    {
      expression: "@daily",
      expected: [
        "2026-01-02T00:00:00.000Z",
        "2026-01-03T00:00:00.000Z",
        "2026-01-04T00:00:00.000Z",
        "2026-01-05T00:00:00.000Z",
        "2026-01-06T00:00:00.000Z",
      ],
    },
    {
      expression: "@hourly",
      expected: [
        "2026-01-01T01:00:00.000Z",
        "2026-01-01T02:00:00.000Z",
        "2026-01-01T03:00:00.000Z",
        "2026-01-01T04:00:00.000Z",
        "2026-01-01T05:00:00.000Z",
      ],
    },
  ]);
});

describe("cron timezones", () => {
  checkCases([
    {
      // Tokyo is UTC+9 all year, and the start instant is 09:00 there.
      expression: "0 0 9 * * *",
      timezone: "Asia/Tokyo",
      expected: [
        "2026-01-02T00:00:00.000Z",
        "2026-01-03T00:00:00.000Z",
        "2026-01-04T00:00:00.000Z",
        "2026-01-05T00:00:00.000Z",
        "2026-01-06T00:00:00.000Z",
      ],
    },
    {
      // Berlin skips 02:00-03:00 on 2027-03-28, so that day's 02:30 fires at 03:00 CEST.
      expression: "0 30 2 * * *",
      timezone: "Europe/Berlin",
      after: "2027-03-26T00:00:00Z",
      expected: [
        "2027-03-26T01:30:00.000Z",
        "2027-03-27T01:30:00.000Z",
        "2027-03-28T01:00:00.000Z",
        "2027-03-29T00:30:00.000Z",
        "2027-03-30T00:30:00.000Z",
      ],
    },
    {
      // An hourly job loses no real hour in the gap: 02:30 does not exist that night.
      expression: "0 30 * * * *",
      timezone: "Europe/Berlin",
      after: "2027-03-27T23:00:00Z",
      expected: [
        "2027-03-27T23:30:00.000Z",
        "2027-03-28T00:30:00.000Z",
        "2027-03-28T01:30:00.000Z",
        "2027-03-28T02:30:00.000Z",
        "2027-03-28T03:30:00.000Z",
      ],
    },
    {
      // New York repeats 01:00-02:00 on 2027-11-07; a fixed time fires at the first 01:30 only.
      expression: "0 30 1 * * *",
      timezone: "America/New_York",
      after: "2027-11-05T00:00:00Z",
      expected: [
        "2027-11-05T05:30:00.000Z",
        "2027-11-06T05:30:00.000Z",
        "2027-11-07T05:30:00.000Z",
        "2027-11-08T06:30:00.000Z",
        "2027-11-09T06:30:00.000Z",
      ],
    },
    {
      // An hourly job fires in both passes through the repeated hour.
      expression: "0 0 * * * *",
      timezone: "America/New_York",
      after: "2027-11-07T03:30:00Z",
      expected: [
        "2027-11-07T04:00:00.000Z",
        "2027-11-07T05:00:00.000Z",
        "2027-11-07T06:00:00.000Z",
        "2027-11-07T07:00:00.000Z",
        "2027-11-07T08:00:00.000Z",
      ],
    },
  ]);

  test("repeated hour skips second pass", () => {
    const schedule = parseCronExpression("0 30 1 * * *", "America/New_York");
    const firstPass = new Date("2027-11-07T05:30:00Z");
    expect(schedule.nextAfter(firstPass)?.toISOString()).toBe("2027-11-08T06:30:00.000Z");
  });

  test("timezone defaults to UTC", () => {
    const schedule = parseCronExpression("0 0 12 * * *");
    expect(schedule.timezone).toBe("UTC");
    expect(schedule.expression).toBe("0 0 12 * * *");
  });
});

describe("CronSchedule.nextAfter", () => {
  const schedule = parseCronExpression("*/10 * * * * *");

  test("skips a tick equal to time", () => {
    const tick = new Date("2026-01-01T00:00:10.000Z");
    expect(schedule.nextAfter(tick)?.toISOString()).toBe("2026-01-01T00:00:20.000Z");
  });

  test("returns the tick when woken early", () => {
    const justBefore = new Date("2026-01-01T00:00:09.999Z");
    const halfSecondBefore = new Date("2026-01-01T00:00:09.500Z");
    expect(schedule.nextAfter(justBefore)?.toISOString()).toBe("2026-01-01T00:00:10.000Z");
    expect(schedule.nextAfter(halfSecondBefore)?.toISOString()).toBe("2026-01-01T00:00:10.000Z");
  });

  test("skips a tick already passed", () => {
    const justAfter = new Date("2026-01-01T00:00:10.500Z");
    expect(schedule.nextAfter(justAfter)?.toISOString()).toBe("2026-01-01T00:00:20.000Z");
  });

  test("nextFireTimes returns nothing for count 0", () => {
    expect(nextFireTimes(schedule, NEW_YEAR_2026, 0)).toEqual([]);
  });
});

describe("cron expression errors", () => {
  test("suggests seconds first for 5 fields", () => {
    expectCronError("*/5 * * * *", [
      "cron expression '*/5 * * * *' has 5 fields; expressions need seconds first: use '0 */5 * * * *'",
    ]);
  });

  test("translates 5-field day-of-week", () => {
    expectCronError("0 9 * * 1-5", ["use '0 0 9 * * 2-6'", "1-7 from Sunday"]);
    expectCronError("30 8 * * 0", ["use '0 30 8 * * 1'"]);
    expectCronError("0 0 * * 5-7", ["use '0 0 0 * * 1,6-7'"]);
    expectCronError("0 0 * * MON-FRI", ["use '0 0 0 * * MON-FRI'"]);
  });

  test("omits an invalid 5-field suggestion", () => {
    expectCronError("0 0 * * 9", ["cron expression '0 0 * * 9' has 5 fields", "seconds first"]);
  });

  test("rejects day-of-week 0", () => {
    expectCronError("0 0 0 * * 0", ["'0 0 0 * * 0'", "day-of-week '0' is out of range", "1-7 with 1 = Sunday"]);
    expectCronError("0 0 0 * * 0-5", ["day-of-week '0' is out of range"]);
  });

  test("rejects wrong field counts", () => {
    expectCronError("0 0 0 * * * 2027 x", ["'0 0 0 * * * 2027 x' has 8 fields", "expected 6 or 7 fields"]);
    expectCronError("0 0 0 *", ["has 4 fields"]);
    expectCronError("daily", ["has 1 field;"]);
  });

  test("rejects an empty expression", () => {
    expectCronError("", ["cron expression '' is empty"]);
    expectCronError("   ", ["is empty"]);
  });

  test("rejects unknown names", () => {
    expectCronError("0 0 0 * * FUNDAY", ["day-of-week 'FUNDAY' is not a known name", "SUN-SAT"]);
    expectCronError("0 0 0 1 SMARCH *", ["month 'SMARCH' is not a known name", "JAN-DEC"]);
    expectCronError("0 MON * * * *", ["minute 'MON' is not valid", "0-59"]);
  });

  test("rejects values out of range", () => {
    expectCronError("60 * * * * *", ["second '60' is out of range; expected 0-59"]);
    expectCronError("0 60 * * * *", ["minute '60' is out of range"]);
    expectCronError("0 0 24 * * *", ["hour '24' is out of range; expected 0-23"]);
    expectCronError("0 0 0 0 * *", ["day-of-month '0' is out of range"]);
    expectCronError("0 0 0 32 * *", ["day-of-month '32' is out of range"]);
    expectCronError("0 0 0 * 13 *", ["month '13' is out of range"]);
    expectCronError("0 0 0 * * 8", ["day-of-week '8' is out of range"]);
    expectCronError("0 0 0 1 1 * 1969", ["year '1969' is out of range; expected 1970-2100"]);
    expectCronError("0 0 0 1 1 * 2101", ["year '2101' is out of range"]);
  });

  test("rejects malformed fields", () => {
    expectCronError("? * * * * *", ["second does not accept '?'"]);
    expectCronError("0 0 0 5-1 * *", ["day-of-month range '5-1' runs backwards"]);
    expectCronError("0 0 0 1- * *", ["day-of-month range '1-' is not valid"]);
    expectCronError("*/0 * * * * *", ["second step in '*/0' is invalid"]);
    expectCronError("0 /5 * * * *", ["minute '/5' is not valid"]);
    expectCronError("0 5/ * * * *", ["minute step in '5/' is invalid"]);
    expectCronError("0 0 0 1,,2 * *", ["day-of-month '1,,2' has an empty list entry"]);
    expectCronError("0 0 0 * * MON/2", ["day-of-week step 'MON/2' starts at a name"]);
    expectCronError("0 0 0 1 JAN-3 *", ["month range 'JAN-3' mixes a number and a name"]);
  });

  test("rejects L, W, # and + specifiers", () => {
    expectCronError("0 0 0 L * *", ["day-of-month 'L' is not valid"]);
    expectCronError("0 0 0 15W * *", ["day-of-month '15W' is not valid"]);
    expectCronError("0 0 0 * * 6#3", ["day-of-week '6#3' is not valid"]);
    expectCronError("0 0 0 1 * +MON", ["day-of-week '+MON' is not valid"]);
  });

  test("rejects an unknown macro", () => {
    expectCronError("@reboot", ["cron expression '@reboot' is not a known macro", "@hourly"]);
  });

  test("rejects unknown timezones", () => {
    expectCronError("0 0 0 * * *", ["cron timezone 'Mars/Base' is not a known IANA time zone"], "Mars/Base");
    expectCronError("0 0 0 * * *", ["cron timezone '' is not a known IANA time zone"], "");
  });
});
