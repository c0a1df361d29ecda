import { defineCommand, runCommand } from "citty";
import { loadConfig } from "../config/load.ts";
import { ConfigError, EngineError } from "../core/errors.ts";
import { configureLogging, createLogger, isLogLevelName, LOG_LEVELS, type LogLevelName } from "../telemetry/logger.ts";
import { ENGINE_VERSION } from "../version.ts";
import { createEngine, shutdownOnSignals } from "./start.ts";

const DEFAULT_CONFIG_PATH = "config.yaml";

const command = defineCommand({
  meta: {
    name: "iii",
    version: ENGINE_VERSION,
    description: "Process communication engine: workers connect over WebSocket, register functions and triggers, and the engine routes calls",
  },
  args: {
    config: {
      type: "string",
      alias: "c",
      description: "Path of the YAML config file; without one the default modules start",
      default: DEFAULT_CONFIG_PATH,
      valueHint: "path",
    },
    version: { type: "boolean", alias: "v", description: "Print the engine version and exit" },
    "log-level": { type: "string", description: `Log level: ${LOG_LEVELS.join(", ")} (default info, or III_LOG_LEVEL)` },
    "log-format": { type: "string", description: "Log format: default or json" },
    debug: { type: "boolean", description: "Print stack traces with errors" },
  },
  async run({ args, rawArgs }) {
    if (args.version) {
      console.log(ENGINE_VERSION);
      return;
    }
    configureLogging({ level: pickLogLevel(args["log-level"]), format: pickLogFormat(args["log-format"]) });
    const shutdown = shutdownOnSignals();

    const explicit = rawArgs.some((arg) => arg === "-c" || arg === "--config" || arg.startsWith("--config="));
    const config = await loadConfig(args.config, { explicit, env: process.env });
    const logger = createLogger("engine");

    // Modules see the command-line log flags as III_LOG_*, so a config-file log level never overrides them.
    const env = { ...process.env, III_LOG_LEVEL: args["log-level"] ?? process.env.III_LOG_LEVEL, III_LOG_FORMAT: args["log-format"] ?? process.env.III_LOG_FORMAT };
    let engine;
    try {
      engine = await createEngine(config, env);
    } catch (error) {
      // Module config errors carry a YAML path; the file name completes it.
      if (error instanceof ConfigError && config.source) throw new ConfigError(`${config.source}: ${error.message}`, { cause: error });
      throw error;
    }
    if (config.source === null) logger.info(`no ${args.config} found; starting the default modules`);
    else logger.info(`loaded config from ${config.source}`);
    // Signals that arrive while modules start still lead to a graceful stop.
    const started = engine.start();
    shutdown.attach(engine, started);
    await started;
    logger.info(`iii ${ENGINE_VERSION} ready`);
  },
});

/** Runs the `iii` command line; errors print as one line (with the stack under `--debug`) and exit 1. */
export async function runCli(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(HELP);
    return;
  }
  try {
    checkArguments(argv);
    await runCommand(command, { rawArgs: argv });
  } catch (error) {
    const message = error instanceof EngineError || error instanceof Error ? error.message : String(error);
    console.error(`iii: ${message}`);
    if (argv.includes("--debug") && error instanceof Error && error.stack) console.error(error.stack);
    process.exit(1);
  }
}

function pickLogLevel(flag: string | undefined): LogLevelName {
  const value = flag ?? process.env.III_LOG_LEVEL ?? "info";
  if (isLogLevelName(value)) return value;
  const source = flag === undefined ? "III_LOG_LEVEL" : "--log-level";
  throw new EngineError("config_invalid", `log level '${value}' from ${source} is not valid; use one of ${LOG_LEVELS.join(", ")}`);
}

function pickLogFormat(flag: string | undefined): "default" | "json" {
  const value = flag ?? process.env.III_LOG_FORMAT ?? "default";
  if (value === "default" || value === "json") return value;
  const source = flag === undefined ? "III_LOG_FORMAT" : "--log-format";
  throw new EngineError("config_invalid", `log format '${value}' from ${source} is not valid; use default or json`);
}

const HELP = `iii ${ENGINE_VERSION}: process communication engine. Workers connect over WebSocket,
register functions and triggers, and the engine routes calls between them.

USAGE
  iii [options]

OPTIONS
  -c, --config <path>      YAML config file (default ${DEFAULT_CONFIG_PATH}); when the default file is
                           missing, the default modules start
  --log-level <level>      ${LOG_LEVELS.join(", ")} (default info)
  --log-format <format>    default (text lines) or json
  --debug                  print stack traces with errors
  -v, --version            print the engine version and exit
  -h, --help               print this help and exit

ENVIRONMENT
  III_LOG_LEVEL            log level when --log-level is not given
  III_LOG_FORMAT           log format when --log-format is not given
  III_DATA_DIR             folder of the file-backed stores (default ./data)`;

const VALUE_OPTIONS = new Set(["-c", "--config", "--log-level", "--log-format"]);
const FLAG_OPTIONS = new Set(["-v", "--version", "--debug"]);

/** Rejects unknown options, missing option values and stray arguments, so a typo never starts the default setup. */
function checkArguments(argv: string[]): void {
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const name = arg.startsWith("--") ? arg.split("=")[0]! : arg;
    if (FLAG_OPTIONS.has(name)) continue;
    if (VALUE_OPTIONS.has(name)) {
      if (arg.includes("=")) continue;
      const value = argv[index + 1];
      if (value === undefined || value === "" || value.startsWith("-")) {
        throw new EngineError("invalid_argument", `option '${arg}' needs a value; run 'iii --help' for the options`);
      }
      index++;
      continue;
    }
    if (arg.startsWith("-")) throw new EngineError("invalid_argument", `unknown option '${arg}'; run 'iii --help' for the options`);
    throw new EngineError("invalid_argument", `unexpected argument '${arg}'; pass the config file with --config`);
  }
}
