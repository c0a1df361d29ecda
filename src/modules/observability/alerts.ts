import type { InvocationOutcome } from "../../core/router.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { JsonValue } from "../../util/json.ts";
import { compare, type AlertRule } from "./alert-rules.ts";

/** How often rules are evaluated without an `engine::alerts::evaluate` call. */
export const ALERT_EVALUATION_INTERVAL_MS = 10_000;

/** Waits before webhook attempts 2, 3 and 4. */
export const WEBHOOK_RETRY_DELAYS_MS = [1_000, 2_000, 4_000] as const;
const WEBHOOK_TIMEOUT_MS = 30_000;

/** The event an alert action receives when a rule fires. */
export interface AlertEvent {
  name: string;
  metric: string;
  value: number;
  threshold: number;
  operator: string;
  firing: true;
  timestamp: number;
}

export interface AlertManagerOptions {
  rules: AlertRule[];
  /** The metric's value for a rule (`windowMs` 0 = latest point), or null when there is no data. */
  readMetric(name: string, windowMs: number, nowMs: number): number | null;
  invoke(functionId: string, data: JsonValue): Promise<InvocationOutcome>;
  logger: Logger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

interface RuleState {
  firing: boolean;
  lastEvaluated: number | null;
  lastTriggered: number | null;
  currentValue: number | null;
}

/**
 * Evaluates alert rules on a timer and on request. A rule fires when its
 * comparison is true and at least `cooldown_seconds` have passed since it last
 * fired. Its action then runs in the background: a log line, a webhook POST
 * with retries, or a function call.
 */
export class AlertManager {
  readonly #options: AlertManagerOptions;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #fetch: (url: string, init: RequestInit) => Promise<Response>;
  readonly #states = new Map<string, RuleState>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(options: AlertManagerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => Bun.sleep(ms));
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
    for (const rule of options.rules) this.#states.set(rule.name, { firing: false, lastEvaluated: null, lastTriggered: null, currentValue: null });
  }

  get hasRules(): boolean {
    return this.#options.rules.length > 0;
  }

  start(intervalMs = ALERT_EVALUATION_INTERVAL_MS): void {
    if (this.#timer || !this.hasRules) return;
    this.#timer = setInterval(() => this.evaluate(), intervalMs);
  }

  /** Stops the timer, cancels webhook retries and waits for running actions. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Evaluates every enabled rule now; returns the alerts that fired. */
  evaluate(): AlertEvent[] {
    const now = this.#now();
    const fired: AlertEvent[] = [];
    for (const rule of this.#options.rules) {
      if (!rule.enabled) continue;
      const state = this.#states.get(rule.name)!;
      const value = this.#options.readMetric(rule.metric, rule.windowSeconds * 1000, now);
      state.lastEvaluated = now;
      state.currentValue = value;
      state.firing = value !== null && compare(rule.operator, value, rule.threshold);
      if (!state.firing) continue;
      if (state.lastTriggered !== null && now - state.lastTriggered < rule.cooldownSeconds * 1000) continue;

      state.lastTriggered = now;
      const event: AlertEvent = { name: rule.name, metric: rule.metric, value: value!, threshold: rule.threshold, operator: rule.operator, firing: true, timestamp: now };
      fired.push(event);
      this.#track(this.#runAction(rule, event));
    }
    return fired;
  }

  /** Returns the state of every rule, as `engine::alerts::list` reports it. */
  list(): JsonValue[] {
    return this.#options.rules.map((rule) => {
      const state = this.#states.get(rule.name)!;
      return {
        name: rule.name,
        firing: state.firing,
        last_evaluated: state.lastEvaluated,
        last_triggered: state.lastTriggered,
        current_value: state.currentValue,
        threshold: rule.threshold,
        operator: rule.operator,
      };
    });
  }

  get firingCount(): number {
    return [...this.#states.values()].filter((state) => state.firing).length;
  }

  async #runAction(rule: AlertRule, event: AlertEvent): Promise<void> {
    const { logger } = this.#options;
    const action = rule.action;
    switch (action.type) {
      case "log":
        logger.warn(`alert '${rule.name}' fired: ${rule.metric} is ${event.value} (${rule.operator} ${rule.threshold})`);
        return;
      case "function": {
        const outcome = await this.#options.invoke(action.path, { ...webhookBody(event), firing: event.firing });
        if (outcome.type === "failure") logger.warn(`alert '${rule.name}': function '${action.path}' failed: ${outcome.error.message}`);
        return;
      }
      case "webhook":
        await this.#postWebhook(rule.name, action.url, event);
        return;
      default: {
        const unknown: never = action;
        throw new Error(`unknown alert action ${JSON.stringify(unknown)}`);
      }
    }
  }

  async #postWebhook(name: string, url: string, event: AlertEvent): Promise<void> {
    const body = JSON.stringify(webhookBody(event));
    let lastError = "";
    for (let attempt = 0; attempt <= WEBHOOK_RETRY_DELAYS_MS.length; attempt++) {
      if (attempt > 0) await this.#sleep(WEBHOOK_RETRY_DELAYS_MS[attempt - 1]!);
      if (this.#abort.signal.aborted) return;
      try {
        const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]);
        const response = await this.#fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, signal });
        await response.body?.cancel();
        if (response.ok) return;
        lastError = `status ${response.status}`;
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        lastError = (error as Error).message;
      }
    }
    this.#options.logger.warn(`alert '${name}': webhook to '${new URL(url).host}' failed after ${WEBHOOK_RETRY_DELAYS_MS.length + 1} attempts: ${lastError}`);
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((error) => this.#options.logger.error("alert action failed", error)).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }
}

/** Builds the alert object that webhooks receive; function actions get the same object plus `firing`. */
function webhookBody(event: AlertEvent): { [key: string]: JsonValue } {
  return { alert: event.name, metric: event.metric, value: event.value, threshold: event.threshold, operator: event.operator, timestamp: event.timestamp };
}
