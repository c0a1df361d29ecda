import type { Subprocess } from "bun";
import { readdirSync, readFileSync } from "node:fs";

/** Exit status of a command: its exit code, or the signal that killed it. */
export type CommandExit = { code: number; signal: null } | { code: null; signal: string };

const MEMBER_POLL_MS = 25;
const AFTER_KILL_WAIT_MS = 1_000;

/**
 * One `sh -c` command started as the leader of its own process group, so that
 * the processes it starts can be signalled together, even after the leader
 * itself has exited.
 */
export class ProcessGroup {
  readonly command: string;
  readonly pid: number;
  /** Resolves once the leader (the `sh` process) has exited; never rejects. */
  readonly exited: Promise<CommandExit>;

  constructor(command: string, options: { cwd?: string } = {}) {
    this.command = command;
    const child: Subprocess = Bun.spawn(["sh", "-c", command], {
      cwd: options.cwd,
      detached: true,
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
    });
    this.pid = child.pid;
    this.exited = child.exited.then(
      (): CommandExit => (child.signalCode ? { code: null, signal: String(child.signalCode) } : { code: child.exitCode ?? 0, signal: null }),
    );
  }

  /**
   * Tells whether any process of the group is still running. On Linux, zombies
   * (exited, waiting for init to reap them) do not count, because some init
   * processes reap orphans only every second or so. Elsewhere they do.
   */
  hasMembers(): boolean {
    const running = countRunningMembers(this.pid);
    if (running !== null) return running > 0;
    try {
      process.kill(-this.pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM";
    }
  }

  /** Sends `signal` to every process of the group; a group that is already gone is ignored. */
  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }

  /**
   * Sends SIGTERM to the group, then SIGKILL to whatever is left after
   * `graceMs`. Resolves once the group is empty, or 1 s after SIGKILL if
   * orphaned processes are still waiting to be reaped by init.
   */
  async terminate(graceMs: number): Promise<void> {
    if (!this.hasMembers()) return;
    this.signal("SIGTERM");
    if (await this.#waitUntilEmpty(graceMs)) return;

    this.signal("SIGKILL");
    await this.#waitUntilEmpty(AFTER_KILL_WAIT_MS);
  }

  async #waitUntilEmpty(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.hasMembers()) {
      if (Date.now() >= deadline) return false;
      await Bun.sleep(MEMBER_POLL_MS);
    }
    return true;
  }
}

/** Formats an exit for logs: `code 0` or `signal SIGTERM`. */
export function describeExit(exit: CommandExit): string {
  return exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`;
}

/** Counts the non-zombie processes of a group from `/proc`, or returns null where there is no `/proc`. */
function countRunningMembers(groupId: number): number | null {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }

  let count = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "latin1");
    } catch {
      continue;
    }
    // Fields after the command name, which may itself contain spaces and parentheses: state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === groupId && fields[0] !== "Z") count++;
  }
  return count;
}
