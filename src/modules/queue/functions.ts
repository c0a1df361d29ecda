import { EngineError, ErrorCode } from "../../core/errors.ts";
import type { CallContext } from "../../core/function-registry.ts";
import type { EngineContext } from "../module.ts";
import { invalidInput, readInputObject, readRequiredString, readRequiredValue, type InputObject } from "../input.ts";
import type { QueueAdapter } from "./adapter.ts";

export const ENQUEUE_FUNCTION_ID = "enqueue";
export const LIST_TOPICS_FUNCTION_ID = "engine::queue::list_topics";
export const TOPIC_STATS_FUNCTION_ID = "engine::queue::topic_stats";
export const DLQ_MESSAGES_FUNCTION_ID = "engine::queue::dlq_messages";
export const REDRIVE_FUNCTION_ID = "iii::queue::redrive";
export const REDRIVE_MESSAGE_FUNCTION_ID = "iii::queue::redrive_message";
export const DISCARD_MESSAGE_FUNCTION_ID = "iii::queue::discard_message";

const DEFAULT_DLQ_PAGE_SIZE = 100;
const MAX_DLQ_PAGE_SIZE = 1000;

/** Registers `enqueue` and the operator functions that inspect topics and manage dead letters. */
export function registerQueueFunctions(context: EngineContext, adapter: QueueAdapter): void {
  context.registerFunction(
    { id: ENQUEUE_FUNCTION_ID, description: "Store a job for the topic's queue subscribers; returns once the job is stored" },
    async (data, call: CallContext) => {
      const input = readInputObject(ENQUEUE_FUNCTION_ID, data);
      const job = readRequiredValue(ENQUEUE_FUNCTION_ID, input, "data");
      const topic = readTopic(ENQUEUE_FUNCTION_ID, input);
      await adapter.enqueue(topic, job, { traceparent: call.traceparent, baggage: call.baggage });
      return undefined;
    },
  );

  context.registerFunction({ id: LIST_TOPICS_FUNCTION_ID, description: "List topics that have jobs or subscribers" }, async () => ({
    topics: await adapter.listTopics(),
  }));

  context.registerFunction(
    { id: TOPIC_STATS_FUNCTION_ID, description: "Count a topic's waiting, delayed, active and dead-lettered jobs" },
    async (data) => {
      const topic = readTopic(TOPIC_STATS_FUNCTION_ID, readInputObject(TOPIC_STATS_FUNCTION_ID, data));
      return { ...(await adapter.topicStats(topic)) };
    },
  );

  context.registerFunction(
    { id: DLQ_MESSAGES_FUNCTION_ID, description: "List a topic's dead letters, oldest failure first, one page at a time" },
    async (data) => {
      const input = readInputObject(DLQ_MESSAGES_FUNCTION_ID, data);
      const topic = readTopic(DLQ_MESSAGES_FUNCTION_ID, input);
      const offset = readCount(DLQ_MESSAGES_FUNCTION_ID, input, "offset", 0, Number.MAX_SAFE_INTEGER);
      const limit = readCount(DLQ_MESSAGES_FUNCTION_ID, input, "limit", DEFAULT_DLQ_PAGE_SIZE, MAX_DLQ_PAGE_SIZE);
      const page = await adapter.deadLetters(topic, offset, limit);
      return { messages: page.messages.map((message) => ({ ...message })), total: page.total, offset, limit };
    },
  );

  context.registerFunction(
    { id: REDRIVE_FUNCTION_ID, description: "Move every dead letter of a topic back to waiting with its attempts reset" },
    async (data) => {
      const topic = readTopic(REDRIVE_FUNCTION_ID, readInputObject(REDRIVE_FUNCTION_ID, data));
      return { topic, redriven: await adapter.redrive(topic) };
    },
  );

  context.registerFunction(
    { id: REDRIVE_MESSAGE_FUNCTION_ID, description: "Move one dead letter back to waiting with its attempts reset" },
    async (data) => {
      const input = readInputObject(REDRIVE_MESSAGE_FUNCTION_ID, data);
      const topic = readTopic(REDRIVE_MESSAGE_FUNCTION_ID, input);
      const jobId = readJobId(REDRIVE_MESSAGE_FUNCTION_ID, input);
      if (!(await adapter.redriveMessage(topic, jobId))) throw jobNotFound(topic, jobId);
      return { topic, job_id: jobId, redriven: true };
    },
  );

  context.registerFunction(
    { id: DISCARD_MESSAGE_FUNCTION_ID, description: "Delete one dead letter of a topic" },
    async (data) => {
      const input = readInputObject(DISCARD_MESSAGE_FUNCTION_ID, data);
      const topic = readTopic(DISCARD_MESSAGE_FUNCTION_ID, input);
      const jobId = readJobId(DISCARD_MESSAGE_FUNCTION_ID, input);
      if (!(await adapter.discardMessage(topic, jobId))) throw jobNotFound(topic, jobId);
      return { topic, job_id: jobId, discarded: true };
    },
  );
}

function readTopic(functionId: string, input: InputObject): string {
  const topic = readRequiredString(functionId, input, "topic");
  if (topic === "") throw new EngineError(ErrorCode.topicNotSet, "Topic is not set");
  return topic;
}

function readJobId(functionId: string, input: InputObject): string {
  const jobId = input.job_id;
  if (typeof jobId === "string" && jobId !== "") return jobId;
  throw invalidInput(functionId, jobId === undefined ? "missing 'job_id'" : "'job_id' must be a non-empty string");
}

function readCount(functionId: string, input: InputObject, key: string, fallback: number, max: number): number {
  const value = input[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalidInput(functionId, `'${key}' must be an integer from 0 to ${max}`);
  }
  return value;
}

function jobNotFound(topic: string, jobId: string): EngineError {
  return new EngineError("job_not_found", `job '${jobId}' is not in the dead-letter queue of topic '${topic}'; list the dead letters with ${DLQ_MESSAGES_FUNCTION_ID}`);
}
