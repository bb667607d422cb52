/**
 * A reusable "every type and encoding" dataset for real servers, and a canonical snapshot of a key
 * to compare servers (or a server with a parsed RDB).
 *
 * fillEveryType() writes a catalog of keys covering what Redis 7.0 can produce: strings (empty,
 * int-encoded of each width, negative, > 32-bit, float text, raw, LZF-compressible, binary, big),
 * lists (listpack quicklist nodes with ints of every listpack width, many nodes, LZF-compressed
 * nodes, PLAIN nodes when DEBUG is allowed), sets (intset 16/32/64, hashtable, big int sets), zsets
 * (listpack, skiplist; inf/-inf/tiny/huge scores), hashes (listpack, hashtable by size and by long
 * values), streams (entries with different fields, deletions, several nodes, consumer groups with
 * consumers and pending entries, an empty stream with a group), keys with TTLs, binary keys, and a
 * function library; plus `bulk` extra small keys of mixed types for volume tests.
 * Encoding thresholds are set with CONFIG SET (and restored) so the catalog is the same whatever
 * the server's configuration.
 */
import type { Redis } from 'ioredis';

export interface FillOptions {
  /** Key prefix (default 'ds:'). */
  prefix?: string;
  /** Extra small keys of mixed types (default 0). Deterministic: key i always gets the same value. */
  bulk?: number;
  /** Give some keys TTLs (default true). TTLs are >= 1 hour so tests never see them expire. */
  ttl?: boolean;
  /** Use DEBUG QUICKLIST-PACKED-THRESHOLD for PLAIN list nodes (needs enable-debug-command). */
  debug?: boolean;
  /** Load a function library (Redis >= 7.0; default true when supported). */
  functions?: boolean;
}

export interface FillReport {
  /** Catalog keys with the OBJECT ENCODING each must have (bulk keys are not listed). */
  expectedEncoding: Map<string, string>;
  /** Number of keys written (catalog + bulk). */
  keys: number;
  /** Name of the function library loaded, if any. */
  library?: string;
}

/** The function library fillEveryType loads (FUNCTION LOAD REPLACE). */
export const LIBRARY_CODE = "#!lua name=ferrylib\nredis.register_function('ferry_echo', function(keys, args) return args[1] end)";

const HOUR = 3_600_000;

/** Deterministic pseudo-random bytes (xorshift32 from `seed`). */
export function pseudoRandomBytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Fills the client's current db; see the module comment. */
export async function fillEveryType(client: Redis, opts: FillOptions = {}): Promise<FillReport> {
  const p = opts.prefix ?? 'ds:';
  const ttl = opts.ttl ?? true;
  const enc = new Map<string, string>();
  const saved = await saveConfig(client);
  try {
    await client.config('SET', 'list-max-listpack-size', '-2');
    await client.config('SET', 'set-max-intset-entries', '512');
    await client.config('SET', 'zset-max-listpack-entries', '128');
    await client.config('SET', 'zset-max-listpack-value', '64');
    await client.config('SET', 'hash-max-listpack-entries', '128');
    await client.config('SET', 'hash-max-listpack-value', '64');
    await client.config('SET', 'stream-node-max-entries', '100');
    await client.config('SET', 'list-compress-depth', '0');
    await strings(client, p, enc);
    await lists(client, p, enc, opts.debug ?? false);
    await sets(client, p, enc);
    await zsets(client, p, enc);
    await hashes(client, p, enc);
    await streams(client, p, enc);
    if (ttl) {
      for (const k of [`${p}str:raw`, `${p}list:small`, `${p}hash:small`, `${p}zset:big`, `${p}stream:groups`]) {
        await client.pexpire(k, HOUR + k.length * 1000);
      }
      await client.set(`${p}ttl:seconds`, 'x', 'EX', 7200);
      enc.set(`${p}ttl:seconds`, 'embstr');
    }
    let library: string | undefined;
    const version = Number(((await client.info('server')).match(/redis_version:(\d+)/) ?? [])[1] ?? 0);
    if ((opts.functions ?? true) && version >= 7) {
      await client.call('FUNCTION', 'LOAD', 'REPLACE', LIBRARY_CODE);
      library = 'ferrylib';
    }
    const bulk = opts.bulk ?? 0;
    await fillBulk(client, p, bulk, ttl);
    return { expectedEncoding: enc, keys: enc.size + bulk, library };
  } finally {
    for (const [k, v] of saved) await client.config('SET', k, v);
  }
}

async function saveConfig(client: Redis): Promise<Array<[string, string]>> {
  const names = [
    'list-max-listpack-size', 'set-max-intset-entries', 'zset-max-listpack-entries', 'zset-max-listpack-value',
    'hash-max-listpack-entries', 'hash-max-listpack-value', 'stream-node-max-entries', 'list-compress-depth',
  ];
  const out: Array<[string, string]> = [];
  for (const n of names) {
    const r = (await client.config('GET', n)) as string[];
    if (r.length === 2) out.push([r[0], r[1]]);
  }
  return out;
}

