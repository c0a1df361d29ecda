import { describe, expect, test } from "bun:test";

import { EngineError } from "../../src/core/errors";
import { applyUpdateOps, parseUpdateOps } from "../../src/storage/update-ops";
import { parseJson, stringifyJson, type JsonValue } from "../../src/util/json";

function apply(current: JsonValue | undefined, ops: unknown): { oldValue: JsonValue | null; newValue: JsonValue } {
  return applyUpdateOps(current, parseUpdateOps(ops));
}

function parseError(ops: unknown): EngineError {
  try {
    parseUpdateOps(ops);
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  throw new Error("expected parseUpdateOps to throw");
}

describe("parseUpdateOps", () => {
  test("accepts every operation type", () => {
    const ops = parseUpdateOps([
      { type: "set", path: "a", value: 1 },
      { type: "merge", value: { b: 2 } },
      { type: "increment", path: "c", by: 3 },
      { type: "decrement", path: "d", by: -4 },
      { type: "remove", path: "e" },
    ]);

    expect(ops.map((op) => op.type)).toEqual(["set", "merge", "increment", "decrement", "remove"]);
    expect(ops[1]).toEqual({ type: "merge", path: "", value: { b: 2 } });
    expect(ops[2]).toEqual({ type: "increment", path: "c", by: 3n });
  });

  test("null merge path means the root", () => {
    const ops = parseUpdateOps([{ type: "merge", path: null, value: { m: 2 } }]);

    expect(ops[0]).toEqual({ type: "merge", path: "", value: { m: 2 } });
  });

  test("null path of other operations is rejected", () => {
    const error = parseError([{ type: "set", path: null, value: 1 }]);

    expect(error.message).toBe("ops[0].path: expected a string, got null");
  });

  test("rejects a float increment naming the field", () => {
    const error = parseError([{ type: "set", path: "a", value: 1 }, { type: "increment", path: "n", by: 1.5 }]);

    expect(error.code).toBe("deserialization_error");
    expect(error.message).toBe("ops[1].by: expected an integer, got 1.5");
  });

  test("rejects a missing by", () => {
    const error = parseError([{ type: "decrement", path: "n" }]);

    expect(error.code).toBe("deserialization_error");
    expect(error.message).toBe("ops[0].by: expected an integer, got nothing");
  });

  test("uses the given field name", () => {
    expect(() => parseUpdateOps([{ type: "increment", path: "n", by: "1" }], "data.ops")).toThrow(
      "data.ops[0].by: expected an integer, got '1'",
    );
  });

  test("rejects malformed shapes", () => {
    expect(parseError({}).message).toBe("ops: expected an array of update operations, got an object");
    expect(parseError([1]).message).toBe("ops[0]: expected an object, got 1");
    expect(parseError([{ type: "append", path: "a" }]).message).toBe(
      "ops[0].type: expected one of set, merge, increment, decrement, remove, got 'append'",
    );
    expect(parseError([{ type: "set", path: 3 }]).message).toBe("ops[0].path: expected a string, got 3");
    expect(parseError([{ type: "remove" }]).message).toBe("ops[0].path: expected a string, got nothing");
  });

  test("rejects prototype keys in every path", () => {
    for (const key of ["__proto__", "constructor", "prototype"]) {
      for (const type of ["set", "merge", "increment", "remove"]) {
        const error = parseError([{ type, path: key, by: 1, value: {} }]);
        expect(error.code).toBe("deserialization_error");
        expect(error.message).toStartWith(`ops[0].path: key '${key}' is not allowed`);
      }
    }
  });

  test("rejects prototype keys deep inside a merge value", () => {
    const nested = parseJson('[{"type":"merge","value":{"a":{"list":[{"__proto__":{"polluted":true}}]}}}]');
    const error = parseError(nested);

    expect(error.code).toBe("deserialization_error");
    expect(error.message).toStartWith("ops[0].value.a.list[0]: key '__proto__' is not allowed");
    expect(parseError([{ type: "merge", value: { x: { constructor: 1 } } }]).message).toStartWith(
      "ops[0].value.x: key 'constructor' is not allowed",
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("keeps a by beyond 2^53 exact", () => {
    const ops = parseUpdateOps(parseJson('[{"type":"increment","path":"n","by":9007199254740993}]'));

    expect(ops[0]).toEqual({ type: "increment", path: "n", by: 9007199254740993n });
  });
});

describe("applyUpdateOps", () => {
  test("sets, increments, decrements and removes", () => {
    const first = apply({ name: "A" }, [{ type: "set", path: "name", value: "B" }]);
    expect(first).toEqual({ oldValue: { name: "A" }, newValue: { name: "B" } });

    const counted = apply({ n: 0 }, [{ type: "increment", path: "n", by: 5 }]);
    expect(counted.newValue).toEqual({ n: 5 });

    const lowered = apply(counted.newValue, [{ type: "decrement", path: "n", by: 2 }]);
    expect(lowered.newValue).toEqual({ n: 3 });

    const removed = apply({ a: 1, b: 2 }, [{ type: "remove", path: "a" }]);
    expect(removed.newValue).toEqual({ b: 2 });
  });

  test("merges shallowly at the root", () => {
    const result = apply({ a: 1, nested: { x: 1 } }, [{ type: "merge", path: "", value: { b: 2, nested: { y: 2 } } }]);

    expect(result.newValue).toEqual({ a: 1, b: 2, nested: { y: 2 } });
  });

  test("ignores a merge at a nested path", () => {
    const reasons: string[] = [];
    const result = applyUpdateOps({ a: 1 }, parseUpdateOps([{ type: "merge", path: "a", value: { b: 2 } }]), (reason) =>
      reasons.push(reason),
    );

    expect(result.newValue).toEqual({ a: 1 });
    expect(reasons).toHaveLength(1);
  });

  test("runs several ops in order", () => {
    const result = apply({ count: 1, tag: "x" }, [
      { type: "increment", path: "count", by: 10 },
      { type: "set", path: "status", value: "done" },
      { type: "remove", path: "tag" },
      { type: "merge", value: { extra: true } },
    ]);

    expect(result.newValue).toEqual({ count: 11, status: "done", extra: true });
  });

  test("starts a missing item as an empty object", () => {
    expect(apply(undefined, [{ type: "increment", path: "n", by: 1 }])).toEqual({ oldValue: null, newValue: { n: 1 } });
    expect(apply(undefined, [{ type: "decrement", path: "n", by: 3 }]).newValue).toEqual({ n: -3 });
    expect(apply(undefined, []).newValue).toEqual({});
  });

  test("treats non-integer counters by operation", () => {
    expect(apply({ n: 1.5 }, [{ type: "increment", path: "n", by: 4 }]).newValue).toEqual({ n: 4 });
    expect(apply({ n: "7" }, [{ type: "decrement", path: "n", by: 4 }]).newValue).toEqual({ n: 0 });
    expect(apply({ n: null }, [{ type: "decrement", path: "n", by: 4 }]).newValue).toEqual({ n: 0 });
  });

  test("ignores ops on a non-object value", () => {
    expect(apply(5, [{ type: "increment", path: "n", by: 1 }]).newValue).toBe(5);
    expect(apply([1], [{ type: "set", path: "a", value: 1 }]).newValue).toEqual([1]);
    expect(apply("text", [{ type: "merge", value: { a: 1 } }]).newValue).toBe("text");
  });

  test("replaces the whole value with a root set", () => {
    const result = apply({ a: 1 }, [
      { type: "set", path: "", value: 42 },
      { type: "increment", path: "a", by: 1 },
    ]);

    expect(result).toEqual({ oldValue: { a: 1 }, newValue: 42 });
  });

  test("sets a missing value to null", () => {
    expect(apply({}, [{ type: "set", path: "a" }]).newValue).toEqual({ a: null });
  });

  test("leaves the current value untouched", () => {
    const current = { a: 1 };
    apply(current, [
      { type: "set", path: "a", value: 2 },
      { type: "remove", path: "a" },
    ]);

    expect(current).toEqual({ a: 1 });
  });

  test("reads only own properties", () => {
    expect(apply({}, [{ type: "increment", path: "toString", by: 2 }]).newValue).toEqual({ toString: 2 });
  });

  test("keeps counters beyond 2^53 exact", () => {
    const current = parseJson('{"big":9007199254740993,"low":-9223372036854775808}');
    const result = apply(current, [
      { type: "increment", path: "big", by: 2 },
      { type: "decrement", path: "low", by: 1 },
      { type: "increment", path: "edge", by: 9007199254740991 },
      { type: "increment", path: "edge", by: 1 },
    ]);

    expect(stringifyJson(result.newValue)).toBe(
      '{"big":9007199254740995,"low":-9223372036854775809,"edge":9007199254740992}',
    );
  });

  test("returns to a plain number inside the safe range", () => {
    const result = apply(parseJson('{"n":9007199254740993}'), [{ type: "decrement", path: "n", by: 2 }]);

    expect(result.newValue).toEqual({ n: 9007199254740991 });
  });

  test("never changes a prototype through a merged own key", () => {
    const hostile = parseJson('{"__proto__":{"polluted":true}}') as { [key: string]: JsonValue };
    const result = applyUpdateOps({ a: 1 }, [{ type: "merge", path: "", value: hostile }]);

    expect(Object.getPrototypeOf(result.newValue)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((result.newValue as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("never changes a prototype through an unchecked path", () => {
    const result = applyUpdateOps({ a: 1 }, [{ type: "set", path: "__proto__", value: { polluted: true } }]);

    expect(Object.getPrototypeOf(result.newValue)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
