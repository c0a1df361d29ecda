import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { RawWorker } from "../../support/raw-worker.ts";
import { connectSdk, SDK_VERSIONS, type Sdk } from "../../support/sdk.ts";

/** One backend under test: `adapterYaml` is the `adapter:` block, indented for the module config. */
export interface QueueBackend {
  name: string;
  /** Returns the adapter block for a fresh, empty queue; `options` adds adapter config keys. */
  adapterYaml(options?: Record<string, string | number>): string;
  /** Removes whatever the last `adapterYaml` created. */
  cleanup(): Promise<void>;
}

export function engineYaml(adapterYaml: string): string {
  return `
port: 0
modules:
  - class: modules::queue::QueueModule
    config:
${adapterYaml}
`;
}

type Metadata = Record<string, unknown>;

function queueTrigger(functionId: string, topic: string, queue?: Metadata) {
  const config = queue ? { topic, metadata: { infrastructure: { queue } } } : { topic };
  return { type: "queue", function_id: functionId, config };
}

/** Behaviour every queue adapter shares, checked through a real engine and the official SDK. */
export function runQueueContract(backend: QueueBackend): void {
  const [, init] = SDK_VERSIONS[0];

  describe(`queue contract on ${backend.name}`, () => {
    let engine: TestEngine;
    let iii: Sdk;
    const extraClients: Sdk[] = [];

    async function start(options?: Record<string, string | number>): Promise<void> {
      engine = await startEngine(engineYaml(backend.adapterYaml({ backoff_ms: 20, ...options })));
      iii = connectSdk(init, engine.workerUrl);
    }

    function client(): Sdk {
      const extra = connectSdk(init, engine.workerUrl);
      extraClients.push(extra);
      return extra;
    }

    async function enqueue(topic: string, data: unknown): Promise<void> {
      await iii.call("enqueue", { topic, data });
    }

    async function stats(topic: string): Promise<Record<string, number>> {
      return (await iii.call("engine::queue::topic_stats", { topic })) as Record<string, number>;
    }

    beforeEach(async () => {
      await start();
    });

    afterEach(async () => {
      for (const extra of extraClients.splice(0)) await extra.shutdown();
      await iii.shutdown();
      await engine.stop();
      await backend.cleanup();
    });

    test("delivers the enqueued data to the subscriber", async () => {
      const received: unknown[] = [];
      iii.registerFunction({ id: "orders.process" }, async (data: unknown) => {
        received.push(data);
      });
      iii.registerTrigger(queueTrigger("orders.process", "orders"));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      await enqueue("orders", { id: 1, tags: ["a", "ü"] });
      await waitFor("delivery", () => (received.length === 1 ? true : undefined));
      expect(received[0]).toEqual({ id: 1, tags: ["a", "ü"] });
      await waitFor("acknowledged job", async () => ((await stats("orders")).active === 0 ? true : undefined));
    });

    test("keeps integers beyond 2^53 exact", async () => {
      const worker = await RawWorker.connect(engine.workerUrl);
      worker.send({ type: "registerfunction", id: "big.handle" });
      worker.send({ type: "registertrigger", id: "t-big", trigger_type: "queue", function_id: "big.handle", config: { topic: "big" } });
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      const rawFrames: string[] = [];
      worker.socket.addEventListener("message", (event) => rawFrames.push(String(event.data)));

      worker.send('{"type":"invokefunction","function_id":"enqueue","data":{"topic":"big","data":{"n":9007199254740993}}}');
      await worker.next((message) => message.type === "invokefunction" && message.function_id === "big.handle");
      expect(rawFrames.find((frame) => frame.includes("big.handle"))).toContain('{"n":9007199254740993}');
      worker.close();
    });

    test("rejects an empty or missing topic", async () => {
      await expect(iii.call("enqueue", { topic: "", data: 1 })).rejects.toMatchObject({ code: "topic_not_set", message: "Topic is not set" });
      await expect(iii.call("enqueue", { data: 1 })).rejects.toMatchObject({ code: "deserialization_error" });
      await expect(iii.call("enqueue", { topic: "jobs" })).rejects.toMatchObject({ code: "deserialization_error", message: expect.stringContaining("missing 'data'") });
      await expect(iii.call("engine::queue::topic_stats", { topic: "" })).rejects.toMatchObject({ code: "topic_not_set" });
    });

    test("holds jobs until a subscriber arrives", async () => {
      for (let index = 0; index < 5; index++) await enqueue("later", { index });
      expect((await stats("later")).waiting).toBe(5);
      expect(((await iii.call("engine::queue::list_topics", {})) as { topics: string[] }).topics).toContain("later");

      const received: number[] = [];
      iii.registerFunction({ id: "later.handle" }, async (data: { index: number }) => {
        received.push(data.index);
      });
      iii.registerTrigger(queueTrigger("later.handle", "later"));
      await waitFor("5 deliveries", () => (received.length === 5 ? true : undefined));
      expect(received.sort()).toEqual([0, 1, 2, 3, 4]);
    });

    test("retries with exponential backoff then dead-letters", async () => {
      const attemptsAt: number[] = [];
      iii.registerFunction({ id: "flaky.handle" }, async () => {
        attemptsAt.push(Date.now());
        throw new Error("payment declined");
      });
      iii.registerTrigger(queueTrigger("flaky.handle", "payments", { maxRetries: 2, backoffDelayMs: 40 }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      await enqueue("payments", { amount: 5 });
      await waitFor("dead letter", async () => ((await stats("payments")).dead_lettered === 1 ? true : undefined));
      expect(attemptsAt).toHaveLength(3);
      expect(attemptsAt[1]! - attemptsAt[0]!).toBeGreaterThanOrEqual(38);
      expect(attemptsAt[2]! - attemptsAt[1]!).toBeGreaterThanOrEqual(78);

      const page = (await iii.call("engine::queue::dlq_messages", { topic: "payments" })) as any;
      expect(page.total).toBe(1);
      expect(page.messages[0]).toMatchObject({ topic: "payments", data: { amount: 5 }, attempts_made: 3, error: "payment declined" });
      expect(await stats("payments")).toMatchObject({ waiting: 0, delayed: 0, active: 0, dead_lettered: 1 });
    });

    test("uses a fixed backoff when asked", async () => {
      const attemptsAt: number[] = [];
      iii.registerFunction({ id: "fixed.handle" }, async () => {
        attemptsAt.push(Date.now());
        throw new Error("no");
      });
      iii.registerTrigger(queueTrigger("fixed.handle", "fixed", { maxRetries: 3, backoffDelayMs: 30, backoffType: "fixed" }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      await enqueue("fixed", 1);
      await waitFor("dead letter", async () => ((await stats("fixed")).dead_lettered === 1 ? true : undefined));
      expect(attemptsAt).toHaveLength(4);
      // Exponential backoff would wait 120 ms before the last attempt.
      expect(attemptsAt[3]! - attemptsAt[2]!).toBeLessThan(110);
    });

    test("redrives the dead-letter queue with attempts reset", async () => {
      let healthy = false;
      const processed: unknown[] = [];
      iii.registerFunction({ id: "redrive.handle" }, async (data: unknown) => {
        if (!healthy) throw new Error("downstream down");
        processed.push(data);
      });
      iii.registerTrigger(queueTrigger("redrive.handle", "emails", { maxRetries: 0 }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      await enqueue("emails", { to: "a" });
      await enqueue("emails", { to: "b" });
      await waitFor("two dead letters", async () => ((await stats("emails")).dead_lettered === 2 ? true : undefined));

      healthy = true;
      expect(await iii.call("iii::queue::redrive", { topic: "emails" })).toMatchObject({ redriven: 2 });
      await waitFor("redriven jobs processed", () => (processed.length === 2 ? true : undefined));
      expect(await stats("emails")).toMatchObject({ waiting: 0, dead_lettered: 0 });
    });

    test("redrives or discards one dead letter", async () => {
      let healthy = false;
      const processed: unknown[] = [];
      iii.registerFunction({ id: "single.handle" }, async (data: unknown) => {
        if (!healthy) throw new Error("broken");
        processed.push(data);
      });
      iii.registerTrigger(queueTrigger("single.handle", "single", { maxRetries: 0 }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      await enqueue("single", "keep");
      await enqueue("single", "drop");
      await waitFor("two dead letters", async () => ((await stats("single")).dead_lettered === 2 ? true : undefined));
      const page = (await iii.call("engine::queue::dlq_messages", { topic: "single", limit: 10 })) as any;
      const byData = new Map(page.messages.map((message: any) => [message.data, message.job_id]));

      const paged = (await iii.call("engine::queue::dlq_messages", { topic: "single", offset: 1, limit: 1 })) as any;
      expect(paged).toMatchObject({ total: 2, offset: 1, limit: 1 });
      expect(paged.messages).toHaveLength(1);

      expect(await iii.call("iii::queue::discard_message", { topic: "single", job_id: byData.get("drop") })).toMatchObject({ discarded: true });
      healthy = true;
      expect(await iii.call("iii::queue::redrive_message", { topic: "single", job_id: byData.get("keep") })).toMatchObject({ redriven: true });
      await waitFor("redriven job processed", () => (processed.length === 1 ? true : undefined));
      expect(processed).toEqual(["keep"]);
      expect((await stats("single")).dead_lettered).toBe(0);

      await expect(iii.call("iii::queue::discard_message", { topic: "single", job_id: "missing" })).rejects.toMatchObject({ code: "job_not_found" });
      await expect(iii.call("iii::queue::redrive_message", { topic: "single" })).rejects.toMatchObject({ code: "deserialization_error" });
    });

    test("counts a missing function as a failed attempt", async () => {
      iii.registerTrigger(queueTrigger("nobody.home", "orphans", { maxRetries: 1, backoffDelayMs: 10 }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      await enqueue("orphans", 1);
      await waitFor("dead letter", async () => ((await stats("orphans")).dead_lettered === 1 ? true : undefined));
      const page = (await iii.call("engine::queue::dlq_messages", { topic: "orphans" })) as any;
      expect(page.messages[0]).toMatchObject({ error_code: "function_not_found", attempts_made: 2 });
    });

    test("retries a job whose worker disconnects mid-job", async () => {
      const worker = await RawWorker.connect(engine.workerUrl);
      worker.send({ type: "registerfunction", id: "crashy.handle" });
      worker.send({ type: "registertrigger", id: "t-crashy", trigger_type: "queue", function_id: "crashy.handle", config: { topic: "jobs" } });
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      await enqueue("jobs", { n: 1 });
      await worker.next((message) => message.type === "invokefunction" && message.function_id === "crashy.handle");
      const received: unknown[] = [];
      iii.registerFunction({ id: "crashy.backup" }, async (data: unknown) => {
        received.push(data);
      });
      iii.registerTrigger(queueTrigger("crashy.backup", "jobs"));
      await waitFor("second queue trigger", () => (engine.engine.triggers.size === 2 ? true : undefined));
      worker.close();

      await waitFor("redelivery to the live worker", () => (received.length === 1 ? true : undefined));
      expect(received[0]).toEqual({ n: 1 });
    });

    test("carries the enqueuer's trace context to the handler", async () => {
      const worker = await RawWorker.connect(engine.workerUrl);
      worker.send({ type: "registerfunction", id: "traced.handle" });
      worker.send({ type: "registertrigger", id: "t-traced", trigger_type: "queue", function_id: "traced.handle", config: { topic: "traced" } });
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      worker.send({
        type: "invokefunction",
        invocation_id: crypto.randomUUID(),
        function_id: "enqueue",
        data: { topic: "traced", data: 1 },
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        baggage: "tenant=acme",
      });
      const frame = await worker.next((message) => message.type === "invokefunction" && message.function_id === "traced.handle");
      expect(String(frame.traceparent)).toContain(traceId);
      expect(String(frame.baggage)).toContain("tenant=acme");
      worker.close();
    });

    test("gives each job to exactly one of competing subscribers", async () => {
      const seen = new Map<number, number>();
      const perWorker = [0, 0];
      const other = client();
      for (const [index, sdk] of [iii, other].entries()) {
        sdk.registerFunction({ id: `compete.handle.${index}` }, async (data: { n: number }) => {
          seen.set(data.n, (seen.get(data.n) ?? 0) + 1);
          perWorker[index]!++;
        });
        sdk.registerTrigger(queueTrigger(`compete.handle.${index}`, "compete"));
      }
      await waitFor("two queue triggers", () => (engine.engine.triggers.size === 2 ? true : undefined));

      await Promise.all(Array.from({ length: 100 }, (_, n) => enqueue("compete", { n })));
      await waitFor("100 deliveries", () => (seen.size === 100 ? true : undefined));
      await Bun.sleep(50);
      expect([...seen.values()].every((count) => count === 1)).toBe(true);
      expect(perWorker[0]! + perWorker[1]!).toBe(100);
    });

    test("limits in-flight jobs to the subscription's concurrency", async () => {
      let inFlight = 0;
      let peak = 0;
      let done = 0;
      iii.registerFunction({ id: "limited.handle" }, async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await Bun.sleep(20);
        inFlight--;
        done++;
      });
      iii.registerTrigger(queueTrigger("limited.handle", "limited", { concurrency: 2 }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      await Promise.all(Array.from({ length: 10 }, (_, n) => enqueue("limited", n)));
      await waitFor("10 jobs done", () => (done === 10 ? true : undefined));
      expect(peak).toBe(2);
    });

    test("waits delaySeconds before the first delivery", async () => {
      const deliveredAt: number[] = [];
      iii.registerFunction({ id: "delayed.handle" }, async () => {
        deliveredAt.push(Date.now());
      });
      iii.registerTrigger(queueTrigger("delayed.handle", "delayed", { delaySeconds: 0.3 }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      const enqueuedAt = Date.now();
      await enqueue("delayed", 1);
      await waitFor("delayed delivery", () => (deliveredAt.length === 1 ? true : undefined));
      expect(deliveredAt[0]! - enqueuedAt).toBeGreaterThanOrEqual(290);
    });

    test("processes a FIFO topic in order", async () => {
      const order: number[] = [];
      iii.registerFunction({ id: "fifo.handle" }, async (data: { n: number }) => {
        await Bun.sleep(data.n % 3);
        order.push(data.n);
      });
      iii.registerTrigger(queueTrigger("fifo.handle", "ledger", { type: "fifo", concurrency: 5 }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      for (let n = 0; n < 20; n++) await enqueue("ledger", { n });
      await waitFor("20 jobs in order", () => (order.length === 20 ? true : undefined));
      expect(order).toEqual(Array.from({ length: 20 }, (_, n) => n));
    });

    test("blocks a FIFO topic behind a failing job", async () => {
      const order: string[] = [];
      let failures = 0;
      iii.registerFunction({ id: "fifo.block" }, async (data: string) => {
        if (data === "first" && failures < 2) {
          failures++;
          order.push("first-failed");
          throw new Error("not yet");
        }
        order.push(data);
      });
      iii.registerTrigger(queueTrigger("fifo.block", "strict", { type: "fifo", maxRetries: 3, backoffDelayMs: 30 }));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));

      for (const item of ["first", "second", "third"]) await enqueue("strict", item);
      await waitFor("all three processed", () => (order.length === 5 ? true : undefined));
      expect(order).toEqual(["first-failed", "first-failed", "first", "second", "third"]);
    });

    test("stops delivering after the trigger is removed", async () => {
      const received: unknown[] = [];
      iii.registerFunction({ id: "gone.handle" }, async (data: unknown) => {
        received.push(data);
      });
      const trigger = iii.registerTrigger(queueTrigger("gone.handle", "gone"));
      await waitFor("queue trigger", () => (engine.engine.triggers.size > 0 ? true : undefined));
      await enqueue("gone", 1);
      await waitFor("first delivery", () => (received.length === 1 ? true : undefined));

      trigger.unregister();
      await waitFor("trigger removed", () => (engine.engine.triggers.size === 0 ? true : undefined));
      await enqueue("gone", 2);
      expect((await stats("gone")).waiting).toBe(1);
      expect(received).toHaveLength(1);
    });

    test("rejects a queue trigger without a topic", async () => {
      const worker = await RawWorker.connect(engine.workerUrl);
      worker.send({ type: "registertrigger", id: "t-none", trigger_type: "queue", function_id: "x", config: {} });
      const reply = await worker.next((message) => message.type === "triggerregistrationresult");
      expect(reply.error).toMatchObject({ code: "trigger_registration_failed" });
      worker.close();
    });
  });
}
