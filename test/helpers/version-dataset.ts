/**
 * A small dataset with every type and every encoding a given server version has, for the version
 * matrix (test/versions/*): strings (int, embstr, raw, LZF-compressible, binary, a binary key),
 * lists (small, multi-node, compressed nodes, ints of every width; PLAIN nodes from 7.0), sets
 * (intset, hashtable; listpack from 7.2), zsets and hashes (ziplist/listpack and skiplist/hashtable),
 * hashes with field TTLs on 7.4 (listpack-ex and hashtable with metadata), streams (deletions,
 * several nodes, groups with consumers and pending entries, an idle consumer, an empty stream with
 * a group, a trimmed stream), key TTLs, keys in dbs 0, 3 and 15, and a function library from 7.0.
 * Encoding thresholds are set with the `*-ziplist-*` config names, which 7.0+ still accept as
 * aliases of the `*-listpack-*` ones.
 */
import type { Redis } from 'ioredis';
import type { ServerVersion } from './versions.js';
import { basicStream, groupStream, LIBRARY_CODE, pseudoRandomBytes } from './dataset.js';

const HOUR = 3_600_000;

export interface VersionFill {
  /** Keys written, per db. */
  keys: Record<number, number>;
  /** Hash keys with field TTLs (7.4+). */
  fieldTtlKeys: number;
  functions: boolean;
}

/** Fills dbs 0, 3 and 15 of a server of version `v` (the client is left on db 0). */
export async function fillVersion(c: Redis, v: ServerVersion, opts: { fieldTtl?: boolean; functions?: boolean } = {}): Promise<VersionFill> {
  const cfg: Array<[string, string]> = [
    ['list-max-ziplist-size', '-2'], ['list-compress-depth', '0'], ['set-max-intset-entries', '512'],
    ['zset-max-ziplist-entries', '128'], ['zset-max-ziplist-value', '64'], ['hash-max-ziplist-entries', '128'],
    ['hash-max-ziplist-value', '64'], ['stream-node-max-entries', '20'],
  ];
  if (v.redis >= 702) cfg.push(['set-max-listpack-entries', '128']);
  for (const [k, val] of cfg) await c.config('SET', k, val);
  const keys: Record<number, number> = {};
  let fieldTtlKeys = 0;
  for (const db of [0, 3, 15]) {
    await c.select(db);
    const p = `d${db}:`;
    const before = await c.dbsize();
    await strings(c, p);
    await lists(c, p, v, db === 0);
    await sets(c, p, v);
    await zsets(c, p);
    await hashes(c, p);
    await streams(c, p, v);
    if (db === 0 && v.redis >= 704 && !v.valkey && opts.fieldTtl !== false) fieldTtlKeys += await fieldTtls(c, p);
    for (const k of [`${p}str:raw`, `${p}list:small`, `${p}hash:small`, `${p}zset:big`, `${p}stream:groups`, `${p}set:int16`]) await c.pexpire(k, HOUR + k.length * 1000);
    await c.set(`${p}ttl:seconds`, 'x', 'EX', 7200);
    keys[db] = (await c.dbsize()) - before;
  }
  await c.select(0);
  const functions = v.redis >= 700 && opts.functions !== false;
  if (functions) await c.call('FUNCTION', 'LOAD', 'REPLACE', LIBRARY_CODE);
  return { keys, fieldTtlKeys, functions };
}

async function strings(c: Redis, p: string): Promise<void> {
  const m = c.multi();
  m.set(`${p}str:empty`, '');
  m.set(`${p}str:int8`, '-100');
  m.set(`${p}str:int32`, '-2147483648');
  m.set(`${p}str:int64`, '9223372036854775807');
  m.set(`${p}str:float`, '3.14159');
  m.set(`${p}str:raw`, 'hello world');
  m.set(`${p}str:lzf`, 'abcdefgh'.repeat(200));
  m.set(`${p}str:bin`, pseudoRandomBytes(300, 7));
  m.set(`${p}str:big`, Buffer.concat([pseudoRandomBytes(20_000, 9), Buffer.alloc(20_000, 'z')]));
  m.set(Buffer.concat([Buffer.from(p), Buffer.from([0x00, 0xff, 0x80, 0x0d, 0x0a, 0x20])]), 'binary key');
  m.set(`${p}12345`, 'integer-looking key');
  await m.exec();
}

