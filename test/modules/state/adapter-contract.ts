import { afterEach, beforeEach, describe, expect, test } from "bun:test";

import type { StateAdapter } from "../../../src/modules/state/index.ts";
import { parseUpdateOps } from "../../../src/storage/index.ts";
import { parseJson, stringifyJson } from "../../../src/util/json.ts";

/** Opens a fresh, empty adapter for one test; `cleanup` closes it and removes its data. */
export type StateAdapterFixture = () => Promise<{ adapter: StateAdapter; cleanup(): Promise<void> }>;

/** Cases every state adapter must pass, whatever backs it. */
export function runStateAdapterContract(name: string, open: StateAdapterFixture): void {
  describe(`${name} state adapter contract`, () => {
    let adapter: StateAdapter;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ adapter, cleanup } = await open());
    });

    afterEach(async () => {
      await cleanup();
    });

    test("get of a missing key is undefined", async () => {
      expect(await adapter.get("scope", "missing")).toBeUndefined();
    });

    test("set returns the previous value", async () => {
      expect(await adapter.set("scope", "k", { n: 1 })).toBeNull();
      expect(await adapter.set("scope", "k", { n: 2 })).toEqual({ n: 1 });
      expect(await adapter.get("scope", "k")).toEqual({ n: 2 });
    });

    test("set keeps strings, arrays and scalars", async () => {
      const values = ["text with \u2028 and 🎉", [1, "two", null], 0, false, null];
      for (const [position, value] of values.entries()) await adapter.set("scope", `k${position}`, value);

      for (const [position, value] of values.entries()) expect(await adapter.get("scope", `k${position}`)).toEqual(value);
    });

    test("integers beyond 2^53 keep every digit", async () => {
      const value = parseJson('{"big":9007199254740993,"min":-9223372036854775808}');
      await adapter.set("scope", "big", value);

      expect(stringifyJson(await adapter.get("scope", "big"))).toBe('{"big":9007199254740993,"min":-9223372036854775808}');
    });

    test("delete returns the previous value", async () => {
      await adapter.set("scope", "k", { n: 1 });

      expect(await adapter.delete("scope", "k")).toEqual({ n: 1 });
      expect(await adapter.get("scope", "k")).toBeUndefined();
      expect(await adapter.delete("scope", "k")).toBeUndefined();
    });

    test("scopes are separate", async () => {
      await adapter.set("a", "k", "in a");
      await adapter.set("b", "k", "in b");

      expect(await adapter.get("a", "k")).toBe("in a");
      expect(await adapter.get("b", "k")).toBe("in b");
      expect(await adapter.list("a")).toEqual(["in a"]);
    });

    test("list returns every value of a scope", async () => {
      await adapter.set("scope", "one", 1);
      await adapter.set("scope", "two", 2);
      await adapter.set("scope", "three", 3);

      expect((await adapter.list("scope")).toSorted()).toEqual([1, 2, 3]);
      expect(await adapter.list("empty")).toEqual([]);
    });

    test("listGroups lists non-empty scopes in order", async () => {
      expect(await adapter.listGroups()).toEqual([]);

      await adapter.set("group3", "k", 1);
      await adapter.set("group1", "k", 1);
      await adapter.set("group2", "k", 1);
      await adapter.set("group2", "k2", 1);
      expect(await adapter.listGroups()).toEqual(["group1", "group2", "group3"]);

      await adapter.delete("group1", "k");
      expect(await adapter.listGroups()).toEqual(["group2", "group3"]);
    });

    test("scope names may contain separators and glob characters", async () => {
      await adapter.set("a:b*c?[d]", "k", 1);

      expect(await adapter.get("a:b*c?[d]", "k")).toBe(1);
      expect(await adapter.listGroups()).toEqual(["a:b*c?[d]"]);
    });

    test("update of a missing item starts from an empty object", async () => {
      const result = await adapter.update("scope", "counter", parseUpdateOps([{ type: "increment", path: "n", by: 1 }]));

      expect(result).toEqual({ oldValue: null, newValue: { n: 1 } });
      expect(await adapter.get("scope", "counter")).toEqual({ n: 1 });
    });

    test("update applies every op in order", async () => {
      await adapter.set("scope", "k", { a: 1, b: 10, gone: true });
      const ops = parseUpdateOps([
        { type: "set", path: "name", value: "B" },
        { type: "increment", path: "a", by: 5 },
        { type: "decrement", path: "b", by: 2 },
        { type: "remove", path: "gone" },
        { type: "merge", path: "", value: { merged: [1] } },
      ]);

      const result = await adapter.update("scope", "k", ops);

      expect(result.oldValue).toEqual({ a: 1, b: 10, gone: true });
      expect(result.newValue).toEqual({ a: 6, b: 8, name: "B", merged: [1] });
      expect(await adapter.get("scope", "k")).toEqual(result.newValue);
    });

    test("concurrent updates lose no increment", async () => {
      const ops = parseUpdateOps([{ type: "increment", path: "n", by: 1 }]);
      await Promise.all(Array.from({ length: 50 }, () => adapter.update("scope", "counter", ops)));

      expect(await adapter.get("scope", "counter")).toEqual({ n: 50 });
    });

    test("close is safe to call twice", async () => {
      await adapter.close();
      await adapter.close();
    });
  });
}
