import type { WireError } from "../../core/errors.ts";
import type { JsonValue } from "../../util/json.ts";
import type { SubscriptionSettings } from "./subscription-config.ts";

/** W3C trace context of the call that enqueued a job, carried to its handler. */
export interface TraceContext {
  traceparent?: string;
  baggage?: string;
}

/** One delivery of a job to a subscription; `attempt` counts from 1. */
export interface JobDelivery {
  jobId: string;
  topic: string;
  data: JsonValue;
  attempt: number;
  trace: TraceContext;
}

/** `interrupted` means the engine stopped mid-job: the job is delivered again and no attempt is counted. */
export type JobOutcome = { type: "success" } | { type: "failure"; error: WireError } | { type: "interrupted" };

/** Runs one delivery by calling the subscription's function; never rejects. */
export type JobRunner = (functionId: string, delivery: JobDelivery) => Promise<JobOutcome>;

/** A `queue` trigger as passed to the adapter, with the adapter defaults merged into its settings. */
export interface Subscription {
  id: string;
  topic: string;
  functionId: string;
  settings: SubscriptionSettings;
}

export interface TopicStats {
  topic: string;
  waiting: number;
  delayed: number;
  active: number;
  dead_lettered: number;
}

/** A job that used up its attempts; `error_code` and `error` describe its last failure. */
export interface DeadLetter {
  job_id: string;
  topic: string;
  data: JsonValue;
  attempts_made: number;
  error_code: string;
  error: string;
  created_at: number;
  failed_at: number;
}

export interface DeadLetterPage {
  messages: DeadLetter[];
  total: number;
}

/**
 * Storage and delivery of jobs. A topic's jobs wait until a subscription takes
 * them, and each job goes to exactly one subscription. A failed attempt is
 * retried with backoff until the attempts are used up, and then the job moves
 * to the dead-letter queue.
 */
export interface QueueAdapter {
  /** Opens the backing store; `run` is called for every delivery from then on. */
  start(run: JobRunner): Promise<void>;

  /** Stops taking jobs, waits briefly for jobs in flight and closes the store; safe to call twice. */
  stop(): Promise<void>;

  /**
   * Stores a job and resolves once it is stored; throws `backend_unavailable`
   * when the store cannot take it, so a job is never dropped silently.
   */
  enqueue(topic: string, data: JsonValue, trace: TraceContext): Promise<void>;

  /** Starts delivering the topic's jobs to `subscription`, including jobs that waited for one. */
  subscribe(subscription: Subscription): Promise<void>;

  /** Stops deliveries to one subscription; its jobs in flight finish. Unknown ids are ignored. */
  unsubscribe(subscriptionId: string): Promise<void>;

  /** Topics that have jobs or subscriptions, sorted. */
  listTopics(): Promise<string[]>;

  topicStats(topic: string): Promise<TopicStats>;

  /** Dead letters of a topic, oldest failure first. */
  deadLetters(topic: string, offset: number, limit: number): Promise<DeadLetterPage>;

  /** Moves every dead letter of a topic back to waiting with its attempts reset; returns how many. */
  redrive(topic: string): Promise<number>;

  /** Moves one dead letter back to waiting with its attempts reset; false when it is not in the DLQ. */
  redriveMessage(topic: string, jobId: string): Promise<boolean>;

  /** Deletes one dead letter; false when it is not in the DLQ. */
  discardMessage(topic: string, jobId: string): Promise<boolean>;
}
