import { afterEach, beforeEach, describe, expect, test } from "bun:test";

import type { PubSubAdapter } from "../../../src/modules/pubsub/index.ts";
import { parseJson, stringifyJson, type JsonValue } from "../../../src/util/json.ts";
import { waitFor } from "../../support/engine.ts";

/** Opens a fresh adapter for one test; `cleanup` closes it. */
export type PubSubAdapterFixture = () => Promise<{ adapter: PubSubAdapter; cleanup(): Promise<void> }>;

/** Collects what one subscription receives. */
export function createInbox(): { messages: JsonValue[]; handler: (data: JsonValue) => void } {
  const messages: JsonValue[] = [];
  return { messages, handler: (data) => messages.push(data) };
}

/** Cases every pubsub adapter must pass, whatever carries the messages. */
export function runPubSubAdapterContract(name: string, open: PubSubAdapterFixture): void {
  describe(`${name} pubsub adapter contract`, () => {
    let adapter: PubSubAdapter;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ adapter, cleanup } = await open());
    });

    afterEach(async () => {
      await cleanup();
    });

    test("delivers a message to a subscriber", async () => {
      const inbox = createInbox();
      await adapter.subscribe("orders", "s1", inbox.handler);

      await adapter.publish("orders", { id: 1, note: "caf\u00e9 🎉" });

      await waitFor("the message", () => (inbox.messages.length > 0 ? true : undefined));
      expect(inbox.messages).toEqual([{ id: 1, note: "caf\u00e9 🎉" }]);
    });

    test("every subscriber of a topic gets each message once", async () => {
      const first = createInbox();
      const second = createInbox();
      await adapter.subscribe("orders", "s1", first.handler);
      await adapter.subscribe("orders", "s2", second.handler);

      await adapter.publish("orders", 1);
      await adapter.publish("orders", 2);

      await waitFor("both messages on both subscribers", () =>
        first.messages.length >= 2 && second.messages.length >= 2 ? true : undefined,
      );
      await adapter.publish("orders", "fence");
      await waitFor("the fence", () => (first.messages.includes("fence") ? true : undefined));
      expect(first.messages).toEqual([1, 2, "fence"]);
      expect(second.messages.slice(0, 2)).toEqual([1, 2]);
    });

    test("topics are isolated", async () => {
      const orders = createInbox();
      const users = createInbox();
      await adapter.subscribe("orders", "s1", orders.handler);
      await adapter.subscribe("users", "s2", users.handler);

      await adapter.publish("orders", "for orders");
      await adapter.publish("users", "for users");

      await waitFor("both messages", () => (orders.messages.length > 0 && users.messages.length > 0 ? true : undefined));
      expect(orders.messages).toEqual(["for orders"]);
      expect(users.messages).toEqual(["for users"]);
    });

    test("unsubscribe removes only that subscription", async () => {
      const kept = createInbox();
      const removed = createInbox();
      await adapter.subscribe("orders", "kept", kept.handler);
      await adapter.subscribe("orders", "removed", removed.handler);

      await adapter.unsubscribe("orders", "removed");
      await adapter.unsubscribe("orders", "unknown");
      await adapter.publish("orders", "after");

      await waitFor("the message on the kept subscription", () => (kept.messages.length > 0 ? true : undefined));
      expect(kept.messages).toEqual(["after"]);
      expect(removed.messages).toEqual([]);
    });

    test("a topic with no subscribers left gets nothing", async () => {
      const gone = createInbox();
      const fence = createInbox();
      await adapter.subscribe("orders", "gone", gone.handler);
      await adapter.subscribe("fence", "fence", fence.handler);
      await adapter.unsubscribe("orders", "gone");

      await adapter.publish("orders", "lost");
      await adapter.publish("fence", "fence");

      await waitFor("the fence message", () => (fence.messages.length > 0 ? true : undefined));
      expect(gone.messages).toEqual([]);
    });

    test("publishing to a topic nobody subscribes to succeeds", async () => {
      await adapter.publish("nobody", { ignored: true });
    });

    test("large integers keep every digit", async () => {
      const inbox = createInbox();
      await adapter.subscribe("numbers", "s1", inbox.handler);

      await adapter.publish("numbers", parseJson('{"n":18446744073709551615}'));

      await waitFor("the message", () => (inbox.messages.length > 0 ? true : undefined));
      expect(stringifyJson(inbox.messages[0])).toBe('{"n":18446744073709551615}');
    });

    test("a throwing handler does not stop the others", async () => {
      const inbox = createInbox();
      await adapter.subscribe("orders", "throws", () => {
        throw new Error("handler failed");
      });
      await adapter.subscribe("orders", "works", inbox.handler);

      await adapter.publish("orders", 1);

      await waitFor("the message", () => (inbox.messages.length > 0 ? true : undefined));
      expect(inbox.messages).toEqual([1]);
    });

    test("close is safe to call twice", async () => {
      await adapter.close();
      await adapter.close();
    });
  });
}
