/**
 * The connect step every ferry client shares (the source/target in connect.ts, each Sentinel in
 * sentinel.ts): connect a `lazyConnect` ioredis client, and on failure disconnect it (so nothing
 * keeps retrying) and throw one error made from the connection's own last 'error' event, which
 * names the cause (ECONNREFUSED, WRONGPASS…) better than connect()'s rejection does.
 */
import type { Redis } from 'ioredis';

export type ConnectFailure = Error & { code?: string };

export async function connectOrThrow(client: Redis, toError: (err: ConnectFailure) => Error): Promise<Redis> {
  let last: ConnectFailure | undefined;
  client.on('error', (err: Error) => (last = err));
  try {
    await client.connect();
    return client;
  } catch (err) {
    client.disconnect();
    throw toError(last ?? (err as Error));
  }
}
