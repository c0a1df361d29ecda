import type { JsonValue } from "../../../util/json.ts";
import type { Subscription } from "../adapter.ts";

export type StoredJobState = "waiting" | "delayed" | "dead";

/**
 * A job as the built-in adapter stores it. Being in flight is not stored: a
 * job taken by a subscription stays `waiting` on disk until it is acknowledged
 * (deleted) or fails, so after a crash it is delivered again.
 */
export interface StoredJob {
  id: string;
  topic: string;
  data: JsonValue;
  attempts_made: number;
  created_at: number;
  state: StoredJobState;
  /** When a retry is due (ms since the epoch); null for a job that may run now. */
  process_at: number | null;
  traceparent: string | null;
  baggage: string | null;
  /** Code and message of the last failed attempt. */
  error_code: string | null;
  error: string | null;
  failed_at: number | null;
}

/** A subscription with the number of its deliveries in flight. */
export interface SubscriptionSlot {
  subscription: Subscription;
  inFlight: number;
}

/**
 * The in-memory view of one topic: ids of waiting jobs in delivery order,
 * retries sorted by due time, dead letters in failure order, jobs in flight,
 * and the subscriptions that compete for the jobs.
 */
export class TopicState {
  readonly topic: string;
  readonly jobs = new Map<string, StoredJob>();
  readonly waiting = new JobDeque();
  readonly delayed: string[] = [];
  readonly dead = new Set<string>();
  readonly active = new Set<string>();
  readonly slots = new Map<string, SubscriptionSlot>();
  wakeTimer: ReturnType<typeof setTimeout> | undefined;
  wakeAt = Number.POSITIVE_INFINITY;
  #nextSlot = 0;

  constructor(topic: string) {
    this.topic = topic;
  }

  /** True when the adapter mode or any subscription of the topic requests one job at a time, in order. */
  isFifo(adapterFifo: boolean): boolean {
    if (adapterFifo) return true;
    for (const slot of this.slots.values()) if (slot.subscription.settings.fifo) return true;
    return false;
  }

  isEmpty(): boolean {
    return this.jobs.size === 0 && this.slots.size === 0;
  }

  /** Inserts a retry keeping `delayed` sorted by due time (equal times keep arrival order). */
  addDelayed(job: StoredJob): void {
    const due = job.process_at ?? 0;
    let low = 0;
    let high = this.delayed.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((this.jobs.get(this.delayed[middle]!)?.process_at ?? 0) <= due) low = middle + 1;
      else high = middle;
    }
    this.delayed.splice(low, 0, job.id);
  }

  /** Moves retries due at `now` to the front of waiting, the earliest due first, so they run before newer jobs. */
  promoteDue(now: number): void {
    let count = 0;
    while (count < this.delayed.length && (this.jobs.get(this.delayed[count]!)?.process_at ?? 0) <= now) count++;
    if (count === 0) return;

    const due = this.delayed.splice(0, count);
    for (let index = due.length - 1; index >= 0; index--) this.waiting.unshift(due[index]!);
  }

  /**
   * Picks the next subscription, round robin, that has a free slot and for
   * which `job` is due (a first attempt waits out the subscription's delay).
   * Returns the slot, or else the earliest time at which a free slot may take the job.
   */
  pickSlot(job: StoredJob, now: number, fifo: boolean): SubscriptionSlot | number | undefined {
    const slots = [...this.slots.values()];
    let earliest: number | undefined;
    for (let offset = 0; offset < slots.length; offset++) {
      const slot = slots[(this.#nextSlot + offset) % slots.length]!;
      const limit = fifo ? 1 : slot.subscription.settings.concurrency;
      if (slot.inFlight >= limit) continue;

      const dueAt = job.attempts_made === 0 ? job.created_at + slot.subscription.settings.delayMs : 0;
      if (dueAt > now) {
        earliest = Math.min(earliest ?? dueAt, dueAt);
        continue;
      }
      this.#nextSlot = (this.#nextSlot + offset + 1) % slots.length;
      return slot;
    }
    return earliest;
  }
}

/** A queue of ids with cheap removal at the front and rare insertion there. */
export class JobDeque {
  #items: string[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(id: string): void {
    this.#items.push(id);
  }

  unshift(id: string): void {
    if (this.#head > 0) {
      this.#head--;
      this.#items[this.#head] = id;
      return;
    }
    this.#items.unshift(id);
  }

  peek(): string | undefined {
    return this.#items[this.#head];
  }

  shift(): string | undefined {
    if (this.length === 0) return undefined;
    const id = this.#items[this.#head++];
    // Drop the consumed prefix now and then so the array does not grow without bound.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return id;
  }
}
