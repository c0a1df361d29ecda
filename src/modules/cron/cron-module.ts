import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import { createLogger, type Logger } from "../../telemetry/logger.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import type { CronLockAdapter } from "./adapter.ts";
import { KvCronAdapter } from "./adapters/kv-store.ts";
import { SYSTEM_CLOCK, type CronClock } from "./clock.ts";
import { KV_CRON_ADAPTER, parseCronConfig, type CronModuleConfig } from "./config.ts";
import { CronJob } from "./cron-job.ts";
import { CronTickRunner } from "./tick-runner.ts";
import { parseCronTriggerConfig } from "./trigger-config.ts";

export const CRON_TRIGGER_TYPE = "cron";

// How long stop() waits for handlers that are still running.
const STOP_GRACE_MS = 2_000;

export const cronModuleFactory: ModuleFactory = {
  className: "modules::cron::CronModule",
  summary: "cron trigger type: runs functions on a schedule, each tick once across engines sharing the lock backend",
  create(config, path, environment): EngineModule {
    const parsed = parseCronConfig(config, path, {
      dataDir: environment.dataDir,
      defaultSet: environment.defaultSet,
      logger: createLogger("cron"),
    });
    return new CronModule(parsed);
  },
};

/** Replaceable parts for tests: the clock and timers, and the instance id written into locks. */
export interface CronModuleOptions {
  clock?: CronClock;
  instanceId?: string;
}

/** Provides the `cron` trigger type: one schedule per trigger, each tick claimed through the lock adapter. */
export class CronModule implements EngineModule {
  readonly className = cronModuleFactory.className;
  readonly #config: CronModuleConfig;
  readonly #clock: CronClock;
  readonly #instanceId: string;
  readonly #jobs = new Map<string, CronJob>();
  // Jobs that were stopped while a run was still going, by trigger id.
  readonly #stoppingJobs = new Map<string, Promise<void>>();
  #context: EngineContext | null = null;
  #logger: Logger = createLogger("cron");
  #adapter: CronLockAdapter | null = null;
  #stopping: Promise<void> | null = null;

  constructor(config: CronModuleConfig, options: CronModuleOptions = {}) {
    this.#config = config;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#instanceId = options.instanceId ?? crypto.randomUUID();
  }

  async start(context: EngineContext): Promise<void> {
    this.#context = context;
    this.#logger = context.createLogger("cron");
    this.#adapter = await this.#openAdapter();

    await context.registerTriggerType(CRON_TRIGGER_TYPE, "Runs a function on a cron schedule", {
      register: (trigger) => this.#addJob(trigger),
      unregister: (trigger) => this.#removeJob(trigger.id),
    });
  }

  /** Stops every schedule, waits up to 2 s for running handlers, then closes the lock adapter. */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  /** Trigger ids that have a running schedule. */
  get triggerIds(): string[] {
    return [...this.#jobs.keys()];
  }

  /** Ticks of a trigger passed over because its previous run was still going; undefined for an unknown id. */
  skippedTicks(triggerId: string): number | undefined {
    return this.#jobs.get(triggerId)?.skippedTicks;
  }

  async #openAdapter(): Promise<CronLockAdapter> {
    const adapter = this.#config.adapter;
    if (adapter.className === KV_CRON_ADAPTER) return KvCronAdapter.open(adapter, this.#instanceId, this.#clock, this.#logger);
    // Loaded only when chosen, so engines without Redis never load ioredis.
    const { RedisCronAdapter } = await import("./adapters/redis.ts");
    return RedisCronAdapter.open(adapter, this.#instanceId, this.#logger);
  }

  #addJob(trigger: Trigger): void {
    const context = this.#context;
    const adapter = this.#adapter;
    if (!context || !adapter || this.#stopping) {
      throw new EngineError(ErrorCode.triggerRegistrationFailed, `cron trigger '${trigger.id}' cannot be scheduled because the cron module is not running`);
    }
    if (this.#jobs.has(trigger.id)) {
      throw new EngineError(
        ErrorCode.triggerRegistrationFailed,
        `cron trigger '${trigger.id}' is already scheduled; unregister it first or use another id`,
      );
    }

    const { schedule, conditionFunctionId } = parseCronTriggerConfig(trigger);
    const runner = new CronTickRunner(
      { triggerId: trigger.id, functionId: trigger.function_id, conditionFunctionId },
      { context, adapter, clock: this.#clock, logger: this.#logger },
    );
    const job = new CronJob({
      triggerId: trigger.id,
      schedule,
      clock: this.#clock,
      logger: this.#logger,
      runTick: (scheduledMs) => runner.run(scheduledMs),
      previous: this.#stoppingJobs.get(trigger.id),
    });

    this.#jobs.set(trigger.id, job);
    job.start();
    this.#logger.debug(`scheduled cron trigger '${trigger.id}' (${schedule.expression}, ${schedule.timezone}) for '${trigger.function_id}'`);
  }

  #removeJob(triggerId: string): void {
    const job = this.#jobs.get(triggerId);
    if (!job) return;

    this.#jobs.delete(triggerId);
    job.stop();
    this.#trackStopping(triggerId, job);
    this.#logger.debug(`stopped cron trigger '${triggerId}'`);
  }

  /** Remembers a stopped job until its last run ends, so a job registered again under its id waits for it. */
  #trackStopping(triggerId: string, job: CronJob): void {
    const done = job.done;
    this.#stoppingJobs.set(triggerId, done);
    void done.then(() => {
      if (this.#stoppingJobs.get(triggerId) === done) this.#stoppingJobs.delete(triggerId);
    });
  }

  async #shutdown(): Promise<void> {
    for (const [triggerId, job] of this.#jobs) {
      job.stop();
      this.#trackStopping(triggerId, job);
    }
    this.#jobs.clear();

    const running = [...this.#stoppingJobs.values()];
    if (running.length > 0 && !(await settlesWithin(Promise.all(running), STOP_GRACE_MS))) {
      this.#logger.warn(`cron handlers still running after ${STOP_GRACE_MS} ms; stopping without them`);
    }

    await this.#adapter?.close();
    this.#adapter = null;
  }
}

/** Resolves true when `promise` settles within `timeoutMs`, false otherwise. */
async function settlesWithin(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
