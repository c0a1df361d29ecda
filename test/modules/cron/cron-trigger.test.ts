import { describe, expect, test } from "bun:test";
import { init as initCurrent } from "iii-sdk";
import { init as initOld } from "iii-sdk-021";

import { CronModule } from "../../../src/modules/cron/index.ts";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { RawWorker } from "../../support/raw-worker.ts";

const CRON_CONFIG = `
port: 0
modules:
  - class: modules::cron::CronModule
    config:
      adapter:
        class: modules::cron::KvCronAdapter
        config:
          lock_index: cron_locks_trigger_test
`;

function cronModuleOf(engine: TestEngine): CronModule {
  const module = engine.engine.modules.find((candidate) => candidate instanceof CronModule);
  if (!module) throw new Error("the test engine has no cron module");
  return module as CronModule;
}

function registerTrigger(worker: RawWorker, id: string, functionId: string, config: unknown): void {
  worker.send({ type: "registertrigger", id, trigger_type: "cron", function_id: functionId, config });
}

async function rejectionOf(worker: RawWorker, id: string): Promise<{ code: string; message: string }> {
  const reply = await worker.next((message) => message.type === "triggerregistrationresult" && message.id === id);
  expect(reply.trigger_type).toBe("cron");
  return reply.error as { code: string; message: string };
}

describe("cron trigger over the worker protocol", () => {
  test("rejects a 5-field expression with the 6-field form", async () => {
    await using engine = await startEngine(CRON_CONFIG);
    using worker = await RawWorker.connect(engine.workerUrl);

    registerTrigger(worker, "five-fields", "jobs.report", { expression: "*/5 * * * *" });
    const error = await rejectionOf(worker, "five-fields");

    expect(error.code).toBe("trigger_registration_failed");
    expect(error.message).toContain("'*/5 * * * *' has 5 fields");
    expect(error.message).toContain("use '0 */5 * * * *'");
    expect(engine.engine.triggers.get("five-fields")).toBeUndefined();
  });

  test("rejects an unknown timezone", async () => {
    await using engine = await startEngine(CRON_CONFIG);
    using worker = await RawWorker.connect(engine.workerUrl);

    registerTrigger(worker, "bad-zone", "jobs.report", { expression: "0 0 9 * * *", timezone: "Europe/Atlantis" });
    const error = await rejectionOf(worker, "bad-zone");

    expect(error.code).toBe("trigger_registration_failed");
    expect(error.message).toContain("'Europe/Atlantis' is not a known IANA time zone");
  });

  test("rejects a missing expression", async () => {
    await using engine = await startEngine(CRON_CONFIG);
    using worker = await RawWorker.connect(engine.workerUrl);

    registerTrigger(worker, "no-expression", "jobs.report", {});
    const error = await rejectionOf(worker, "no-expression");

    expect(error.code).toBe("trigger_registration_failed");
    expect(error.message).toContain("cron trigger 'no-expression' needs a string 'expression'");
  });

  test("keeps serving the worker after rejections", async () => {
    await using engine = await startEngine(CRON_CONFIG);
    using worker = await RawWorker.connect(engine.workerUrl);
    const triggerId = `served-${crypto.randomUUID()}`;
    registerTrigger(worker, "rejected", "jobs.tick", { expression: "* * * *" });
    await rejectionOf(worker, "rejected");

    worker.send({ type: "registerfunction", id: "jobs.tick" });
    registerTrigger(worker, triggerId, "jobs.tick", { expression: "* * * * * *" });
    const invocation = await worker.next((message) => message.type === "invokefunction" && message.function_id === "jobs.tick", 3_000);
    worker.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: "jobs.tick", result: null });

    const data = invocation.data as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(["actual_time", "job_id", "scheduled_time", "trigger"]);
    expect(data.trigger).toBe("cron");
    expect(data.job_id).toBe(triggerId);
    expect(data.scheduled_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/);
    expect(Date.parse(data.actual_time!)).toBeGreaterThanOrEqual(Date.parse(data.scheduled_time!));
    expect(worker.closed).toBeNull();
  });

  test("replaces the schedule when a worker registers the same id again", async () => {
    await using engine = await startEngine(CRON_CONFIG);
    using worker = await RawWorker.connect(engine.workerUrl);
    const triggerId = `replaced-${crypto.randomUUID()}`;
    worker.send({ type: "registerfunction", id: "jobs.old" });
    worker.send({ type: "registerfunction", id: "jobs.new" });

    registerTrigger(worker, triggerId, "jobs.old", { expression: "0 0 0 1 1 * 2099" });
    registerTrigger(worker, triggerId, "jobs.new", { expression: "* * * * * *" });
    const invocation = await worker.next((message) => message.type === "invokefunction", 3_000);
    worker.send({ type: "invocationresult", invocation_id: invocation.invocation_id, function_id: "jobs.new", result: null });

    expect(invocation.function_id).toBe("jobs.new");
    expect(worker.received.filter((message) => message.type === "triggerregistrationresult")).toEqual([]);
    expect(cronModuleOf(engine).triggerIds).toEqual([triggerId]);
  });

  test("stops the schedule when its worker disconnects", async () => {
    await using engine = await startEngine(CRON_CONFIG);
    const worker = await RawWorker.connect(engine.workerUrl);
    registerTrigger(worker, `leaving-${crypto.randomUUID()}`, "jobs.tick", { expression: "0 0 * * * *" });
    await waitFor("the trigger to be scheduled", () => (cronModuleOf(engine).triggerIds.length === 1 ? true : undefined));

    worker.close();

    await waitFor("the schedule to stop", () => (cronModuleOf(engine).triggerIds.length === 0 ? true : undefined));
  });
});

describe("cron trigger from the official SDK", () => {
  const versions = [
    ["0.3.0", initCurrent],
    ["0.2.1", initOld],
  ] as const;

  for (const [version, init] of versions) {
    test(`runs a handler each second with iii-sdk ${version}`, async () => {
      await using engine = await startEngine(CRON_CONFIG);
      const iii = init(engine.workerUrl, { reconnectionConfig: { initialDelayMs: 50, maxDelayMs: 200 } } as never);
      const received: Array<Record<string, string>> = [];
      try {
        iii.registerFunction({ id: "sdk.cron.tick" }, async (data: Record<string, string>) => {
          received.push(data);
          return { ok: true };
        });
        const trigger = iii.registerTrigger({ type: "cron", function_id: "sdk.cron.tick", config: { expression: "* * * * * *" } });

        await waitFor("two cron runs", () => (received.length >= 2 ? true : undefined), 4_000);
        trigger.unregister();
        await waitFor("the schedule to stop", () => (cronModuleOf(engine).triggerIds.length === 0 ? true : undefined));
      } finally {
        await iii.shutdown();
      }

      expect(received[0]!.trigger).toBe("cron");
      expect(typeof received[0]!.job_id).toBe("string");
      expect(received[1]!.job_id).toBe(received[0]!.job_id);
      expect(Date.parse(received[1]!.scheduled_time!) - Date.parse(received[0]!.scheduled_time!)).toBe(1_000);
    });
  }
});
