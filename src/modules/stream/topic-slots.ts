/** The part of a Bun socket this file uses. */
export interface TopicSubscriber {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/**
 * Maps subscriptions onto Bun pub/sub topics so that a socket with n
 * subscriptions to one topic receives each publish n times. Bun keeps at most
 * one subscription per socket and topic. So the k-th subscription of a socket
 * to topic T joins the slot topic `T#k`, and a publish goes to every slot that
 * has a subscriber. Slot k's subscribers are the sockets with more than k
 * subscriptions to T, so the used slots always form `0..n-1`.
 */
export class TopicSlots {
  /** Per topic: the number of sockets subscribed to each slot. */
  readonly #slotSockets = new Map<string, number[]>();

  /** Adds one subscription of `socket`, which already had `existing` subscriptions to `topic`. */
  add(socket: TopicSubscriber, topic: string, existing: number): void {
    socket.subscribe(slotTopic(topic, existing));

    const slots = this.#slotSockets.get(topic) ?? [];
    slots[existing] = (slots[existing] ?? 0) + 1;
    this.#slotSockets.set(topic, slots);
  }

  /**
   * Removes one subscription of `socket`, which had `existing` subscriptions
   * to `topic` before. `unsubscribe` is false for a socket that is already closed.
   */
  remove(socket: TopicSubscriber, topic: string, existing: number, unsubscribe = true): void {
    if (existing <= 0) return;
    if (unsubscribe) socket.unsubscribe(slotTopic(topic, existing - 1));

    const slots = this.#slotSockets.get(topic);
    if (slots === undefined) return;
    slots[existing - 1] = Math.max(0, (slots[existing - 1] ?? 0) - 1);
    while (slots.length > 0 && slots[slots.length - 1] === 0) slots.pop();
    if (slots.length === 0) this.#slotSockets.delete(topic);
  }

  /** Slot topics that currently have at least one subscriber. */
  topicsFor(topic: string): string[] {
    const slots = this.#slotSockets.get(topic);
    if (slots === undefined) return [];
    return slots.map((_, slot) => slotTopic(topic, slot));
  }
}

function slotTopic(topic: string, slot: number): string {
  return `${topic}#${slot}`;
}
