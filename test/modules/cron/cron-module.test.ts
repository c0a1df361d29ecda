import { describe, expect, test } from "bun:test";

import type { JsonValue } from "../../../src/util/json.ts";
import { EngineError } from "../../../src/core/errors.ts";
import type { SpanOptions } from "../../../src/core/tracing.ts";
import { deferred, startCronEngine } from "./cron-engine.ts";
import { FakeClock } from "./fake-clock.ts";

type Payload = { [key: string]: JsonValue };

describe("CronModule", () => {
  test("fires at each tick with the cron payload", async () => {
    const clock = new FakeClock("2026-12-04T21:00:03.000Z");
    await using cron = await startCronEngine(clock);
    const calls: Payload[] = [];
    cron.engine.context.registerFunction({ id: "jobs.report" }, (data) => {
      calls.push(data as Payload);
      return null;
    });

    await cron.addTrigger("report-every-10s", "jobs.report", { expression: "*/10 * * * * *" });
    await clock.advanceTo("2026-12-04T21:00:25.000Z");

    expect(calls).toEqual([
      {
        trigger: "cron",
        job_id: "report-every-10s",
        scheduled_time: "2026-12-04T21:00:10.000Z",
        actual_time: "2026-12-04T21:00:10.000Z",
      },
      {
        trigger: "cron",
        job_id: "report-every-10s",
        scheduled_time: "2026-12-04T21:00:20.000Z",
        actual_time: "2026-12-04T21:00:20.000Z",
      },
    ]);
  });

  test("formats times like Date.toISOString", async () => {
    const clock = new FakeClock("2026-01-01T00:00:00.500Z");
    await using cron = await startCronEngine(clock);
    const calls: Payload[] = [];
    cron.engine.context.registerFunction({ id: "jobs.tick" }, (data) => {
      calls.push(data as Payload);
      return null;
    });

    await cron.addTrigger("format-check", "jobs.tick", { expression: "* * * * * *" });
    await clock.advanceTo("2026-01-01T00:00:01.000Z");

    expect(calls).toHaveLength(1);
    expect(calls[0]!.scheduled_time).toBe(new Date("2026-01-01T00:00:01Z").toISOString());
    expect(calls[0]!.scheduled_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test("evaluates the expression in the trigger's timezone", async () => {
    const clock = new FakeClock("2026-06-01T12:00:00.000Z");
    await using cron = await startCronEngine(clock);
    const calls: Payload[] = [];
    cron.engine.context.registerFunction({ id: "jobs.morning" }, (data) => {
      calls.push(data as Payload);
      return null;
    });

    await cron.addTrigger("tokyo-morning", "jobs.morning", { expression: "0 0 9 * * *", timezone: "Asia/Tokyo" });
    await clock.advanceTo("2026-06-02T12:00:00.000Z");

    expect(calls.map((call) => call.scheduled_time)).toEqual(["2026-06-02T00:00:00.000Z"]);
  });

  test("skips ticks whose condition returns false or fails", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    const answers: Array<() => JsonValue | undefined> = [
      () => false,
      () => {
        throw new EngineError("condition_broken", "condition failed on purpose");
      },
      () => "yes",
      () => undefined,
      () => true,
    ];
    const conditionInputs: Payload[] = [];
    cron.engine.context.registerFunction({ id: "jobs.allowed" }, (data) => {
      conditionInputs.push(data as Payload);
      return answers[conditionInputs.length - 1]!();
    });
    const ran: string[] = [];
    cron.engine.context.registerFunction({ id: "jobs.guarded" }, (data) => {
      ran.push(String((data as Payload).scheduled_time));
      return null;
    });

    await cron.addTrigger("guarded", "jobs.guarded", { expression: "* * * * * *", _condition_path: "jobs.allowed" });
    await clock.advanceTo("2026-03-01T00:00:05.000Z");

    expect(conditionInputs).toHaveLength(5);
    expect(conditionInputs[0]).toEqual({
      trigger: "cron",
      job_id: "guarded",
      scheduled_time: "2026-03-01T00:00:01.000Z",
      actual_time: "2026-03-01T00:00:01.000Z",
    });
    expect(ran).toEqual(["2026-03-01T00:00:03.000Z", "2026-03-01T00:00:04.000Z", "2026-03-01T00:00:05.000Z"]);
  });

  test("skips ticks while a slow run is still going", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    const firstRun = deferred();
    const started: string[] = [];
    let running = 0;
    let maxRunning = 0;
    cron.engine.context.registerFunction({ id: "jobs.slow" }, async (data) => {
      started.push(String((data as Payload).scheduled_time));
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (started.length === 1) await firstRun.promise;
      running--;
      return null;
    });

    await cron.addTrigger("slow", "jobs.slow", { expression: "* * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:06.000Z");
    expect(started).toEqual(["2026-03-01T00:00:01.000Z"]);

    firstRun.resolve();
    await clock.advanceTo("2026-03-01T00:00:07.000Z");

    expect(started).toEqual(["2026-03-01T00:00:01.000Z", "2026-03-01T00:00:07.000Z"]);
    expect(maxRunning).toBe(1);
    expect(cron.cron.skippedTicks("slow")).toBe(5);
  });

  test("fires each tick once when timers wake early", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z", { earlyWakeFraction: 0.3 });
    await using cron = await startCronEngine(clock);
    const calls: Payload[] = [];
    cron.engine.context.registerFunction({ id: "jobs.early" }, (data) => {
      calls.push(data as Payload);
      return null;
    });

    await cron.addTrigger("early", "jobs.early", { expression: "* * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:04.000Z");

    expect(calls.map((call) => call.scheduled_time)).toEqual([
      "2026-03-01T00:00:01.000Z",
      "2026-03-01T00:00:02.000Z",
      "2026-03-01T00:00:03.000Z",
      "2026-03-01T00:00:04.000Z",
    ]);
    for (const call of calls) expect(Date.parse(String(call.actual_time))).toBeGreaterThanOrEqual(Date.parse(String(call.scheduled_time)));
  });

  test("keeps firing after a handler fails", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    let calls = 0;
    cron.engine.context.registerFunction({ id: "jobs.flaky" }, () => {
      calls++;
      throw new EngineError("flaky", "failed on purpose");
    });

    await cron.addTrigger("flaky", "jobs.flaky", { expression: "* * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:03.000Z");

    expect(calls).toBe(3);
  });

  test("traces each run as a timer-triggered producer span", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    const spans: SpanOptions[] = [];
    cron.engine.context.setTracing({
      recording: true,
      startSpan(options) {
        spans.push(options);
        return { setAttribute() {}, end() {} };
      },
    });
    cron.engine.context.registerFunction({ id: "jobs.traced" }, () => null);

    await cron.addTrigger("traced", "jobs.traced", { expression: "* * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:01.000Z");

    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({
      name: "call jobs.traced",
      kind: "producer",
      attributes: { "faas.trigger": "timer", job_id: "traced", function_id: "jobs.traced" },
    });
  });

  test("stops a schedule when its trigger is unregistered", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    let calls = 0;
    for (const id of ["jobs.count", "jobs.count.too"]) {
      cron.engine.context.registerFunction({ id }, () => {
        calls++;
        return null;
      });
    }
    await cron.addTrigger("keep", "jobs.count", { expression: "*/2 * * * * *" });
    await cron.addTrigger("drop", "jobs.count.too", { expression: "*/2 * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:02.000Z");
    expect(calls).toBe(2);

    await cron.removeTrigger("drop");
    await clock.advanceTo("2026-03-01T00:00:06.000Z");

    expect(calls).toBe(4);
    expect(cron.cron.triggerIds).toEqual(["keep"]);
  });

  test("runs each trigger with the same schedule", async () => {
    // Locks are per trigger id, so two triggers of one function on one schedule both run.
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    let calls = 0;
    cron.engine.context.registerFunction({ id: "jobs.report" }, () => {
      calls++;
      return null;
    });
    await cron.addTrigger("replica-a", "jobs.report", { expression: "*/2 * * * * *" });
    await cron.addTrigger("replica-b", "jobs.report", { expression: " */2 * * * * * " });
    await clock.advanceTo("2026-03-01T00:00:06.000Z");

    expect(calls).toBe(6);
  });

  test("replaces the schedule when an id is registered again", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    const calls: string[] = [];
    cron.engine.context.registerFunction({ id: "jobs.old" }, () => {
      calls.push("old");
      return null;
    });
    cron.engine.context.registerFunction({ id: "jobs.new" }, () => {
      calls.push("new");
      return null;
    });

    await cron.addTrigger("same-id", "jobs.old", { expression: "* * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:01.000Z");
    await cron.addTrigger("same-id", "jobs.new", { expression: "* * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:03.000Z");

    expect(calls).toEqual(["old", "new", "new"]);
    expect(cron.cron.triggerIds).toEqual(["same-id"]);
  });

  test("stops every schedule on shutdown", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    const cron = await startCronEngine(clock);
    let calls = 0;
    cron.engine.context.registerFunction({ id: "jobs.count" }, () => {
      calls++;
      return null;
    });
    await cron.addTrigger("first", "jobs.count", { expression: "* * * * * *" });
    await cron.addTrigger("second", "jobs.count", { expression: "*/5 * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:01.000Z");
    expect(calls).toBe(1);

    await cron.cron.stop();
    await cron.cron.stop();
    await clock.advanceTo("2026-03-01T00:01:00.000Z");

    expect(calls).toBe(1);
    expect(cron.cron.triggerIds).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
    await cron.stop();
  });

  test("waits for a running handler on shutdown", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    const run = deferred();
    let finished = false;
    cron.engine.context.registerFunction({ id: "jobs.slow" }, async () => {
      await run.promise;
      finished = true;
      return null;
    });
    await cron.addTrigger("slow", "jobs.slow", { expression: "* * * * * *" });
    await clock.advanceTo("2026-03-01T00:00:01.000Z");

    const stopped = cron.cron.stop();
    setTimeout(() => run.resolve(), 20);
    await stopped;

    expect(finished).toBe(true);
  });

  test("rejects a trigger registered after shutdown", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);
    await cron.cron.stop();

    expect(cron.addTrigger("late", "jobs.none", { expression: "* * * * * *" })).rejects.toThrow("cron module is not running");
  });
});

