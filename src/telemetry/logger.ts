import { format } from "node:util";
import { createConsola, type ConsolaInstance, type LogObject } from "consola";

/** Engine log levels, most severe first; `--log-level` and `III_LOG_LEVEL` take these names. */
export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export type LogFormat = "default" | "json";

const CONSOLA_LEVEL: Record<LogLevelName, number> = { error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

/** A tagged logger; the last argument may be an error object, printed with its message. */
export interface Logger {
  error(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
  trace(message: string, ...args: unknown[]): void;
  isDebugEnabled(): boolean;
  child(tag: string): Logger;
}

/** One emitted engine log line, as handed to listeners such as the observability module. */
export interface LogRecord {
  level: LogLevelName;
  tag: string;
  message: string;
  time: Date;
}

type LogListener = (record: LogRecord) => void;

// A log reader that exits closes the pipe, and the failed writes are reported as stream errors.
// Without listeners those errors would stop the engine, so later log lines are dropped instead.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

let currentLevel: LogLevelName = "info";
let root: ConsolaInstance = createRoot("default");
const listeners = new Set<LogListener>();

/** Sets the level and output format of every logger, including ones created earlier. */
export function configureLogging(options: { level?: LogLevelName; format?: LogFormat }): void {
  if (options.level) currentLevel = options.level;
  root = createRoot(options.format ?? "default");
}

export function isLogLevelName(value: unknown): value is LogLevelName {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value);
}

/** Registers a listener for every emitted log line; returns a function that removes it. */
export function addLogListener(listener: LogListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function createLogger(tag: string): Logger {
  const emit = (level: LogLevelName, message: string, args: unknown[]): void => {
    if (CONSOLA_LEVEL[level] > CONSOLA_LEVEL[currentLevel]) return;
    const method = level === "trace" ? "trace" : level;
    // printf-style values are formatted here, so the JSON output and listeners get the final text.
    const errors = args.filter((arg) => arg instanceof Error);
    const values = args.filter((arg) => !(arg instanceof Error));
    const text = values.length > 0 ? format(message, ...values) : message;
    root.withTag(tag)[method](text, ...errors);
    for (const listener of listeners) listener({ level, tag, message: text, time: new Date() });
  };

  return {
    error: (message, ...args) => emit("error", message, args),
    warn: (message, ...args) => emit("warn", message, args),
    info: (message, ...args) => emit("info", message, args),
    debug: (message, ...args) => emit("debug", message, args),
    trace: (message, ...args) => emit("trace", message, args),
    isDebugEnabled: () => CONSOLA_LEVEL[currentLevel] >= CONSOLA_LEVEL.debug,
    child: (childTag) => createLogger(`${tag}:${childTag}`),
  };
}

function createRoot(format: LogFormat): ConsolaInstance {
  if (format === "json") {
    return createConsola({ level: 5, reporters: [{ log: writeJsonLine }] });
  }
  // A terminal gets consola's own layout. Files, pipes and container logs get one plain line per entry.
  if (process.stdout.isTTY === true) return createConsola({ level: 5, formatOptions: { date: true, colors: true } });
  return createConsola({ level: 5, reporters: [{ log: writeTextLine }] });
}

function writeTextLine(entry: LogObject): void {
  const [message, ...rest] = entry.args;
  const error = rest.find((arg): arg is Error => arg instanceof Error);
  const tag = entry.tag ? ` [${entry.tag}]` : "";
  let line = `${entry.date.toISOString()} ${entry.type.toUpperCase().padEnd(5)}${tag} ${typeof message === "string" ? message : String(message)}`;
  if (error) line += `: ${error.message}`;
  if (error?.stack && CONSOLA_LEVEL[currentLevel] >= CONSOLA_LEVEL.debug) line += `\n${error.stack}`;
  const stream = entry.level <= 1 ? process.stderr : process.stdout;
  stream.write(`${line}\n`);
}

function writeJsonLine(entry: LogObject): void {
  const [message, ...rest] = entry.args;
  const line: Record<string, unknown> = {
    time: entry.date.toISOString(),
    level: entry.type,
    tag: entry.tag || undefined,
    message: typeof message === "string" ? message : String(message),
  };
  const error = rest.find((arg): arg is Error => arg instanceof Error);
  if (error) line.error = { name: error.name, message: error.message, code: (error as { code?: unknown }).code };
  const stream = entry.level <= 1 ? process.stderr : process.stdout;
  stream.write(`${JSON.stringify(line)}\n`);
}
