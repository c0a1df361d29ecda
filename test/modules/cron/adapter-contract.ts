import { afterEach, expect, test } from "bun:test";

import type { CronLockAdapter } from "../../../src/modules/cron/index.ts";

/** Opens two adapters that share one lock backend, as two engines would. */
export type OpenAdapterPair = () => Promise<[CronLockAdapter, CronLockAdapter]>;

/** Cases every cron lock adapter passes; each backend's test file runs them first. */
export function runCronLockContract(openPair: OpenAdapterPair): void {
  const opened: CronLockAdapter[] = [];
  const open = async () => {
    const pair = await openPair();
    opened.push(...pair);
    return pair;
  };

  afterEach(async () => {
    for (const adapter of opened.splice(0)) await adapter.close();
  });

  test("claims a tick once", async () => {
    const [adapter] = await open();

    expect(await adapter.tryAcquire("report", 1_000)).toBe(true);
    expect(await adapter.tryAcquire("report", 1_000)).toBe(false);
  });

  test("claims each tick on its own", async () => {
    const [adapter] = await open();

    expect(await adapter.tryAcquire("report", 1_000)).toBe(true);
    expect(await adapter.tryAcquire("report", 2_000)).toBe(true);
    expect(await adapter.tryAcquire("other", 1_000)).toBe(true);
  });

  test("rejects a tick another instance claimed", async () => {
    const [first, second] = await open();

    expect(await first.tryAcquire("report", 5_000)).toBe(true);
    expect(await second.tryAcquire("report", 5_000)).toBe(false);
    expect(await second.tryAcquire("report", 6_000)).toBe(true);
    expect(await first.tryAcquire("report", 6_000)).toBe(false);
  });

  test("gives a concurrent tick to exactly one claimant", async () => {
    const [first, second] = await open();

    const results = await Promise.all([first.tryAcquire("race", 9_000), second.tryAcquire("race", 9_000)]);

    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test("closes twice without error", async () => {
    const [adapter] = await open();

    await adapter.close();
    await adapter.close();
  });
}
