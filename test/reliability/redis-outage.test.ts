import { afterEach, describe, expect, test } from "bun:test";
import { startEngine, waitFor, type TestEngine } from "../support/engine.ts";
import { PipelinedWorker, PrivateRedis, type CallReply } from "./processes.ts";

const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function redisEngineYaml(url: string): string {
  const redis = (className: string, extra = "") => `
      adapter:
        class: ${className}
        config:
          redis_url: ${JSON.stringify(url)}${extra}`;
  return `port: 0
modules:
  - class: modules::state::StateModule
    config:${redis("modules::state::adapters::RedisAdapter")}
  - class: modules::pubsub::PubSubModule
    config:${redis("modules::pubsub::RedisAdapter")}
  - class: modules::queue::QueueModule
    config:${redis("modules::queue::RedisAdapter", "\n          visibility_timeout_ms: 1000\n          backoff_ms: 20")}
  - class: modules::cron::CronModule
    config:${redis("modules::cron::RedisCronAdapter")}
  - class: modules::stream::StreamModule
    config:
      port: 0${redis("modules::stream::adapters::RedisAdapter")}
`;
}

type Kind = "state" | "publish" | "enqueue" | "stream";

/** One call made by the load loop: when it was sent, what came back, and when. */
interface CallRecord {
  kind: Kind;
  n: number;
  sentAt: number;
  repliedAt: number;
  error?: { code: string; message: string };
}

const CALLS: Record<Kind, (n: number) => [string, unknown]> = {
  state: (n) => ["state::set", { scope: "outage", key: `k${n}`, value: { n } }],
  publish: (n) => ["publish", { topic: "ticks", data: { n } }],
  enqueue: (n) => ["enqueue", { topic: "jobs", data: { n } }],
  stream: (n) => ["stream::set", { stream_name: "outage", group_id: "g", item_id: `i${n}`, data: { n } }],
};
const KINDS = Object.keys(CALLS) as Kind[];

/** Sends one call of every kind every `intervalMs` until `stop` is set, recording each reply. */
function runLoad(worker: PipelinedWorker, records: CallRecord[], control: { stop: boolean }, intervalMs: number): Promise<void> {
  const inFlight: Array<Promise<void>> = [];
  let n = 0;

  const tick = async () => {
    while (!control.stop) {
      const current = n++;
      for (const kind of KINDS) {
        const [functionId, data] = CALLS[kind](current);
        const sentAt = Date.now();
        const call = worker.call(functionId, data, 8_000).then(
          (reply: CallReply) => void records.push({ kind, n: current, sentAt, repliedAt: Date.now(), error: reply.error }),
          (error: Error) => void records.push({ kind, n: current, sentAt, repliedAt: Date.now(), error: { code: "no_reply", message: error.message } }),
        );
        inFlight.push(call);
      }
      await Bun.sleep(intervalMs);
    }
    await Promise.all(inFlight);
  };
  return tick();
}

