/**
 * A TCP proxy on a free loopback port for fault tests: forwards to a target, and can cut every
 * live connection (both sides see a reset) or stall them (stop forwarding for a while).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Destroys every live connection (new ones are accepted). */
  cut(): void;
  /** Stops forwarding in both directions for `ms`, then resumes. */
  stall(ms: number): Promise<void>;
  /**
   * Takes the link down for `ms`: cuts every live connection and closes each new one at once
   * (the client sees its reconnects fail), then accepts again. Resolves when it is back up.
   */
  down(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy to host:port. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const live = new Set<[Socket, Socket]>();
  let accepted = 0;
  let refuseUntil = 0;
  const server: Server = createServer((client) => {
    accepted++;
    if (Date.now() < refuseUntil) {
      client.on('error', () => {});
      client.resetAndDestroy?.() ?? client.destroy();
      return;
    }
    const upstream = connect({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    live.add(pair);
    const drop = (): void => {
      live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const proxy: TcpProxy = {
    port,
    connections: () => accepted,
    cut() {
      for (const [a, b] of live) {
        a.resetAndDestroy?.() ?? a.destroy();
        b.resetAndDestroy?.() ?? b.destroy();
      }
      live.clear();
    },
    async stall(ms) {
      const pairs = [...live];
      for (const [a, b] of pairs) {
        a.pause();
        b.pause();
      }
      await new Promise((r) => setTimeout(r, ms));
      for (const [a, b] of pairs) {
        a.resume();
        b.resume();
      }
    },
    async down(ms) {
      refuseUntil = Date.now() + ms;
      proxy.cut();
      await new Promise((r) => setTimeout(r, ms));
    },
    async close() {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
