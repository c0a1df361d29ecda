import { describe, expect, test } from "bun:test";
import { expandEnvironment } from "../../src/config/expand.ts";
import { loadConfig, parseConfigText } from "../../src/config/load.ts";
import { createModules } from "../../src/modules/index.ts";

describe("environment expansion", () => {
  const env = { HOST: "db.local", EMPTY: "", A: "1", B: "2", NAME_2_X: "under" };
  const expand = (text: string) => expandEnvironment(text, env, "config.yaml");

  test("set variable is substituted", () => expect(expand("host: ${HOST}")).toBe("host: db.local"));
  test("missing variable uses its default", () => expect(expand("${PORT:3111}")).toBe("3111"));
  test("set variable ignores the default", () => expect(expand("${HOST:other}")).toBe("db.local"));
  test("text without placeholders is unchanged", () => expect(expand("a: b\nc: $HOST")).toBe("a: b\nc: $HOST"));
  test("empty default gives an empty string", () => expect(expand("x${X:}y")).toBe("xy"));
  test("empty variable wins over its default", () => expect(expand("${EMPTY:fallback}")).toBe(""));
  test("default with colons stays intact", () =>
    expect(expand("${REDIS_URL:redis://localhost:6379/0}")).toBe("redis://localhost:6379/0"));
  test("same variable repeated", () => expect(expand("${A}-${A}")).toBe("1-1"));
  test("adjacent placeholders", () => expect(expand("${A}${B}")).toBe("12"));
  test("names with underscores and digits", () => expect(expand("${NAME_2_X}")).toBe("under"));
  test("multi-line yaml", () => expect(expand("a: ${A}\nb:\n  c: ${B}\n")).toBe("a: 1\nb:\n  c: 2\n"));

  test("missing variable without default names it and its line", () => {
    expect(() => expand("port: 1\n# note ${SECRET_TOKEN}\n")).toThrow(
      "config.yaml:2: environment variable 'SECRET_TOKEN' is not set",
    );
  });

  test("only variable names are looked up", () => {
    expect(expand("${A:$(rm -rf /)}")).toBe("1");
    expect(expand("${MISSING:$(echo hi)}")).toBe("$(echo hi)");
  });

  test("expanded value can become a yaml boolean", () => {
    const config = parseConfigText("modules:\n  - class: x\n    config: { enabled: ${FLAG:true} }\n", "c.yaml", {});
    expect((config.modules![0]!.config as { enabled: unknown }).enabled).toBe(true);
  });
});

describe("config loading", () => {
  test("invalid yaml names file, line and reason", () => {
    expect(() => parseConfigText("port: 1\nmodules: [\n  - a\n", "bad.yaml", {})).toThrow(/^bad\.yaml:\d+: invalid YAML: /);
  });

  test("wrong type names the yaml path", () => {
    expect(() => parseConfigText("port: eighty\n", "c.yaml", {})).toThrow("port: expected an integer from 0 to 65535, got 'eighty'");
  });

  test("module entry without class is rejected", () => {
    expect(() => parseConfigText("modules:\n  - config: {}\n", "c.yaml", {})).toThrow("modules[0].class: expected a module class name");
  });

  test("numeric strings from env are accepted as ports", () => {
    expect(parseConfigText("port: ${P:5000}\n", "c.yaml", {}).port).toBe(5000);
  });

  test("unknown top-level keys are reported, not fatal", () => {
    expect(parseConfigText("port: 1\nextra: 2\n", "c.yaml", {}).unknownKeys).toEqual(["extra"]);
  });

  test("missing default file gives the default module set", async () => {
    const config = await loadConfig("/nonexistent/config.yaml", { explicit: false, env: {} });
    expect(config.modules).toBeNull();
    expect(config.port).toBe(49134);
    expect(config.host).toBe("127.0.0.1");
  });

  test("missing explicit file is an error", async () => {
    await expect(loadConfig("/nonexistent/config.yaml", { explicit: true, env: {} })).rejects.toThrow(
      "config file '/nonexistent/config.yaml' not found",
    );
  });

  test("unknown module class lists the known ones", async () => {
    const config = parseConfigText("modules:\n  - class: modules::nope::Nope\n", "c.yaml", {});
    await expect(createModules(config.modules, { dataDir: "/tmp", env: {} })).rejects.toThrow(
      /^modules\[0\]\.class: unknown module class 'modules::nope::Nope'; known classes: .*modules::api::RestApiModule/,
    );
  });

  test("module listed twice is created twice", async () => {
    const yaml = "modules:\n  - class: modules::state::StateModule\n  - class: modules::api::RestApiModule\n  - class: modules::state::StateModule\n";
    const config = parseConfigText(yaml, "c.yaml", {});
    const classes = (await createModules(config.modules, { dataDir: "/tmp", env: {} })).map((module) => module.className);
    expect(classes.filter((name) => name === "modules::state::StateModule")).toHaveLength(2);
  });

  test("shell module may be listed twice", async () => {
    const entry = "  - class: modules::shell::ExecModule\n    config: { exec: [\"true\"] }\n";
    const config = parseConfigText(`modules:\n${entry}${entry}`, "c.yaml", {});
    const classes = (await createModules(config.modules, { dataDir: "/tmp", env: {} })).map((module) => module.className);
    expect(classes.filter((name) => name === "modules::shell::ExecModule")).toHaveLength(2);
  });

  test("mandatory modules are added when left out", async () => {
    const config = parseConfigText("modules:\n  - class: modules::api::RestApiModule\n", "c.yaml", {});
    const classes = (await createModules(config.modules, { dataDir: "/tmp", env: {} })).map((module) => module.className);
    expect(classes).toContain("modules::worker::WorkerModule");
    expect(classes).toContain("modules::telemetry::TelemetryModule");
  });
});
