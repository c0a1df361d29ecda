import type { ActiveSpan, SpanOptions, Tracing } from "../../core/tracing.ts";

/**
 * Adds the function-as-a-service attributes to invocation spans (those that
 * carry `function_id`): `faas.invoked_name`, `faas.trigger` (`other` unless
 * the caller set it) and `iii.function.kind` (`internal` for `engine::` ids,
 * else `user`), so trace listings can hide the engine's own calls.
 */
export function withInvocationAttributes(inner: Tracing): Tracing {
  return {
    recording: inner.recording,
    startSpan(options: SpanOptions): ActiveSpan {
      const functionId = options.attributes?.function_id;
      if (typeof functionId !== "string") return inner.startSpan(options);
      return inner.startSpan({
        ...options,
        attributes: {
          "faas.invoked_name": functionId,
          "faas.trigger": "other",
          "iii.function.kind": functionId.startsWith("engine::") ? "internal" : "user",
          ...options.attributes,
        },
      });
    },
  };
}
