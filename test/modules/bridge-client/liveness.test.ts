import { expect, test } from "bun:test";
import type { ServerWebSocket } from "bun";
import { BridgeConnection } from "../../../src/modules/bridge-client/bridge-connection.ts";
import { createLogger } from "../../../src/telemetry/logger.ts";
import { waitFor } from "../../support/engine.ts";

interface RemoteEnd {
  server: ReturnType<typeof Bun.serve>;
  connections: number;
  received: string[];
  closes: { code: number; reason: string }[];
}

/** Starts a stand-in remote engine that records every frame it receives and passes each to `reply`. */
function startRemote(reply: (socket: ServerWebSocket<unknown>, frame: string) => void = () => {}): RemoteEnd {
  const remote: Omit<RemoteEnd, "server"> = { connections: 0, received: [], closes: [] };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request, server) => (server.upgrade(request) ? undefined : new Response(null, { status: 400 })),
    websocket: {
      open: () => void remote.connections++,
      message: (socket, message) => {
        remote.received.push(String(message));
        reply(socket, String(message));
      },
      close: (_socket, code, reason) => void remote.closes.push({ code, reason }),
    },
  });
  return Object.assign(remote, { server });
}

function connectTo(remote: RemoteEnd, livenessIntervalMs: number): BridgeConnection {
  const connection = new BridgeConnection({
    url: `ws://127.0.0.1:${remote.server.port}`,
    logger: createLogger("bridge-test"),
    onOpen: () => {},
    onInvoke: () => {},
    livenessIntervalMs,
  });
  connection.start();
  return connection;
}

test("silent remote link is dropped and redialed", async () => {
  // This remote end never sends a frame, as a half-open link would look.
  const remote = startRemote();
  const connection = connectTo(remote, 50);
  try {
    await waitFor("a second connection", () => (remote.connections >= 2 ? true : undefined));

    expect(remote.received).toContain('{"type":"ping"}');
    expect(remote.closes[0]?.code).toBe(4000);
    expect(remote.closes[0]?.reason).toMatch(/^no frame for \d+ ms$/);
  } finally {
    connection.stop();
    remote.server.stop(true);
  }
});

test("answered pings keep the link open", async () => {
  const remote = startRemote((socket, frame) => {
    if (JSON.parse(frame).type === "ping") socket.send('{"type":"pong"}');
  });
  const connection = connectTo(remote, 250);
  try {
    await waitFor("the link to open", () => (connection.isOpen ? true : undefined));
    await Bun.sleep(1_200);

    expect(connection.isOpen).toBe(true);
    expect(remote.connections).toBe(1);
  } finally {
    connection.stop();
    remote.server.stop(true);
  }
});
