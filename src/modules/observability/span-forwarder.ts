import type { RateLimitedWarning } from "./rate-limited-log.ts";

const FORWARD_TIMEOUT_MS = 10_000;
const MAX_FORWARDS_IN_FLIGHT = 8;

/**
 * Posts SDK span frames (already OTLP/JSON) to the collector unchanged. At
 * most 8 requests run at once; frames beyond that are dropped with a
 * rate-limited warning, so a slow collector cannot pile up memory.
 */
export class SpanForwarder {
  readonly #url: string;
  readonly #warnings: RateLimitedWarning;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();

  constructor(url: string, warnings: RateLimitedWarning) {
    this.#url = url;
    this.#warnings = warnings;
  }

  forward(payload: Uint8Array): void {
    if (this.#abort.signal.aborted) return;
    if (this.#inFlight.size >= MAX_FORWARDS_IN_FLIGHT) {
      this.#warnings.warn("forward-busy", `dropped an SDK span batch: ${MAX_FORWARDS_IN_FLIGHT} exports to '${this.#url}' are still running`);
      return;
    }
    const work = this.#post(payload).finally(() => this.#inFlight.delete(work));
    this.#inFlight.add(work);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
  }

  async #post(payload: Uint8Array): Promise<void> {
    try {
      const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(FORWARD_TIMEOUT_MS)]);
      const response = await fetch(this.#url, { method: "POST", headers: { "content-type": "application/json" }, body: payload, signal });
      await response.body?.cancel();
      if (!response.ok) this.#warnings.warn("forward-failed", `forwarding SDK spans to '${this.#url}' failed with status ${response.status}`);
    } catch (error) {
      if (this.#abort.signal.aborted) return;
      this.#warnings.warn("forward-failed", `forwarding SDK spans to '${this.#url}' failed: ${(error as Error).message}`);
    }
  }
}
