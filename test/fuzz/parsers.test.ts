import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { expandEnvironment } from "../../src/config/expand.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { ConfigError, EngineError } from "../../src/core/errors.ts";
import { parseFrame } from "../../src/core/protocol.ts";
import { decodeParams, decodeQuery, MalformedEscapeError, parseBody } from "../../src/modules/http-api/request.ts";
import { RouteTable } from "../../src/modules/http-api/route-table.ts";
import { CronExpressionError, parseCronExpression } from "../../src/modules/cron/expression.ts";
import { applyUpdateOps, parseUpdateOps } from "../../src/storage/index.ts";
import { createLogger } from "../../src/telemetry/logger.ts";

const RUNS = 400;
const MESSAGE_TYPES = [
  "registerfunction",
  "unregisterfunction",
  "registertrigger",
  "unregistertrigger",
  "registertriggertype",
  "unregistertriggertype",
  "triggerregistrationresult",
  "invokefunction",
  "invocationresult",
  "registerservice",
  "ping",
  "pong",
  "workerregistered",
];

/** Objects shaped like protocol messages, with random values in every field. */
const messageLike = fc.record(
  {
    type: fc.oneof(fc.constantFrom(...MESSAGE_TYPES), fc.string()),
    id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    function_id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    trigger_type: fc.oneof(fc.string(), fc.boolean()),
    invocation_id: fc.oneof(fc.uuid(), fc.string(), fc.integer()),
    data: fc.jsonValue(),
    config: fc.jsonValue(),
    result: fc.jsonValue(),
    error: fc.oneof(fc.jsonValue(), fc.record({ code: fc.string(), message: fc.string() })),
  },
  { requiredKeys: [] },
);

describe("protocol parser", () => {
  test("random text never throws", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        const parsed = parseFrame(text);
        expect(parsed === null || typeof parsed.type === "string").toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test("message-shaped objects parse or are rejected with a reason", () => {
    fc.assert(
      fc.property(messageLike, (message) => {
        const parsed = parseFrame(JSON.stringify(message));
        if (parsed === null) return;
        if (parsed.type === "rejected") {
          expect(parsed.reason.length).toBeGreaterThan(0);
          return;
        }
        expect(MESSAGE_TYPES).toContain(parsed.type);
        if ("id" in parsed) expect(typeof parsed.id).toBe("string");
        if ("function_id" in parsed && parsed.type !== "invocationresult" && parsed.type !== "triggerregistrationresult") {
          expect(typeof parsed.function_id).toBe("string");
        }
        if (parsed.type === "invocationresult" && parsed.error) {
          expect(typeof parsed.error.code).toBe("string");
          expect(typeof parsed.error.message).toBe("string");
        }
      }),
      { numRuns: RUNS },
    );
  });

  test("truncated valid frames never throw", () => {
    const valid = JSON.stringify({ type: "invokefunction", invocation_id: crypto.randomUUID(), function_id: "f", data: { a: [1, 2] } });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: valid.length }), (cut) => {
        parseFrame(valid.slice(0, cut));
      }),
      { numRuns: RUNS },
    );
  });
});

describe("config loader", () => {
  test("random yaml text fails only with ConfigError", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          parseConfigText(text, "fuzz.yaml", {});
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: RUNS },
    );
  });

  test("random mappings fail only with ConfigError", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("port", "host", "modules", "max_frame_bytes", "auth", "x"), fc.jsonValue()), (root) => {
        try {
          parseConfigText(JSON.stringify(root), "fuzz.yaml", {});
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: RUNS },
    );
  });

  test("expansion substitutes names only", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (name, fallback) => {
        const safeName = name.replace(/[}:]/g, "") || "X";
        const safeFallback = fallback.replace(/}/g, "");
        const text = `value: \${${safeName}:${safeFallback}}`;
        expect(expandEnvironment(text, {}, "fuzz.yaml")).toBe(`value: ${safeFallback}`);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("http request mapping", () => {
  const logger = createLogger("fuzz");

  test("query and path decoding fail only with MalformedEscapeError", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        for (const run of [() => decodeQuery(`?${text}`), () => decodeParams({ p: text })]) {
          try {
            run();
          } catch (error) {
            expect(error).toBeInstanceOf(MalformedEscapeError);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  test("body parsing never throws", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(null, "application/json", "application/x-www-form-urlencoded", "text/plain", "application/vnd+json; charset=utf-8"),
        fc.uint8Array({ maxLength: 200 }),
        (contentType, bytes) => {
          parseBody(contentType, bytes, logger);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test("route matching never throws and finds registered static routes", () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z:]{1,6}$/), { minLength: 1, maxLength: 4 }), fc.string(), (segments, probe) => {
        const table = new RouteTable();
        const path = segments.join("/");
        try {
          table.add({ triggerId: "t", functionId: "f", path, method: "GET" });
        } catch (error) {
          expect(error).toBeInstanceOf(EngineError);
          return;
        }
        table.match("GET", `/${probe}`);
        if (!path.includes(":")) expect(table.match("GET", `/${path}`).type).toBe("found");
      }),
      { numRuns: RUNS },
    );
  });
});

describe("update operations", () => {
  const opLike = fc.record(
    {
      type: fc.oneof(fc.constantFrom("set", "merge", "increment", "decrement", "remove"), fc.string()),
      path: fc.oneof(fc.constantFrom("", "a", "__proto__", "constructor", "prototype"), fc.string(), fc.integer()),
      value: fc.oneof(fc.jsonValue(), fc.constant(JSON.parse('{"__proto__":{"polluted":true}}'))),
      by: fc.oneof(fc.integer(), fc.double(), fc.string()),
    },
    { requiredKeys: ["type"] },
  );

  test("parsing fails only with deserialization_error and applying never throws", () => {
    fc.assert(
      fc.property(fc.array(opLike, { maxLength: 5 }), fc.option(fc.jsonValue(), { nil: undefined }), (ops, current) => {
        let parsed;
        try {
          parsed = parseUpdateOps(ops);
        } catch (error) {
          expect(error).toBeInstanceOf(EngineError);
          expect((error as EngineError).code).toBe("deserialization_error");
          return;
        }
        applyUpdateOps(current as never, parsed);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });
});

describe("cron parser", () => {
  const field = fc.oneof(
    fc.constantFrom("*", "?", "0", "1-5", "*/15", "MON-FRI", "JAN", "L", "#2", "7", "0/3"),
    fc.string({ maxLength: 6 }),
  );

  test("random expressions fail only with CronExpressionError", () => {
    fc.assert(
      fc.property(fc.array(field, { minLength: 0, maxLength: 8 }), (fields) => {
        try {
          const schedule = parseCronExpression(fields.join(" "));
          schedule.nextAfter(new Date("2026-01-01T00:00:00Z"));
        } catch (error) {
          expect(error).toBeInstanceOf(CronExpressionError);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
