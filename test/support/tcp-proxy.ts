import type { Socket, TCPSocketListener } from "bun";

/**
 * A TCP relay on 127.0.0.1 to a target port, for simulating a server outage:
 * `cut()` closes the listener and every relayed connection, `restore()` listens
 * again on the same port.
 */
export class TcpProxy {
  readonly #targetPort: number;
  readonly #sockets = new Set<Socket<unknown>>();
  #listener: TCPSocketListener<unknown> | null = null;
  #port = 0;

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    this.#listener = this.#listen(this.#port);
    this.#port = this.#listener.port;
  }

  cut(): void {
    this.#listener?.stop(true);
    this.#listener = null;
    for (const socket of this.#sockets) socket.end();
    this.#sockets.clear();
  }

  async restore(): Promise<void> {
    this.#listener = this.#listen(this.#port);
  }

  async stop(): Promise<void> {
    this.cut();
  }

  #listen(port: number): TCPSocketListener<unknown> {
    const targetPort = this.#targetPort;
    const sockets = this.#sockets;

    return Bun.listen<{ upstream: Promise<Socket<unknown>> }>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          sockets.add(client as Socket<unknown>);
          client.data = {
            upstream: Bun.connect({
              hostname: "127.0.0.1",
              port: targetPort,
              socket: {
                data(_upstream, chunk) {
                  client.write(chunk);
                },
                close() {
                  client.end();
                },
                error() {
                  client.end();
                },
              },
            }).then((upstream) => {
              sockets.add(upstream);
              return upstream;
            }),
          };
        },
        async data(client, chunk) {
          const upstream = await client.data.upstream;
          upstream.write(chunk);
        },
        async close(client) {
          sockets.delete(client as Socket<unknown>);
          (await client.data.upstream.catch(() => null))?.end();
        },
      },
    }) as TCPSocketListener<unknown>;
  }
}