async function strings(c: Redis, p: string, enc: Map<string, string>): Promise<void> {
  const put = async (k: string | Buffer, v: string | Buffer, e: string): Promise<void> => {
    await c.set(k, v);
    enc.set(typeof k === 'string' ? k : k.toString('latin1'), e);
  };
  await put(`${p}str:empty`, '', 'embstr');
  await put(`${p}str:int8`, '-100', 'int');
  await put(`${p}str:int16`, '30000', 'int');
  await put(`${p}str:int32`, '-2147483648', 'int');
  await put(`${p}str:int64`, '9223372036854775807', 'int');
  await put(`${p}str:intneg64`, '-9223372036854775808', 'int');
  await put(`${p}str:leadingzero`, '007', 'embstr');
  await put(`${p}str:float`, '3.14159', 'embstr');
  await put(`${p}str:raw`, 'hello world', 'embstr');
  await put(`${p}str:utf8`, 'h\u00e9llo \u2713 \ud83d\ude80', 'embstr');
  await put(`${p}str:lzf`, 'abcdefgh'.repeat(200), 'raw');
  await put(`${p}str:bin`, pseudoRandomBytes(300, 7), 'raw');
  await put(`${p}str:big`, Buffer.concat([pseudoRandomBytes(50_000, 9), Buffer.alloc(50_000, 'z')]), 'raw');
  await put(Buffer.from([0x00, 0xff, 0x80, 0x0d, 0x0a, 0x20]), 'binary key', 'embstr');
  await put(`${p}str:int-as-key:`, '0', 'int');
  await put('12345', 'integer-looking key', 'embstr');
}

async function lists(c: Redis, p: string, enc: Map<string, string>, debug: boolean): Promise<void> {
  await c.rpush(`${p}list:small`, 'a', 'b', 'c', '', 'd');
  enc.set(`${p}list:small`, 'quicklist');
  const ints = ['0', '1', '127', '128', '-1', '-4096', '4095', '-32768', '32767', '-8388608', '8388607', '-2147483648', '2147483647', '-9223372036854775808', '9223372036854775807', '12a'];
  await c.rpush(`${p}list:ints`, ...ints);
  enc.set(`${p}list:ints`, 'quicklist');
  const many = Array.from({ length: 3000 }, (_, i) => `element-${i}-${'x'.repeat(i % 50)}`);
  for (let i = 0; i < many.length; i += 500) await c.rpush(`${p}list:big`, ...many.slice(i, i + 500));
  enc.set(`${p}list:big`, 'quicklist');
  await c.rpush(`${p}list:bin`, pseudoRandomBytes(100, 3), Buffer.from([0]), pseudoRandomBytes(5000, 4));
  enc.set(`${p}list:bin`, 'quicklist');
  // list-compress-depth 1: inner nodes are LZF-compressed in memory and saved that way.
  await c.config('SET', 'list-compress-depth', '1');
  for (let i = 0; i < many.length; i += 500) await c.rpush(`${p}list:compressed`, ...many.slice(i, i + 500));
  enc.set(`${p}list:compressed`, 'quicklist');
  await c.config('SET', 'list-compress-depth', '0');
  if (debug) {
    // Elements above the packed threshold go into PLAIN nodes (one raw element per node).
    await c.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', '1000');
    try {
      await c.rpush(`${p}list:plain`, 'small', 'y'.repeat(5000), 'small2', pseudoRandomBytes(3000, 5));
      enc.set(`${p}list:plain`, 'quicklist');
    } finally {
      await c.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', String(1 << 30));
    }
  }
}

async function sets(c: Redis, p: string, enc: Map<string, string>): Promise<void> {
  await c.sadd(`${p}set:int16`, '1', '-2', '300', '-32768', '32767');
  enc.set(`${p}set:int16`, 'intset');
  await c.sadd(`${p}set:int32`, '1', '70000', '-2147483648', '2147483647');
  enc.set(`${p}set:int32`, 'intset');
  await c.sadd(`${p}set:int64`, '1', '-9223372036854775808', '9223372036854775807', '4294967296');
  enc.set(`${p}set:int64`, 'intset');
  await c.sadd(`${p}set:strings`, 'a', 'b', 'c', '', 'x'.repeat(100));
  enc.set(`${p}set:strings`, 'hashtable');
  const bigInts = Array.from({ length: 600 }, (_, i) => String(i * 7 - 2000));
  await c.sadd(`${p}set:bigints`, ...bigInts);
  enc.set(`${p}set:bigints`, 'hashtable');
  await c.sadd(`${p}set:bin`, pseudoRandomBytes(20, 11), pseudoRandomBytes(20, 12), Buffer.from([0xff, 0xfe]));
  enc.set(`${p}set:bin`, 'hashtable');
}

