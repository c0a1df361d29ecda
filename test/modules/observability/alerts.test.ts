import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../../src/core/errors.ts";
import type { Logger } from "../../../src/telemetry/logger.ts";
import { AlertManager, WEBHOOK_RETRY_DELAYS_MS } from "../../../src/modules/observability/alerts.ts";
import { parseAlertRules } from "../../../src/modules/observability/alert-rules.ts";
import { MetricStore } from "../../../src/modules/observability/metric-store.ts";
import { otelModuleFactory } from "../../../src/modules/observability/index.ts";
import { startEngine, waitFor } from "../../support/engine.ts";
import { callOk, connectWorker, observabilityConfig } from "./support.ts";

function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    error: (message) => void lines.push(`error ${message}`),
    warn: (message) => void lines.push(`warn ${message}`),
    info: () => {},
    debug: () => {},
    trace: () => {},
    isDebugEnabled: () => false,
    child: () => logger,
  };
  return logger;
}

function gauge(store: MetricStore, name: string, value: number, atMs: number): void {
  store.add({
    name,
    description: "",
    unit: "",
    type: "gauge",
    points: [{ kind: "number", value, attributes: [], timeNanos: BigInt(atMs) * 1_000_000n }],
    serviceName: "test",
    timeNanos: BigInt(atMs) * 1_000_000n,
  });
}

describe("alert rules", () => {
  test("fire once per cooldown with an injected clock", async () => {
    let now = 1_000_000;
    const lines: string[] = [];
    const metrics = new MetricStore(100, 3_600_000);
    const rules = parseAlertRules([{ name: "hot", metric: "cpu", threshold: 80, operator: ">=", window_seconds: 60, cooldown_seconds: 30 }], "alerts", []);
    const manager = new AlertManager({
      rules,
      readMetric: (name, windowMs, nowMs) => metrics.windowValue(name, windowMs, nowMs),
      invoke: async () => ({ type: "success" }),
      logger: recordingLogger(lines),
      now: () => now,
    });

    expect(manager.evaluate()).toEqual([]);
    expect(manager.list()[0]).toMatchObject({ firing: false, current_value: null, operator: "GreaterThanOrEqual" });

    gauge(metrics, "cpu", 70, now);
    gauge(metrics, "cpu", 100, now);
    const fired = manager.evaluate();
    expect(fired).toEqual([{ name: "hot", metric: "cpu", value: 85, threshold: 80, operator: "GreaterThanOrEqual", firing: true, timestamp: now }]);

    now += 10_000;
    expect(manager.evaluate()).toEqual([]);
    expect(manager.list()[0]).toMatchObject({ firing: true, last_triggered: now - 10_000 });

    now += 25_000;
    expect(manager.evaluate()).toHaveLength(1);

    now += 120_000;
    expect(manager.evaluate()).toEqual([]);
    expect(manager.firingCount).toBe(0);
    await manager.stop();
    expect(lines.filter((line) => line.startsWith("warn alert 'hot' fired"))).toHaveLength(2);
  });

  test("retry a failing webhook after 1, 2 and 4 seconds", async () => {
    const attempts: string[] = [];
    const sleeps: number[] = [];
    const lines: string[] = [];
    const rules = parseAlertRules(
      [{ name: "errors", metric: "iii.invocations.error", threshold: 0, action: { type: "webhook", url: "http://127.0.0.1:9/hook" } }],
      "alerts",
      ["127.0.0.1:9"],
    );
    const manager = new AlertManager({
      rules,
      readMetric: () => 3,
      invoke: async () => ({ type: "success" }),
      logger: recordingLogger(lines),
      sleep: async (ms) => void sleeps.push(ms),
      fetch: async (url, init) => {
        attempts.push(`${url} ${String(init.body)}`);
        return new Response(null, { status: attempts.length < 4 ? 503 : 200 });
      },
    });

    manager.evaluate();
    await waitFor("four webhook attempts", () => (attempts.length === 4 ? true : undefined));
    await manager.stop();
    expect(sleeps).toEqual([...WEBHOOK_RETRY_DELAYS_MS]);
    expect(attempts).toHaveLength(4);
    expect(JSON.parse(attempts[0]!.split(" ").slice(1).join(" "))).toMatchObject({ alert: "errors", metric: "iii.invocations.error", value: 3, operator: "GreaterThan" });
    expect(lines).toEqual([]);
  });

  test("call the function action with the event", async () => {
    const calls: Array<{ id: string; data: unknown }> = [];
    const rules = parseAlertRules([{ name: "quiet", metric: "iii.workers.active", threshold: 1, operator: "<", action: { type: "function", path: "ops.page" } }], "alerts", []);
    const manager = new AlertManager({
      rules,
      readMetric: () => 0,
      invoke: async (id, data) => {
        calls.push({ id, data });
        return { type: "success" };
      },
      logger: recordingLogger([]),
    });
    manager.evaluate();
    await manager.stop();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.id).toBe("ops.page");
    expect(calls[0]!.data).toEqual({ alert: "quiet", metric: "iii.workers.active", value: 0, threshold: 1, operator: "LessThan", timestamp: expect.any(Number), firing: true });
  });

  test("allow webhooks to any host without a host list", () => {
    const rules = parseAlertRules([{ name: "x", metric: "m", threshold: 1, action: { type: "webhook", url: "http://127.0.0.1:9/h" } }], "alerts", null);
    expect(rules[0]!.action).toEqual({ type: "webhook", url: "http://127.0.0.1:9/h" });
  });

  test("reject webhooks to hosts that are not listed", () => {
    expect(() => parseAlertRules([{ name: "x", metric: "m", threshold: 1, action: { type: "webhook", url: "http://example.com/h" } }], "alerts", [])).toThrow(
      "alerts[0].action.url: host 'example.com' is not listed in alert_webhook_hosts",
    );
    expect(() => parseAlertRules([{ name: "x", metric: "m", threshold: 1, action: "log" }], "alerts", [])).toThrow(ConfigError);
    expect(() => parseAlertRules([{ name: "x", metric: "m", threshold: 1, operator: "~" }], "alerts", [])).toThrow("unknown operator");
  });

  test("evaluate through engine functions", async () => {
    await using engine = await startEngine(
      observabilityConfig(`alerts:
  - name: any-invocation
    metric: iii.invocations.total
    operator: ">="
    threshold: 0`),
    );
    using worker = await connectWorker(engine.workerUrl);
    const evaluated = await callOk(worker, "engine::alerts::evaluate", {});
    expect(evaluated.evaluated).toBe(true);
    expect((evaluated.triggered_alerts as Array<Record<string, unknown>>)[0]).toMatchObject({ name: "any-invocation", firing: true });
    const listed = await callOk(worker, "engine::alerts::list", {});
    expect(listed.firing_count).toBe(1);
  });
});