describe("cron trigger config", () => {
  const cases: Array<[string, JsonValue, string]> = [
    ["missing expression", {}, "cron trigger 'bad' needs a string 'expression'"],
    ["empty expression", { expression: "  " }, "cron trigger 'bad' needs a string 'expression'"],
    ["non-object config", "*/5 * * * * *", "needs a config object"],
    ["5-field expression", { expression: "*/5 * * * *" }, "use '0 */5 * * * *'"],
    ["day-of-week 0", { expression: "0 0 0 * * 0" }, "cron trigger 'bad': "],
    ["unknown timezone", { expression: "0 * * * * *", timezone: "Mars/Base" }, "'Mars/Base' is not a known IANA time zone"],
    ["non-string timezone", { expression: "0 * * * * *", timezone: 2 }, "has 'timezone' 2"],
    ["non-string condition", { expression: "0 * * * * *", _condition_path: true }, "has '_condition_path' true"],
  ];

  for (const [name, config, message] of cases) {
    test(`rejects ${name}`, async () => {
      const clock = new FakeClock("2026-03-01T00:00:00.000Z");
      await using cron = await startCronEngine(clock);

      const error = await cron.addTrigger("bad", "jobs.none", config).then(
        () => null,
        (caught: unknown) => caught,
      );

      expect(error).toBeInstanceOf(EngineError);
      expect((error as EngineError).code).toBe("trigger_registration_failed");
      expect((error as EngineError).message).toContain(message);
      expect(cron.cron.triggerIds).toEqual([]);
      expect(cron.engine.triggers.get("bad")).toBeUndefined();
    });
  }

  test("keeps the expression error as the cause", async () => {
    const clock = new FakeClock("2026-03-01T00:00:00.000Z");
    await using cron = await startCronEngine(clock);

    const error = (await cron.addTrigger("bad", "jobs.none", { expression: "61 * * * * *" }).catch((caught: unknown) => caught)) as EngineError;

    expect((error.cause as EngineError).code).toBe("invalid_cron_expression");
  });
});