describe("redis restart under load", () => {
  test("fails calls clearly and recovers by itself", async () => {
    const redis = new PrivateRedis();
    cleanups.push(() => redis.dispose());
    await redis.start();

    const engine: TestEngine = await startEngine(redisEngineYaml(redis.url));
    cleanups.push(() => engine.stop());
    const worker = await PipelinedWorker.connect(engine.workerUrl);
    cleanups.push(() => worker.close());

    const messages = new Map<number, number>();
    const jobs = new Map<number, number>();
    worker.serve("outage.on_message", (data, invocationId) => {
      const n = (data as { n: number }).n;
      messages.set(n, (messages.get(n) ?? 0) + 1);
      worker.answer("outage.on_message", invocationId, null);
    });
    worker.serve("outage.on_job", (data, invocationId) => {
      const n = (data as { n: number }).n;
      jobs.set(n, (jobs.get(n) ?? 0) + 1);
      worker.answer("outage.on_job", invocationId, null);
    });
    const ticks: number[] = [];
    worker.serve("outage.on_tick", (_data, invocationId) => {
      ticks.push(Date.now());
      worker.answer("outage.on_tick", invocationId, null);
    });
    worker.send({ type: "registertrigger", id: "outage-cron", trigger_type: "cron", function_id: "outage.on_tick", config: { expression: "* * * * * *" } });
    worker.send({ type: "registertrigger", id: "outage-sub", trigger_type: "subscribe", function_id: "outage.on_message", config: { topic: "ticks" } });
    worker.send({ type: "registertrigger", id: "outage-queue", trigger_type: "queue", function_id: "outage.on_job", config: { topic: "jobs" } });
    await waitFor("three triggers registered", () => (engine.engine.triggers.size === 3 ? true : undefined));

    const records: CallRecord[] = [];
    const control = { stop: false };
    const load = runLoad(worker, records, control, 10);
    await waitFor("calls succeeding before the outage", () => (records.filter((record) => !record.error).length >= 200 ? true : undefined), 10_000);

    await redis.stop();
    const downAt = Date.now();
    await Bun.sleep(2_500);
    const restartAt = Date.now();
    await redis.start();
    const upAt = Date.now();

    // Recovered means the last 20 calls of every kind succeeded.
    await waitFor(
      "every kind of call succeeding again",
      () => {
        const recovered = KINDS.every((kind) => {
          const recent = records.filter((record) => record.kind === kind && record.sentAt > upAt).slice(-20);
          return recent.length === 20 && recent.every((record) => !record.error);
        });
        return recovered ? true : undefined;
      },
      20_000,
    );
    control.stop = true;
    await load;

    const whileDown = records.filter((record) => record.sentAt >= downAt && record.sentAt < restartAt);
    const errors = new Map<string, { count: number; message: string }>();
    for (const record of records.filter((entry) => entry.error)) {
      const key = `${record.kind} ${record.error!.code}`;
      errors.set(key, { count: (errors.get(key)?.count ?? 0) + 1, message: record.error!.message });
    }
    const recoveryMs = Object.fromEntries(
      KINDS.map((kind) => [kind, (records.find((record) => record.kind === kind && record.sentAt >= upAt && !record.error)?.repliedAt ?? NaN) - upAt]),
    );

    // Redis writes an append-only file fsynced per write, so everything it acknowledged survives its restart.
    const acknowledgedJobs = records.filter((record) => record.kind === "enqueue" && !record.error).map((record) => record.n);
    await waitFor("every acknowledged job processed", () => (acknowledgedJobs.every((n) => jobs.has(n)) ? true : undefined), 20_000);
    const acknowledgedSets = records.filter((record) => record.kind === "state" && !record.error).map((record) => record.n);
    const listed = await worker.call("state::list", { scope: "outage" });
    const stored = new Set((listed.result as Array<{ n: number }>).map((value) => value.n));
    const lostSets = acknowledgedSets.filter((n) => !stored.has(n));
    const lostJobs = acknowledgedJobs.filter((n) => !jobs.has(n));
    const repeatedJobs = [...jobs.values()].filter((count) => count > 1).length;
    const published = records.filter((record) => record.kind === "publish" && !record.error).map((record) => record.n);
    const missedMessages = published.filter((n) => !messages.has(n));
    const lastPublished = published.slice(-20);
    await waitFor("messages published after recovery delivered", () => (lastPublished.every((n) => messages.has(n)) ? true : undefined));
    await waitFor("a cron tick after the restart", () => (ticks.some((at) => at > upAt) ? true : undefined), 8_000);
    const ticksWhileDown = ticks.filter((at) => at > downAt + 1_000 && at < restartAt).length;

    console.log(
      `[reliability] redis restart: ${records.length} calls, ${whileDown.length} sent while down, ` +
        `${records.filter((record) => record.error).length} failed; errors ${JSON.stringify(Object.fromEntries(errors))}; ` +
        `recovery ms after restart ${JSON.stringify(recoveryMs)}; ` +
        `state lost ${lostSets.length} of ${acknowledgedSets.length}; jobs lost ${lostJobs.length} of ${acknowledgedJobs.length}, repeated ${repeatedJobs}; ` +
        `messages missed ${missedMessages.length} of ${published.length} (pub/sub is at-most-once); ` +
        `cron ticks ${ticks.length}, ${ticksWhileDown} while down, first ${ticks.find((at) => at > upAt)! - upAt} ms after restart`,
    );

    expect(whileDown.length).toBeGreaterThan(0);
    for (const record of whileDown) {
      expect(record.error).toBeDefined();
      expect(record.error?.code).not.toBe("no_reply");
    }
    // state::* keeps its per-operation error codes (SET_ERROR) and names the cause in the message.
    expect([...errors.keys()].sort()).toEqual(["enqueue backend_unavailable", "publish backend_unavailable", "state SET_ERROR", "stream backend_unavailable"]);
    for (const { message } of errors.values()) expect(message).toContain(`redis at 'redis://127.0.0.1:${redis.port}`);
    expect(lostSets).toEqual([]);
    expect(lostJobs).toEqual([]);
    // Without a lock no engine may run a tick, so ticks stop while Redis is away.
    expect(ticksWhileDown).toBe(0);
  }, 60_000);
});
