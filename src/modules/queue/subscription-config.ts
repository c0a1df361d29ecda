import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";

export type BackoffType = "fixed" | "exponential";

/** The adapter-wide values a subscription falls back to. */
export interface QueueDefaults {
  /** All attempts, the first one included. */
  maxAttempts: number;
  backoffMs: number;
  concurrency: number;
  fifo: boolean;
}

/** Processing settings of one subscription: its overrides merged into the adapter defaults. */
export interface SubscriptionSettings {
  maxAttempts: number;
  backoffMs: number;
  backoffType: BackoffType;
  concurrency: number;
  /** Time a new job waits after enqueue before its first delivery to this subscription. */
  delayMs: number;
  fifo: boolean;
}

/** A validated `queue` trigger. */
export interface QueueTriggerConfig {
  topic: string;
  settings: SubscriptionSettings;
}

/**
 * Reads a `queue` trigger: `topic` (required) and the optional overrides in
 * `metadata.infrastructure.queue`: `maxRetries` (retries after the first
 * attempt), `backoffDelayMs`, `backoffType` (`fixed` | `exponential`),
 * `concurrency`, `delaySeconds` and `type` (`fifo`; any other value is
 * standard). Throws `trigger_registration_failed` naming the bad key.
 * NOTE: `visibilityTimeout` is ignored; the Redis adapter's `visibility_timeout_ms` applies to every subscription.
 */
export function parseQueueTrigger(trigger: Trigger, defaults: QueueDefaults): QueueTriggerConfig {
  const config = isJsonObject(trigger.config) ? trigger.config : {};
  const topic = config.topic;
  if (typeof topic !== "string" || topic === "") {
    throw registrationError(trigger, `needs a non-empty string 'topic' in its config`);
  }

  const overrides = readOverrides(config);
  const maxRetries = readCount(trigger, overrides, "maxRetries", 0);
  const concurrency = readCount(trigger, overrides, "concurrency", 1);
  const backoffMs = readCount(trigger, overrides, "backoffDelayMs", 0);
  const delaySeconds = readSeconds(trigger, overrides);
  const type = overrides.type;

  return {
    topic,
    settings: {
      maxAttempts: maxRetries === undefined ? defaults.maxAttempts : maxRetries + 1,
      backoffMs: backoffMs ?? defaults.backoffMs,
      backoffType: readBackoffType(trigger, overrides),
      concurrency: concurrency ?? defaults.concurrency,
      delayMs: Math.round((delaySeconds ?? 0) * 1000),
      fifo: type === undefined || type === null ? defaults.fifo : type === "fifo",
    },
  };
}

/**
 * Delay in ms before the next attempt once `attemptsMade` attempts failed:
 * `backoffMs` for `fixed`, `backoffMs × 2^(attemptsMade − 1)` for `exponential`.
 */
export function computeBackoffMs(settings: SubscriptionSettings, attemptsMade: number): number {
  if (settings.backoffType === "fixed") return settings.backoffMs;

  const exponent = Math.min(Math.max(attemptsMade - 1, 0), 30);
  return settings.backoffMs * 2 ** exponent;
}

function readOverrides(config: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
  const metadata = config.metadata;
  if (!isJsonObject(metadata)) return {};
  const infrastructure = metadata.infrastructure;
  if (!isJsonObject(infrastructure)) return {};
  const queue = infrastructure.queue;
  return isJsonObject(queue) ? queue : {};
}

function readCount(trigger: Trigger, overrides: { [key: string]: JsonValue }, key: string, min: number): number | undefined {
  const value = overrides[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw registrationError(trigger, `has metadata.infrastructure.queue.${key} ${JSON.stringify(value)}; expected an integer of at least ${min}`);
  }
  return value;
}

function readSeconds(trigger: Trigger, overrides: { [key: string]: JsonValue }): number | undefined {
  const value = overrides.delaySeconds;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw registrationError(trigger, `has metadata.infrastructure.queue.delaySeconds ${JSON.stringify(value)}; expected a number of seconds of at least 0`);
  }
  return value;
}

function readBackoffType(trigger: Trigger, overrides: { [key: string]: JsonValue }): BackoffType {
  const value = overrides.backoffType;
  if (value === undefined || value === null) return "exponential";
  if (value === "fixed" || value === "exponential") return value;
  throw registrationError(trigger, `has metadata.infrastructure.queue.backoffType ${JSON.stringify(value)}; expected 'fixed' or 'exponential'`);
}

function registrationError(trigger: Trigger, detail: string): EngineError {
  return new EngineError(ErrorCode.triggerRegistrationFailed, `queue trigger '${trigger.id}' ${detail}`);
}
