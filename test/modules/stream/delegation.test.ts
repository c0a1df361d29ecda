import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { init as initSdk030 } from "iii-sdk";
import { init as initSdk021 } from "iii-sdk-021";

import { startEngine, waitFor, type TestEngine } from "../../support/engine.ts";
import { StreamClient, streamPort } from "./stream-client.ts";

const CONFIG = `
port: 0
modules:
  - class: modules::stream::StreamModule
    config:
      port: 0
      adapter:
        class: modules::stream::adapters::KvStore
`;

type Item = { value: number };

const SDKS = [
  { version: "0.3.0", init: initSdk030 },
  { version: "0.2.1", init: initSdk021 },
] as const;

let engine: TestEngine;

beforeEach(async () => {
  engine = await startEngine(CONFIG);
});

afterEach(async () => {
  await engine.stop();
});

for (const sdk of SDKS) {
  describe(`createStream with iii-sdk ${sdk.version}`, () => {
    test("routes stream calls to the worker", async () => {
      const iii = sdk.init(engine.workerUrl);
      const store = new Map<string, Item>();
      const inputs: Array<Record<string, unknown>> = [];
      const key = (input: { group_id: string; item_id: string }) => `${input.group_id}::${input.item_id}`;

      iii.createStream<Item>("custom", {
        get: async (input) => {
          inputs.push(input as unknown as Record<string, unknown>);
          return store.get(key(input)) ?? null;
        },
        set: async (input) => {
          const old = store.get(key(input));
          store.set(key(input), input.data as Item);
          return { old_value: old, new_value: input.data as Item };
        },
        delete: async (input) => {
          const old = store.get(key(input));
          store.delete(key(input));
          return { old_value: old };
        },
        list: async (input) => [...store.entries()].filter(([name]) => name.startsWith(`${input.group_id}::`)).map(([, item]) => item),
        listGroups: async () => [...new Set([...store.keys()].map((name) => name.split("::")[0]!))],
        update: async () => null,
      });
      try {
        await waitFor("the delegate functions", () => (engine.engine.functions.has("stream::list_groups(custom)") ? true : undefined));
        const address = { stream_name: "custom", group_id: "g", item_id: "a" };

        const client = await StreamClient.connect(`ws://127.0.0.1:${streamPort(engine.engine)}`);
        client.join("s1", "custom", "g");
        expect((await client.next("sync through the list delegate")).event).toEqual({ type: "sync", data: [] });

        expect(await iii.call("stream::set", { ...address, data: { value: 1 } })).toEqual({ old_value: null, new_value: { value: 1 } });
        expect(store.get("g::a")).toEqual({ value: 1 });
        expect(await iii.call("stream::get", address)).toEqual({ value: 1 });
        expect(inputs[0]).toEqual(address);
        expect(await iii.call("stream::list", { stream_name: "custom", group_id: "g" })).toEqual([{ value: 1 }]);
        expect(await iii.call("stream::list_groups", { stream_name: "custom" })).toEqual(["g"]);
        expect(await iii.call("stream::delete", address)).toEqual({ old_value: { value: 1 } });
        expect(await iii.call("stream::get", address)).toBeUndefined();

        expect((await client.next("create event")).event).toEqual({ type: "create", data: { value: 1 } });
        expect((await client.next("delete event")).event).toEqual({ type: "delete", data: { value: 1 } });
        await client.close();

        // The embedded store was never written.
        expect(await iii.call("stream::list_all", {})).toEqual({ stream: [], count: 0 });
      } finally {
        await iii.shutdown();
      }
    });

    test("a failing delegate passes its error on", async () => {
      const iii = sdk.init(engine.workerUrl);
      iii.registerFunction({ id: "stream::get(broken)" }, async () => {
        throw new Error("store offline");
      });
      try {
        await waitFor("the broken delegate", () => (engine.engine.functions.has("stream::get(broken)") ? true : undefined));
        const call = iii.call("stream::get", { stream_name: "broken", group_id: "g", item_id: "a" });
        await expect(call).rejects.toMatchObject({ message: "store offline" });
      } finally {
        await iii.shutdown();
      }
    });
  });
}
