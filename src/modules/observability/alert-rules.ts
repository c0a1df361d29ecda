import { describeValue, expectObject, joinPath, readBoolean, readInteger, readNumber, readString, rejectUnknownKeys } from "../../config/schema.ts";
import { ConfigError } from "../../core/errors.ts";

/** Comparison operators, named as `engine::alerts::list` reports them. */
export type AlertOperator = "GreaterThan" | "GreaterThanOrEqual" | "LessThan" | "LessThanOrEqual" | "Equal" | "NotEqual";

export type AlertAction = { type: "log" } | { type: "webhook"; url: string } | { type: "function"; path: string };

export interface AlertRule {
  name: string;
  metric: string;
  threshold: number;
  operator: AlertOperator;
  windowSeconds: number;
  action: AlertAction;
  enabled: boolean;
  cooldownSeconds: number;
}

const OPERATORS: Record<string, AlertOperator> = {
  ">": "GreaterThan",
  ">=": "GreaterThanOrEqual",
  "<": "LessThan",
  "<=": "LessThanOrEqual",
  "==": "Equal",
  "!=": "NotEqual",
  greaterthan: "GreaterThan",
  greaterthanorequal: "GreaterThanOrEqual",
  lessthan: "LessThan",
  lessthanorequal: "LessThanOrEqual",
  equal: "Equal",
  notequal: "NotEqual",
};

const RULE_KEYS = ["name", "metric", "threshold", "operator", "window_seconds", "action", "enabled", "cooldown_seconds"];

/** Applies an operator to a value and a threshold. */
export function compare(operator: AlertOperator, value: number, threshold: number): boolean {
  switch (operator) {
    case "GreaterThan":
      return value > threshold;
    case "GreaterThanOrEqual":
      return value >= threshold;
    case "LessThan":
      return value < threshold;
    case "LessThanOrEqual":
      return value <= threshold;
    case "Equal":
      return value === threshold;
    case "NotEqual":
      return value !== threshold;
    default: {
      const unknown: never = operator;
      throw new Error(`unknown operator ${String(unknown)}`);
    }
  }
}

/**
 * Reads the `alerts` list. Null `webhookHosts` allows webhooks to any host. A list limits
 * them to its hosts (`host` or `host:port`), so a config typo cannot post metrics elsewhere.
 */
export function parseAlertRules(value: unknown, path: string, webhookHosts: readonly string[] | null): AlertRule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ConfigError(`${path}: expected a list of alert rules, got ${describeValue(value)}`);

  const names = new Set<string>();
  return value.map((raw, index) => {
    const rulePath = joinPath(path, index);
    const rule = parseRule(expectObject(raw, rulePath), rulePath, webhookHosts);
    if (names.has(rule.name)) throw new ConfigError(`${joinPath(rulePath, "name")}: alert '${rule.name}' is defined twice; give each rule its own name`);
    names.add(rule.name);
    return rule;
  });
}

function parseRule(object: Record<string, unknown>, path: string, webhookHosts: readonly string[] | null): AlertRule {
  rejectUnknownKeys(object, RULE_KEYS, path);
  for (const key of ["name", "metric", "threshold"]) {
    if (object[key] === undefined || object[key] === null) throw new ConfigError(`${joinPath(path, key)}: missing; every alert rule needs name, metric and threshold`);
  }
  return {
    name: readString(object, "name", path, ""),
    metric: readString(object, "metric", path, ""),
    threshold: readNumber(object, "threshold", path, { fallback: 0 }),
    operator: parseOperator(object.operator, joinPath(path, "operator")),
    windowSeconds: readInteger(object, "window_seconds", path, { fallback: 60 }),
    action: parseAction(object.action, joinPath(path, "action"), webhookHosts),
    enabled: readBoolean(object, "enabled", path, true),
    cooldownSeconds: readInteger(object, "cooldown_seconds", path, { fallback: 60 }),
  };
}

function parseOperator(value: unknown, path: string): AlertOperator {
  if (value === undefined || value === null) return "GreaterThan";
  const operator = typeof value === "string" ? OPERATORS[value.trim().toLowerCase()] : undefined;
  if (!operator) throw new ConfigError(`${path}: unknown operator ${describeValue(value)}; use one of >, >=, <, <=, ==, !=`);
  return operator;
}

function parseAction(value: unknown, path: string, webhookHosts: readonly string[] | null): AlertAction {
  if (value === undefined || value === null) return { type: "log" };
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(`${path}: expected a mapping with a 'type' key (log, webhook or function), got ${describeValue(value)}`);
  }
  const object = value as Record<string, unknown>;
  const type = object.type;
  if (type === "log") {
    rejectUnknownKeys(object, ["type"], path);
    return { type: "log" };
  }
  if (type === "function") {
    rejectUnknownKeys(object, ["type", "path"], path);
    const functionId = readString(object, "path", path, "");
    if (functionId === "") throw new ConfigError(`${joinPath(path, "path")}: missing; name the function to call`);
    return { type: "function", path: functionId };
  }
  if (type === "webhook") {
    rejectUnknownKeys(object, ["type", "url"], path);
    const url = readString(object, "url", path, "");
    checkWebhookUrl(url, joinPath(path, "url"), webhookHosts);
    return { type: "webhook", url };
  }
  throw new ConfigError(`${joinPath(path, "type")}: unknown action type ${describeValue(type)}; use log, webhook or function`);
}

function checkWebhookUrl(url: string, path: string, webhookHosts: readonly string[] | null): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${path}: '${url}' is not a valid URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError(`${path}: '${url}' must use http or https`);
  }
  if (webhookHosts !== null && !webhookHosts.includes(parsed.hostname) && !webhookHosts.includes(parsed.host)) {
    throw new ConfigError(`${path}: host '${parsed.host}' is not listed in alert_webhook_hosts; add it there to allow webhooks to it`);
  }
}
