import { expectObject, joinPath, readStringList, rejectUnknownKeys } from "../../config/schema.ts";
import { ConfigError } from "../../core/errors.ts";

/** Commands run in order by `sh -c`, and globs whose changes restart them. */
export interface ExecConfig {
  exec: string[];
  watch: string[];
}

const KNOWN_KEYS = ["exec", "watch"] as const;

/** Validates the module config; `exec` must list at least one command. */
export function parseExecConfig(raw: unknown, path: string): ExecConfig {
  const object = expectObject(raw, path);
  rejectUnknownKeys(object, KNOWN_KEYS, path);

  if (object.exec === undefined || object.exec === null) {
    throw new ConfigError(`${joinPath(path, "exec")}: missing; list the shell commands to run, for example exec: ["bun run dev"]`);
  }
  const exec = readStringList(object, "exec", path, []);
  if (exec.length === 0) {
    throw new ConfigError(`${joinPath(path, "exec")}: the list is empty; add at least one shell command`);
  }
  exec.forEach((command, index) => {
    if (command.trim() === "") throw new ConfigError(`${joinPath(joinPath(path, "exec"), index)}: the command is empty`);
  });

  const watch = readStringList(object, "watch", path, []);
  watch.forEach((pattern, index) => {
    if (pattern.trim() === "") throw new ConfigError(`${joinPath(joinPath(path, "watch"), index)}: the pattern is empty; remove it or write a glob such as src/**/*.ts`);
  });
  return { exec, watch };
}
