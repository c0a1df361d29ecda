/** A fixed-capacity FIFO: pushing onto a full buffer drops the oldest item. */
export class RingBuffer<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  #start = 0;
  #size = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity);
    this.#items = new Array(this.capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds an item; returns the item it evicted, if any. */
  push(item: T): T | undefined {
    if (this.#size < this.capacity) {
      this.#items[(this.#start + this.#size) % this.capacity] = item;
      this.#size++;
      return undefined;
    }
    const evicted = this.#items[this.#start];
    this.#items[this.#start] = item;
    this.#start = (this.#start + 1) % this.capacity;
    return evicted;
  }

  /** Drops items from the oldest end while `expired` holds; returns how many went. */
  dropOldestWhile(expired: (item: T) => boolean): number {
    let dropped = 0;
    while (this.#size > 0) {
      const oldest = this.#items[this.#start] as T;
      if (!expired(oldest)) break;
      this.#items[this.#start] = undefined;
      this.#start = (this.#start + 1) % this.capacity;
      this.#size--;
      dropped++;
    }
    return dropped;
  }

  clear(): void {
    this.#items.fill(undefined);
    this.#start = 0;
    this.#size = 0;
  }

  /** The items from oldest to newest. */
  toArray(): T[] {
    const items: T[] = new Array(this.#size);
    for (let i = 0; i < this.#size; i++) items[i] = this.#items[(this.#start + i) % this.capacity] as T;
    return items;
  }
}