async function zsets(c: Redis, p: string, enc: Map<string, string>): Promise<void> {
  await c.zadd(`${p}zset:small`, '1', 'one', '-2.5', 'neg', '0', 'zero', 'inf', 'pinf', '-inf', 'ninf', '1e300', 'huge', '5e-324', 'tiny', '123456789012', 'bigint', '0.1', 'tenth');
  enc.set(`${p}zset:small`, 'listpack');
  const args: string[] = [];
  for (let i = 0; i < 300; i++) args.push(String(i / 3), `member-${i}`);
  await c.zadd(`${p}zset:big`, ...args);
  enc.set(`${p}zset:big`, 'skiplist');
  await c.zadd(`${p}zset:long`, '1', 'm'.repeat(100), '-inf', 'ninf', '2.5', 'x');
  enc.set(`${p}zset:long`, 'skiplist');
  await c.zadd(`${p}zset:bin`, '1', pseudoRandomBytes(10, 21), '2', Buffer.from([0, 1, 2]));
  enc.set(`${p}zset:bin`, 'listpack');
}

async function hashes(c: Redis, p: string, enc: Map<string, string>): Promise<void> {
  await c.hset(`${p}hash:small`, 'a', '1', 'b', 'two', 'empty', '', 'neg', '-5', 'big', '9223372036854775807', '', 'empty-field');
  enc.set(`${p}hash:small`, 'listpack');
  const args: string[] = [];
  for (let i = 0; i < 300; i++) args.push(`field-${i}`, i % 3 === 0 ? String(i) : `value-${i}`);
  await c.hset(`${p}hash:big`, ...args);
  enc.set(`${p}hash:big`, 'hashtable');
  await c.hset(`${p}hash:longval`, 'f', 'v'.repeat(100), 'g', 'short');
  enc.set(`${p}hash:longval`, 'hashtable');
  await c.hset(`${p}hash:bin`, pseudoRandomBytes(8, 31), pseudoRandomBytes(8, 32), 'x', Buffer.from([0xc3, 0x28]));
  enc.set(`${p}hash:bin`, 'listpack');
}

/** Stream `s`: four entries (1-1, 2-0, 3-5 left; 1-2 deleted). */
export async function basicStream(c: Redis, s: string): Promise<void> {
  await c.xadd(s, '1-1', 'f1', 'v1', 'f2', 'v2');
  await c.xadd(s, '1-2', 'f1', 'v3', 'f2', 'v4');
  await c.xadd(s, '2-0', 'other', 'x');
  await c.xadd(s, '3-5', 'f1', '', 'f2', '123');
  await c.xdel(s, '1-2');
}

/**
 * Stream `g`: entries 100-1..100-10; group g1 from 0 (alice read 3, bob 2, 100-2 acked), group g2
 * from 100-5 (carol read 1).
 */
export async function groupStream(c: Redis, g: string): Promise<void> {
  for (let i = 1; i <= 10; i++) await c.xadd(g, `100-${i}`, 'k', `v${i}`);
  await c.xgroup('CREATE', g, 'g1', '0');
  await c.xgroup('CREATE', g, 'g2', '100-5');
  await c.xreadgroup('GROUP', 'g1', 'alice', 'COUNT', '3', 'STREAMS', g, '>');
  await c.xreadgroup('GROUP', 'g1', 'bob', 'COUNT', '2', 'STREAMS', g, '>');
  await c.xack(g, 'g1', '100-2');
  await c.xreadgroup('GROUP', 'g2', 'carol', 'COUNT', '1', 'STREAMS', g, '>');
}

async function streams(c: Redis, p: string, enc: Map<string, string>): Promise<void> {
  const s = `${p}stream:basic`;
  await basicStream(c, s);
  enc.set(s, 'stream');
  const big = `${p}stream:big`;
  for (let i = 0; i < 450; i += 50) {
    const pipe = c.pipeline();
    for (let j = i; j < i + 50; j++) pipe.xadd(big, '*', 'n', String(j), 'payload', `p-${j}`);
    await pipe.exec();
  }
  enc.set(big, 'stream');
  const g = `${p}stream:groups`;
  await groupStream(c, g);
  await c.call('XGROUP', 'CREATECONSUMER', g, 'g2', 'idle-dave');
  enc.set(g, 'stream');
  const e = `${p}stream:empty`;
  await c.xgroup('CREATE', e, 'g', '$', 'MKSTREAM');
  enc.set(e, 'stream');
  const t = `${p}stream:trimmed`;
  for (let i = 1; i <= 20; i++) await c.xadd(t, 'MAXLEN', '5', `${1000 + i}-0`, 'i', String(i));
  enc.set(t, 'stream');
}