describe("observability config", () => {
  const environment = { dataDir: "/tmp", env: {}, defaultSet: false };

  test("ignores unknown keys", () => {
    const module = otelModuleFactory.create({ exporterr: "memory" }, "modules[0].config", environment) as unknown as { config: { exporter: string } };
    expect(module.config.exporter).toBe("otlp");
  });

  test("prefers config values over environment fallbacks", () => {
    const env = { OTEL_SERVICE_NAME: "from-env", OTEL_MEMORY_MAX_SPANS: "50", OTEL_ENABLED: "1" };
    const module = otelModuleFactory.create({ service_name: "from-config" }, "modules[0].config", { dataDir: "/tmp", env, defaultSet: false }) as unknown as {
      config: { serviceName: string; memoryMaxSpans: number; enabled: boolean; exporter: string };
    };
    expect(module.config.serviceName).toBe("from-config");
    expect(module.config.memoryMaxSpans).toBe(50);
    expect(module.config.enabled).toBe(true);
    expect(module.config.exporter).toBe("otlp");
  });

  test("bad environment fallbacks use the defaults", () => {
    const env = { OTEL_MEMORY_MAX_SPANS: "many", OTEL_METRICS_EXPORTER: "prometheus" };
    const module = otelModuleFactory.create({}, "modules[0].config", { dataDir: "/tmp", env, defaultSet: false }) as unknown as {
      config: { memoryMaxSpans: number; metricsExporter: string };
    };
    expect(module.config.memoryMaxSpans).toBe(1000);
    expect(module.config.metricsExporter).toBe("memory");
  });

  test("reads level filters and formats", () => {
    const create = (config: unknown) => (otelModuleFactory.create(config, "m", environment) as unknown as { config: { logLevel?: string; logFormat?: string } }).config;
    expect(create({ level: "iii=debug,warn" }).logLevel).toBe("debug");
    expect(create({ level: "hyper=trace,warn" }).logLevel).toBe("warn");
    expect(create({ log_level: "iii=trace" }).logLevel).toBe("trace");
    expect(create({ format: "json" }).logFormat).toBe("json");
    expect(() => create({ level: "loud" })).toThrow("unknown log level 'loud'");
  });

  test("turns memory tracing on in the default module set", () => {
    const module = otelModuleFactory.create({}, "defaults.modules::observability::OtelModule", { ...environment, defaultSet: true }) as unknown as {
      config: { enabled: boolean; exporter: string; prometheus: { enabled: boolean; port: number } };
    };
    expect(module.config.enabled).toBe(true);
    expect(module.config.exporter).toBe("memory");
    expect(module.config.prometheus).toEqual({ enabled: true, host: "127.0.0.1", port: 9464 } as never);
  });
});
