import type { SpanSamplingPolicy } from "../../telemetry/tracing.ts";

/** One sampling rule; `operation` (span name) and `service` take `*` and `?` wildcards, and a missing one matches all. */
export interface SamplingRule {
  operation?: string;
  service?: string;
  rate: number;
}

export interface SamplingSettings {
  defaultRatio: number;
  rules: SamplingRule[];
  parentBased: boolean;
  maxTracesPerSecond?: number;
}

/**
 * Decides which engine spans are recorded. With `parentBased` on, a span with a
 * parent follows the parent's decision. Otherwise the first matching rule (or
 * the default ratio) gives the probability, keyed on the trace id so all
 * engines agree. An optional token bucket caps sampled traces per second.
 */
export class RuleSampler implements SpanSamplingPolicy {
  readonly #settings: SamplingSettings;
  readonly #serviceName: string;
  readonly #rules: Array<{ operation: RegExp | null; service: RegExp | null; rate: number }>;
  readonly #bucket: TokenBucket | null;

  constructor(settings: SamplingSettings, serviceName: string, now: () => number = Date.now) {
    this.#settings = settings;
    this.#serviceName = serviceName;
    this.#rules = settings.rules.map((rule) => ({
      operation: rule.operation === undefined ? null : wildcardToRegExp(rule.operation),
      service: rule.service === undefined ? null : wildcardToRegExp(rule.service),
      rate: rule.rate,
    }));
    this.#bucket = settings.maxTracesPerSecond === undefined ? null : new TokenBucket(settings.maxTracesPerSecond, now);
  }

  shouldSample(spanName: string, traceId: string, parentSampled: boolean | undefined): boolean {
    if (this.#settings.parentBased && parentSampled !== undefined) return parentSampled;
    if (!sampleByRatio(traceId, this.rateFor(spanName))) return false;
    return this.#bucket === null || this.#bucket.tryTake();
  }

  /** Returns the probability that a new trace starting with `spanName` is sampled. */
  rateFor(spanName: string): number {
    for (const rule of this.#rules) {
      if (rule.operation && !rule.operation.test(spanName)) continue;
      if (rule.service && !rule.service.test(this.#serviceName)) continue;
      return rule.rate;
    }
    return this.#settings.defaultRatio;
  }
}

/** A bucket of `perSecond` tokens refilled continuously; `tryTake` spends one if there is one. */
export class TokenBucket {
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #updatedAt: number;

  constructor(perSecond: number, now: () => number = Date.now) {
    this.#perSecond = perSecond;
    this.#now = now;
    this.#tokens = perSecond;
    this.#updatedAt = now();
  }

  tryTake(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#perSecond, this.#tokens + ((now - this.#updatedAt) / 1000) * this.#perSecond);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Turns a `*`/`?` pattern into an anchored regular expression; every other character matches itself. */
export function wildcardToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`);
}

/** Always at a rate of 1 or more, never at 0 or less; otherwise by the low 32 bits of the trace id. */
function sampleByRatio(traceId: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  const low = Number.parseInt(traceId.slice(-8), 16);
  if (Number.isNaN(low)) return Math.random() < rate;
  return low / 0x1_0000_0000 < rate;
}
