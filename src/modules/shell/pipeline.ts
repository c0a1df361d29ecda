import type { Logger } from "../../telemetry/logger.ts";
import { describeExit, ProcessGroup } from "./process-group.ts";

/** Time a process group gets between SIGTERM and SIGKILL. */
export const TERMINATE_GRACE_MS = 3_000;

/**
 * Runs a list of shell commands in order, each in its own process group.
 * Every command but the last must exit 0 before the next starts; the last one
 * is left running. Stopping or restarting terminates every group the current
 * run started, including processes that a finished command left behind.
 */
export class Pipeline {
  readonly #commands: readonly string[];
  readonly #logger: Logger;
  readonly #graceMs: number;
  readonly #cwd: string | undefined;
  #groups: ProcessGroup[] = [];
  #run = 0;
  #stopped = false;
  #transition: Promise<void> = Promise.resolve();

  constructor(commands: readonly string[], logger: Logger, options: { graceMs?: number; cwd?: string } = {}) {
    this.#commands = commands;
    this.#logger = logger;
    this.#graceMs = options.graceMs ?? TERMINATE_GRACE_MS;
    this.#cwd = options.cwd;
  }

  /** Process groups of the current run, oldest first. */
  get groups(): readonly ProcessGroup[] {
    return this.#groups;
  }

  /** Starts the first run; it continues in the background. */
  start(): void {
    this.#launch();
  }

  /** Terminates the current run and starts a new one; concurrent restarts run one after another. */
  restart(reason: string): Promise<void> {
    this.#transition = this.#transition.then(async () => {
      if (this.#stopped) return;
      this.#logger.info(`restarting commands: ${reason}`);
      await this.#terminateRun();
      if (!this.#stopped) this.#launch();
    });
    return this.#transition;
  }

  /** Terminates the current run for good; safe to call twice. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#transition = this.#transition.then(() => this.#terminateRun());
    return this.#transition;
  }

  /** Sends SIGKILL to every group at once; for process exit, when there is no time to wait. */
  killNow(): void {
    for (const group of this.#groups) group.signal("SIGKILL");
  }

  #launch(): void {
    const run = ++this.#run;
    this.#groups = [];
    void this.#execute(run).catch((error) => this.#logger.error("running the commands failed", error));
  }

  async #terminateRun(): Promise<void> {
    // A new run number makes the run in progress stop before its next command.
    this.#run++;
    const groups = this.#groups;
    await Promise.all(groups.map((group) => group.terminate(this.#graceMs)));
  }

  async #execute(run: number): Promise<void> {
    for (const [index, command] of this.#commands.entries()) {
      if (run !== this.#run) return;
      const group = new ProcessGroup(command, { cwd: this.#cwd });
      this.#groups.push(group);
      this.#logger.info(`started '${command}' (pid ${group.pid})`);

      const isLast = index === this.#commands.length - 1;
      const exit = await group.exited;
      if (run !== this.#run) {
        this.#logger.info(`'${command}' (pid ${group.pid}) stopped with ${describeExit(exit)}`);
        return;
      }
      if (isLast) {
        this.#logger.info(`'${command}' (pid ${group.pid}) exited with ${describeExit(exit)}`);
        return;
      }
      if (exit.code !== 0) {
        this.#logger.error(
          `'${command}' (pid ${group.pid}) exited with ${describeExit(exit)}; ` +
            "the commands after it do not run until the next restart",
        );
        return;
      }
      this.#logger.info(`'${command}' (pid ${group.pid}) exited with code 0`);
    }
  }
}
