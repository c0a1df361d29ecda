import type { EngineContext } from "../../core/context.ts";
import type { QueueDepth } from "../../telemetry/metrics.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";

const LIST_TOPICS = "engine::queue::list_topics";
const TOPIC_STATS = "engine::queue::topic_stats";

/**
 * Reads queue depth (waiting jobs) and DLQ size per topic through the queue
 * module's `list_topics` and `topic_stats` functions. An engine without them
 * reports no queues.
 */
export async function readQueueDepths(context: EngineContext): Promise<QueueDepth[]> {
  if (!context.hasFunction(LIST_TOPICS)) return [];
  const listed = await context.invoke(LIST_TOPICS, {});
  if (listed.type === "failure") return [];

  const entries = topicEntries(listed.result);
  const depths: QueueDepth[] = [];
  for (const entry of entries) {
    const topic = typeof entry === "string" ? entry : topicName(entry);
    if (!topic) continue;
    let stats: JsonValue | undefined = typeof entry === "string" ? undefined : entry;
    if (sizesOf(stats).depth === undefined && context.hasFunction(TOPIC_STATS)) {
      const outcome = await context.invoke(TOPIC_STATS, { topic });
      stats = outcome.type === "success" ? outcome.result : undefined;
    }
    const sizes = sizesOf(stats);
    if (sizes.depth === undefined) continue;
    depths.push({ topic, depth: sizes.depth, ...(sizes.dlq !== undefined ? { dlq: sizes.dlq } : {}) });
  }
  return depths;
}

function topicEntries(result: JsonValue | undefined): JsonValue[] {
  if (Array.isArray(result)) return result;
  if (isJsonObject(result) && Array.isArray(result.topics)) return result.topics;
  return [];
}

function topicName(entry: JsonValue): string | undefined {
  if (!isJsonObject(entry)) return undefined;
  const name = entry.topic ?? entry.name;
  return typeof name === "string" ? name : undefined;
}

// Topic statistics are `{topic, waiting, delayed, active, dead_lettered}`; a few other spellings are accepted too.
function sizesOf(stats: JsonValue | undefined): { depth?: number; dlq?: number } {
  if (!isJsonObject(stats)) return {};
  const source = isJsonObject(stats.stats) ? stats.stats : stats;
  const pick = (...keys: string[]) => keys.map((key) => source[key]).find((value): value is number => typeof value === "number");
  const depth = pick("waiting", "depth", "pending", "size");
  const dlq = pick("dead_lettered", "dlq_size", "dlq", "dlq_count");
  return { ...(depth !== undefined ? { depth } : {}), ...(dlq !== undefined ? { dlq } : {}) };
}
