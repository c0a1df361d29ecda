import { init as initCurrent } from "iii-sdk";
import { init as initOld } from "iii-sdk-021";

/** The two supported releases of the official Node SDK, for tests that run against both. */
export const SDK_VERSIONS = [
  ["0.3.0", initCurrent],
  ["0.2.1", initOld],
] as const;

export type Sdk = ReturnType<typeof initCurrent>;

/** Creates an SDK client that does not try to reconnect for long after the test ends. */
export function connectSdk(init: (typeof SDK_VERSIONS)[number][1], url: string): Sdk {
  return init(url, { reconnectionConfig: { initialDelayMs: 50, maxDelayMs: 200 } } as never) as Sdk;
}

/** Polls `url` until it stops answering 404, meaning the route is registered. */
export async function waitForRoute(url: string, init?: RequestInit, timeoutMs = 5_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(url, init);
    if (response.status !== 404) return response;
    if (Date.now() > deadline) throw new Error(`route ${url} still answers 404 after ${timeoutMs} ms`);
    await Bun.sleep(10);
  }
}
