/**
 * Sample data of every Redis type for `ferry demo` (and tests that want a varied dataset):
 * strings (plain, integer-encoded, with TTL), hashes, lists, sets (intset and hashtable),
 * sorted sets, streams (with a consumer group), a bitmap, a HyperLogLog and a geo set.
 */
import type { Redis } from 'ioredis';

export interface SampleDataReport {
  keys: number;
  byType: Record<string, number>;
}

/** Writes about `count` keys spread over every type, pipelined in batches. */
export async function loadSampleData(client: Redis, count = 10_000, prefix = 'demo'): Promise<SampleDataReport> {
  const byType: Record<string, number> = {};
  const add = (type: string) => (byType[type] = (byType[type] ?? 0) + 1);
  let pipe = client.pipeline();
  let queued = 0;
  const flush = async (force = false) => {
    if (!force && queued < 500) return;
    const res = (await pipe.exec()) ?? [];
    const failed = res.find(([err]) => err);
    if (failed) throw failed[0];
    pipe = client.pipeline();
    queued = 0;
  };
  for (let i = 0; i < count; i++) {
    const k = `${prefix}:${i}`;
    switch (i % 10) {
      case 0:
        pipe.hset(`${k}:hash`, { name: `user ${i}`, email: `u${i}@example.com`, visits: String(i) });
        add('hash');
        break;
      case 1:
        pipe.rpush(`${k}:list`, ...Array.from({ length: 8 }, (_, j) => `item-${j}`));
        add('list');
        break;
      case 2:
        pipe.sadd(`${k}:set`, ...Array.from({ length: 6 }, (_, j) => `m${(i + j) % 50}`));
        add('set');
        break;
      case 3:
        pipe.sadd(`${k}:intset`, 1, 2, 3, i);
        add('set');
        break;
      case 4:
        pipe.zadd(`${k}:zset`, 1, 'a', 2.5, 'b', i, 'c');
        add('zset');
        break;
      case 5:
        pipe.set(`${k}:ttl`, `expires later ${i}`, 'EX', 3600);
        add('string');
        break;
      case 6:
        pipe.set(`${k}:counter`, i);
        add('string');
        break;
      default:
        pipe.set(`${k}:str`, `value-${i}-${'x'.repeat(i % 64)}`);
        add('string');
    }
    queued++;
    await flush();
  }
  pipe.xadd(`${prefix}:stream`, '*', 'event', 'signup', 'user', '1');
  pipe.xadd(`${prefix}:stream`, '*', 'event', 'login', 'user', '1');
  pipe.xgroup('CREATE', `${prefix}:stream`, 'workers', '0');
  add('stream');
  pipe.setbit(`${prefix}:bitmap`, 1000, 1);
  add('string');
  pipe.pfadd(`${prefix}:hll`, 'a', 'b', 'c', 'd');
  add('string');
  pipe.geoadd(`${prefix}:geo`, 13.361389, 38.115556, 'Palermo', 15.087269, 37.502669, 'Catania');
  add('zset');
  await flush(true);
  return { keys: Object.values(byType).reduce((a, b) => a + b, 0), byType };
}