async function lists(c: Redis, p: string, v: ServerVersion, plain: boolean): Promise<void> {
  await c.rpush(`${p}list:small`, 'a', 'b', 'c', '', 'd');
  await c.rpush(`${p}list:ints`, '0', '127', '-4096', '32767', '-8388608', '2147483647', '-9223372036854775808', '12a');
  const many = Array.from({ length: 600 }, (_, i) => `element-${i}-${'x'.repeat(i % 30)}`);
  await c.rpush(`${p}list:big`, ...many);
  await c.rpush(`${p}list:bin`, pseudoRandomBytes(100, 3), Buffer.from([0]), pseudoRandomBytes(3000, 4));
  await c.config('SET', 'list-compress-depth', '1');
  await c.rpush(`${p}list:compressed`, ...many);
  await c.config('SET', 'list-compress-depth', '0');
  if (plain && v.redis >= 700) {
    // Elements above the packed threshold go into PLAIN quicklist nodes (RDB_TYPE_LIST_QUICKLIST_2).
    // NOTE: from 7.2 a small list is one listpack, which takes a big element as is: the list must
    // be a quicklist first (found by test/versions/dataset.test.ts).
    await c.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', '1000');
    try {
      await c.rpush(`${p}list:plain`, ...many.slice(0, 300));
      await c.rpush(`${p}list:plain`, 'small', 'y'.repeat(3000), 'small2', pseudoRandomBytes(2000, 5));
    } finally {
      await c.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', String(1 << 30));
    }
  }
}

async function sets(c: Redis, p: string, v: ServerVersion): Promise<void> {
  await c.sadd(`${p}set:int16`, '1', '-2', '300', '-32768', '32767');
  await c.sadd(`${p}set:int64`, '1', '-9223372036854775808', '9223372036854775807');
  // A listpack set from 7.2 (small, strings); a hashtable before.
  await c.sadd(`${p}set:strings`, 'a', 'b', '', 'x'.repeat(40));
  await c.sadd(`${p}set:big`, ...Array.from({ length: 600 }, (_, i) => `m${i}`));
  await c.sadd(`${p}set:bigints`, ...Array.from({ length: 600 }, (_, i) => String(i * 7 - 2000)));
  await c.sadd(`${p}set:bin`, pseudoRandomBytes(20, 11), Buffer.from([0xff, 0xfe]));
  void v;
}

async function zsets(c: Redis, p: string): Promise<void> {
  await c.zadd(`${p}zset:small`, '1', 'one', '-2.5', 'neg', '0', 'zero', 'inf', 'pinf', '-inf', 'ninf', '1e300', 'huge', '5e-324', 'tiny', '0.1', 'tenth');
  const args: string[] = [];
  for (let i = 0; i < 200; i++) args.push(String(i / 3), `member-${i}`);
  await c.zadd(`${p}zset:big`, ...args);
  await c.zadd(`${p}zset:long`, '1', 'm'.repeat(100), '2.5', 'x');
  await c.zadd(`${p}zset:bin`, '1', pseudoRandomBytes(10, 21), '2', Buffer.from([0, 1, 2]));
}

async function hashes(c: Redis, p: string): Promise<void> {
  await c.hset(`${p}hash:small`, 'a', '1', 'b', 'two', 'empty', '', 'neg', '-5', 'big', '9223372036854775807');
  const args: string[] = [];
  for (let i = 0; i < 200; i++) args.push(`field-${i}`, i % 3 === 0 ? String(i) : `value-${i}`);
  await c.hset(`${p}hash:big`, ...args);
  await c.hset(`${p}hash:longval`, 'f', 'v'.repeat(100), 'g', 'short');
  await c.hset(`${p}hash:bin`, pseudoRandomBytes(8, 31), pseudoRandomBytes(8, 32));
}

/** 7.4: a small hash (listpack-ex) and a big one (hashtable + metadata) with some field TTLs. */
async function fieldTtls(c: Redis, p: string): Promise<number> {
  await c.hset(`${p}hfe:small`, 'a', '1', 'b', '2', 'c', '3');
  await c.call('HPEXPIRE', `${p}hfe:small`, String(2 * HOUR), 'FIELDS', '2', 'a', 'b');
  const args: string[] = [];
  for (let i = 0; i < 200; i++) args.push(`f${i}`, `v${i}`);
  await c.hset(`${p}hfe:big`, ...args);
  await c.call('HPEXPIRE', `${p}hfe:big`, String(3 * HOUR), 'FIELDS', '3', 'f1', 'f50', 'f199');
  return 2;
}

async function streams(c: Redis, p: string, v: ServerVersion): Promise<void> {
  const s = `${p}stream:basic`;
  await basicStream(c, s);
  await c.xdel(s, '3-5'); // the last entry deleted: last-generated-id stays 3-5
  const big = `${p}stream:big`;
  const pipe = c.pipeline();
  for (let j = 0; j < 100; j++) pipe.xadd(big, `${1000 + j}-0`, 'n', String(j), 'payload', `p-${j}`);
  await pipe.exec();
  const g = `${p}stream:groups`;
  await groupStream(c, g);
  // An idle consumer: CREATECONSUMER from 6.2; before, a read that finds nothing new creates it.
  if (v.redis >= 602) await c.call('XGROUP', 'CREATECONSUMER', g, 'g2', 'idle-dave');
  else await c.xreadgroup('GROUP', 'g1', 'idle-dave', 'COUNT', '1', 'STREAMS', g, '0');
  await c.xgroup('CREATE', `${p}stream:empty`, 'g', '$', 'MKSTREAM');
  const t = `${p}stream:trimmed`;
  for (let i = 1; i <= 20; i++) await c.xadd(t, 'MAXLEN', '5', `${1000 + i}-0`, 'i', String(i));
}