async function fillBulk(c: Redis, p: string, n: number, ttl: boolean): Promise<void> {
  const batch = 1000;
  for (let i = 0; i < n; i += batch) {
    const pipe = c.pipeline();
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const k = `${p}bulk:${j}`;
      switch (j % 10) {
        case 0:
          pipe.rpush(k, `a${j}`, `b${j}`, String(j));
          break;
        case 1:
          pipe.sadd(k, String(j), String(j + 1), `m${j}`);
          break;
        case 2:
          pipe.zadd(k, String(j), `m${j}`, String(-j / 7), 'x');
          break;
        case 3:
          pipe.hset(k, 'f', `v${j}`, 'n', String(j));
          break;
        case 4:
          pipe.sadd(k, String(j), String(-j));
          break;
        default:
          pipe.set(k, j % 2 ? String(j * 1000) : `value-${j}-${'v'.repeat(j % 40)}`);
      }
      if (ttl && j % 7 === 0) pipe.pexpire(k, HOUR * 2 + j);
    }
    await pipe.exec();
  }
}

/** A key as a server reports it, in a canonical form comparable across servers. */
export interface KeySnapshot {
  type: string;
  /** True when the key has a TTL (PTTL > 0). */
  hasTtl: boolean;
  /** string: hex; list: hex[]; set: sorted hex[]; zset: [hex, score][] (by rank); hash: sorted [hex, hex][];
   *  stream: { entries: [id, hex[]][], lastId, groups: [...] }. */
  value: unknown;
}

const hex = (b: Buffer): string => b.toString('hex');

/** A score as Redis prints it ("1.5", "inf", "-inf") as a number. */
export function parseScore(text: string): number {
  const t = text.toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  return Number(t);
}

/** Reads one key's type, TTL presence and full value (binary-safe). */
export async function snapshotKey(c: Redis, key: Buffer | string): Promise<KeySnapshot> {
  const type = await c.type(key);
  const pttl = await c.pttl(key);
  let value: unknown;
  switch (type) {
    case 'hash':
      value = await hashPairs(c, key);
      break;
    case 'stream':
      value = await snapshotStream(c, key);
      break;
    default:
      value = (await plainValue(c, key, type)) ?? null;
  }
  return { type, hasTtl: pttl > 0, value };
}

/**
 * The value of a string, list, set or zset key of TYPE `type`, binary-safe as hex (a set sorted,
 * a zset as [member, score] in order); undefined for any other type.
 */
export async function plainValue(c: Redis, key: Buffer | string, type: string): Promise<unknown> {
  switch (type) {
    case 'string':
      return hex((await c.getBuffer(key))!);
    case 'list':
      return (await c.lrangeBuffer(key, 0, -1)).map(hex);
    case 'set':
      return (await c.smembersBuffer(key)).map(hex).sort();
    case 'zset': {
      const r = await c.zrangeBuffer(key, 0, -1, 'WITHSCORES');
      const out: Array<[string, number]> = [];
      for (let i = 0; i < r.length; i += 2) out.push([hex(r[i]), parseScore(r[i + 1].toString())]);
      return out;
    }
    default:
      return undefined;
  }
}

/** A hash's [field, value] pairs as hex, sorted by field. */
export async function hashPairs(c: Redis, key: Buffer | string): Promise<Array<[string, string]>> {
  const r = (await c.callBuffer('HGETALL', key)) as Buffer[];
  const out: Array<[string, string]> = [];
  for (let i = 0; i < r.length; i += 2) out.push([hex(r[i]), hex(r[i + 1])]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

async function snapshotStream(c: Redis, key: Buffer | string): Promise<unknown> {
  const entries = (await c.callBuffer('XRANGE', key, '-', '+')) as Array<[Buffer, Buffer[]]>;
  const info = (await c.call('XINFO', 'STREAM', key, 'FULL')) as unknown[];
  const get = (arr: unknown[], name: string): unknown => arr[arr.indexOf(name) + 1];
  const groups = ((get(info, 'groups') as unknown[][]) ?? []).map((g) => ({
    name: get(g, 'name'),
    lastId: get(g, 'last-delivered-id'),
    pending: ((get(g, 'pel-count') as number) ?? 0),
    pel: ((get(g, 'pending') as unknown[][]) ?? []).map((e) => [e[0], e[1], e[3]]),
    consumers: ((get(g, 'consumers') as unknown[][]) ?? []).map((cn) => ({
      name: get(cn, 'name'),
      pel: ((get(cn, 'pending') as unknown[][]) ?? []).map((e) => e[0]),
    })),
  }));
  return {
    entries: entries.map(([id, f]) => [id.toString(), f.map(hex)]),
    length: get(info, 'length'),
    lastId: get(info, 'last-generated-id'),
    groups,
  };
}
