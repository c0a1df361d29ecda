import { afterEach, beforeEach, describe, expect, test } from "bun:test";

import { parseUpdateOps } from "../../../src/storage/index.ts";
import type { StreamAdapter } from "../../../src/modules/stream/adapter.ts";
import { createStreamEvent, type StreamEvent } from "../../../src/modules/stream/events.ts";
import { parseJson } from "../../../src/util/json.ts";
import { waitFor } from "../../support/engine.ts";

/** Builds a fresh, unopened adapter for one test and removes what it stored afterwards. */
export interface AdapterFixture {
  create(): Promise<StreamAdapter>;
  cleanup(): Promise<void>;
}

/** Cases every stream adapter must pass. */
export function runStreamAdapterContract(name: string, fixture: AdapterFixture): void {
  describe(`${name} stream adapter contract`, () => {
    let adapter: StreamAdapter;
    let events: Array<{ event: StreamEvent; text: string }>;

    beforeEach(async () => {
      events = [];
      adapter = await fixture.create();
      await adapter.open((event, text) => events.push({ event, text }));
    });

    afterEach(async () => {
      await adapter.close();
      await fixture.cleanup();
    });

    test("set returns the previous value", async () => {
      expect(await adapter.set("s", "g", "a", { v: 1 })).toBeNull();
      expect(await adapter.set("s", "g", "a", { v: 2 })).toEqual({ v: 1 });
      expect(await adapter.get("s", "g", "a")).toEqual({ v: 2 });
    });

    test("get of a missing item is undefined", async () => {
      expect(await adapter.get("s", "g", "missing")).toBeUndefined();
    });

    test("delete returns the previous value once", async () => {
      await adapter.set("s", "g", "a", [1, 2]);
      expect(await adapter.delete("s", "g", "a")).toEqual([1, 2]);
      expect(await adapter.delete("s", "g", "a")).toBeUndefined();
      expect(await adapter.get("s", "g", "a")).toBeUndefined();
    });

    test("list returns the group's items", async () => {
      await adapter.set("s", "g", "a", 1);
      await adapter.set("s", "g", "b", 2);
      await adapter.set("s", "other", "c", 3);
      expect((await adapter.list("s", "g")).sort()).toEqual([1, 2]);
      expect(await adapter.list("s", "empty")).toEqual([]);
    });

    test("listGroups covers one stream", async () => {
      await adapter.set("s", "b", "1", 1);
      await adapter.set("s", "a", "1", 1);
      await adapter.set("t", "c", "1", 1);
      expect(await adapter.listGroups("s")).toEqual(["a", "b"]);
      expect(await adapter.listGroups("none")).toEqual([]);
    });

    test("emptied groups leave the listings", async () => {
      await adapter.set("s", "a", "1", 1);
      await adapter.delete("s", "a", "1");
      expect(await adapter.listGroups("s")).toEqual([]);
    });

    test("listAll sorts streams and groups", async () => {
      await adapter.set("zeta", "g2", "1", 1);
      await adapter.set("zeta", "g1", "1", 1);
      await adapter.set("alpha", "x", "1", 1);
      expect(await adapter.listAll()).toEqual([
        { id: "alpha", groups: ["x"] },
        { id: "zeta", groups: ["g1", "g2"] },
      ]);
    });

    test("update applies operations atomically", async () => {
      const ops = parseUpdateOps([{ type: "increment", path: "n", by: 1 }]);
      const first = await adapter.update("s", "g", "counter", ops);
      expect(first).toEqual({ oldValue: null, newValue: { n: 1 } });

      await Promise.all(Array.from({ length: 50 }, () => adapter.update("s", "g", "counter", ops)));
      expect(await adapter.get("s", "g", "counter")).toEqual({ n: 51 });
    });

    test("large integers keep every digit", async () => {
      await adapter.set("s", "g", "big", parseJson('{"big":9007199254740993}'));
      expect(JSON.stringify(await adapter.get("s", "g", "big"))).toBe('{"big":9007199254740993}');
    });

    test("publish reaches the listener", async () => {
      const event = createStreamEvent("s", "g", "a", { type: "create", data: { v: 1 } });
      await adapter.publish(event);

      const received = await waitFor("the published event", () => events[0]);
      expect(received.event).toEqual(event);
      expect(JSON.parse(received.text)).toEqual(event);
    });

    test("close is safe twice", async () => {
      await adapter.close();
      await adapter.close();
    });
  });
}
