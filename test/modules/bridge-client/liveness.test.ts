import { expect, test } from "bun:test";
import { BridgeConnection } from "../../../src/modules/bridge-client/bridge-connection.ts";
import { createLogger } from "../../../src/telemetry/logger.ts";
import { waitFor } from "../../support/engine.ts";

test("silent remote link is dropped and redialed", async () => {
  // A remote end that accepts the socket and then never sends a frame, as a half-open link would.
  const received: string[] = [];
  const closes: { code: number; reason: string }[] = [];
  let connections = 0;
  using server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request, server) => (server.upgrade(request) ? undefined : new Response(null, { status: 400 })),
    websocket: {
      open: () => void connections++,
      message: (_socket, message) => void received.push(String(message)),
      close: (_socket, code, reason) => void closes.push({ code, reason }),
    },
  });

  const connection = new BridgeConnection({
    url: `ws://127.0.0.1:${server.port}`,
    logger: createLogger("bridge-test"),
    onOpen: () => {},
    onInvoke: () => {},
    livenessIntervalMs: 50,
  });
  try {
    connection.start();
    await waitFor("a second connection", () => (connections >= 2 ? true : undefined));

    expect(received).toContain('{"type":"ping"}');
    expect(closes[0]?.code).toBe(4000);
    expect(closes[0]?.reason).toMatch(/^no frame for \d+ ms$/);
  } finally {
    connection.stop();
  }
});

test("answered pings keep the link open", async () => {
  let connections = 0;
  using server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request, server) => (server.upgrade(request) ? undefined : new Response(null, { status: 400 })),
    websocket: {
      open: () => void connections++,
      message: (socket, message) => {
        if (JSON.parse(String(message)).type === "ping") socket.send('{"type":"pong"}');
      },
    },
  });

  const connection = new BridgeConnection({
    url: `ws://127.0.0.1:${server.port}`,
    logger: createLogger("bridge-test"),
    onOpen: () => {},
    onInvoke: () => {},
    livenessIntervalMs: 100,
  });
  try {
    connection.start();
    await waitFor("the link to open", () => (connection.isOpen ? true : undefined));
    await Bun.sleep(500);

    expect(connection.isOpen).toBe(true);
    expect(connections).toBe(1);
  } finally {
    connection.stop();
  }
});
