/**
 * The RESTORE writer's per-key switch and the chunked commands, against a real target: an RDB
 * built here goes through the engine's sink (payload mode, 64 KiB pieces, as from a socket) and
 * KeyWriter over a real TargetConn. A second server loads the same RDB from disk (DEBUG RELOAD
 * NOSAVE) as the reference, and DEBUG DIGEST of both must be equal.
 * NOTE: the switch is the parser's and works the same at any limit; these tests use LIMIT (small,
 * so they stay quick on a busy machine). sync-bigkeys.test.ts runs the engine at RESTORE_LIMIT.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../src/core/endpoint.js';
import { KeyFilter } from '../../src/engine/apply/filter.js';
import { KeyWriter } from '../../src/engine/apply/key-writer.js';
import { TargetConn } from '../../src/engine/apply/target-conn.js';
import type { ChunkEntry, KeyEntry } from '../../src/engine/entry.js';
import { createRdbSink } from '../../src/engine/rdb-sink.js';
import { digest } from '../helpers/engine.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';
import { pseudoRandomBytes } from '../helpers/dataset.js';
import { len, RdbBuilder, str } from '../rdb/rdb-builder.js';

const DEBUG = ['--enable-debug-command', 'yes'];
// RDB 9 (Redis 5/6): every target in ../shared and Debian's 7.0 RESTOREs its payloads.
const VERSION = 9;
const LIMIT = 256 * 1024;

/** RDB strings of `items`, back to back, in one allocation. */
function strings(items: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const b of items) parts.push(len(b.length), b);
  return Buffer.concat(parts);
}

/** A hash value (RDB_TYPE_HASH) of exactly `size` bytes: fields f:0000000…, and one padded "last". */
function hashOfSize(size: number): Buffer {
  const n = Math.floor((size - 2000) / 20);
  const items: Buffer[] = [];
  for (let i = 0; i < n; i++) items.push(Buffer.from(`f:${String(i).padStart(7, '0')}`), Buffer.from(`v:${String(i).padStart(7, '0')}`));
  const head = len(n + 1);
  const body = strings(items);
  const pad = size - head.length - body.length - str('last').length - 2;
  if (pad < 64 || pad >= 16384) throw new Error(`hashOfSize: pad ${pad} out of the 14-bit length range`);
  const value = Buffer.concat([head, body, str('last'), str(Buffer.alloc(pad, 'p'))]);
  if (value.length !== size) throw new Error(`hashOfSize: ${value.length} != ${size}`);
  return value;
}

/** A zset value (RDB_TYPE_ZSET_2: member, 8-byte LE double) of n members. */
function zset2(n: number): Buffer {
  const parts: Buffer[] = [len(n)];
  for (let i = 0; i < n; i++) {
    const score = Buffer.alloc(8);
    // NOTE: not -0: ZADD into a new key starts a listpack before 7.2, which keeps -0 as 0 (seen
    // on 7.0.15: ZADD z -0 a; ZSCORE z a -> "0"; a key that starts as a skiplist keeps "-0").
    score.writeDoubleLE(i % 3 ? i / 4 : -i - 1);
    parts.push(str(`m:${String(i).padStart(7, '0')}`), score);
  }
  return Buffer.concat(parts);
}

/** A set or list value (RDB_TYPE_SET / RDB_TYPE_LIST) of the given elements. */
function sequence(items: Buffer[]): Buffer {
  return Buffer.concat([len(items.length), strings(items)]);
}

/** A reference server holding the RDB as redis-server itself loads it. */
async function reference(rdb: Buffer, servers: TestServer[]): Promise<TestServer> {
  const s = await startRedis({ args: DEBUG });
  servers.push(s);
  writeFileSync(join(s.dir, 'dump.rdb'), rdb);
  await s.client().call('DEBUG', 'RELOAD', 'NOSAVE');
  return s;
}

let fatal: Error | null = null;

/** A TargetConn to `s` (a broken connection fails the test at its next check). */
function connectTo(s: TestServer): TargetConn {
  return new TargetConn({ endpoint: parseRedisUrl(s.url, '--to'), onFatal: (e) => (fatal ??= e) });
}

/** Calls per command from INFO commandstats. */
async function calls(c: ReturnType<TestServer['client']>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await c.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

describe('KeyWriter: RESTORE up to the limit, chunked commands above it', () => {
  let servers: TestServer[] = [];
  let conn: TargetConn | null = null;
  afterEach(async () => {
    conn?.close();
    conn = null;
    fatal = null;
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
  });

  /** Feeds `rdb` through the sink and a restore-mode KeyWriter into `target`; returns the writer and the most bytes one input piece queued. */
  async function load(rdb: Buffer, target: TestServer): Promise<{ writer: KeyWriter; maxQueued: number }> {
    conn = connectTo(target);
    await conn.connect();
    const failures: Error[] = [];
    const writer = new KeyWriter(conn, { mode: 'restore', filter: new KeyFilter(), warn: () => {}, fail: (e) => failures.push(e) });
    const sink = createRdbSink({ mode: 'payload', payloadLimit: LIMIT, onEntry: (e) => writer.write(e) });
    let maxQueued = 0;
    for (let i = 0; i < rdb.length; i += 64 * 1024) {
      const before = conn.unanswered;
      sink.write(rdb.subarray(i, i + 64 * 1024));
      // Replies arrive only between event-loop turns: the growth is what this piece queued.
      maxQueued = Math.max(maxQueued, conn.unanswered - before);
      await conn.waitForWindow();
    }
    sink.end();
    writer.finish();
    await conn.whenIdle();
    expect(fatal).toBeNull();
    expect(failures).toEqual([]);
    return { writer, maxQueued };
  }

  it('switches per key at the limit; every chunked type lands equal (digest)', async () => {
    const over = LIMIT + 1;
    const members = Math.ceil(over / 18);
    const setItems = Array.from({ length: Math.ceil(over / 10) }, (_, i) => Buffer.from(`s:${String(i).padStart(7, '0')}`));
    const fat = Array.from({ length: Math.ceil(over / (70 * 1024)) }, (_, i) => pseudoRandomBytes(70 * 1024, i + 1));
    const rdb = new RdbBuilder(VERSION)
      .select(0)
      .key(4, 'h:small', Buffer.concat([len(2), strings(['a', '1', 'b', '2'].map((s) => Buffer.from(s)))]))
      .key(4, 'h:at-limit', hashOfSize(LIMIT))
      .key(4, 'h:over', hashOfSize(over), Date.now() + 3_600_000)
      .key(5, 'z:over', zset2(members))
      .key(2, 's:over', sequence(setItems))
      // 70 KiB elements: sent as their own Buffers (not encoded from the packed chunk).
      .key(1, 'l:fat', sequence(fat))
      .build();
    const ref = await reference(rdb, servers);
    const target = await startRedis({ args: DEBUG });
    servers.push(target);

    const { writer } = await load(rdb, target);

    expect(writer.stats).toMatchObject({ keys: 6, restored: 2, commandKeys: 4 });
    const dst = target.client();
    const n = await calls(dst);
    expect(n.restore).toBe(2);
    // Commands of at most 1024 arguments after the key (a command never spans two chunks).
    expect(n.hset).toBeGreaterThanOrEqual(Math.ceil((2 * Math.floor((over - 2000) / 20) + 2) / 1024));
    expect(n.zadd).toBeGreaterThanOrEqual(Math.ceil((2 * members) / 1024));
    expect(n.sadd).toBeGreaterThanOrEqual(Math.ceil(setItems.length / 1024));
    expect(n.rpush).toBeGreaterThanOrEqual(1);
    expect(n.pexpireat).toBe(1);
    for (const k of ['h:small', 'h:at-limit', 'h:over', 'z:over', 's:over', 'l:fat']) {
      expect(String(await dst.call('DEBUG', 'DIGEST-VALUE', k)), k).toBe(String(await ref.client().call('DEBUG', 'DIGEST-VALUE', k)));
    }
    expect(await digest(dst)).toBe(await digest(ref.client()));
    expect(await dst.pttl('h:over')).toBeGreaterThan(3_000_000);
  });

  it('one input piece queues at most a couple of limits, whatever the key size', async () => {
    // 8x the limit: measured, found too big at the limit, decoded from the held bytes, then chunked as it comes.
    const rdb = new RdbBuilder(VERSION).select(0).key(4, 'h:big', hashOfSize(8 * LIMIT)).key(4, 'h:after', Buffer.concat([len(1), strings([Buffer.from('x'), Buffer.from('y')])])).build();
    const ref = await reference(rdb, servers);
    const target = await startRedis({ args: DEBUG });
    servers.push(target);

    const { writer, maxQueued } = await load(rdb, target);

    expect(writer.stats).toMatchObject({ keys: 2, restored: 1, commandKeys: 1 });
    expect(maxQueued).toBeGreaterThan(LIMIT / 2);
    expect(maxQueued).toBeLessThan(2 * LIMIT);
    expect(await digest(target.client())).toBe(await digest(ref.client()));
  });

  it('chunks without the packed fast path (plain Buffers) give the same commands', async () => {
    const target = await startRedis({ args: DEBUG });
    servers.push(target);
    conn = connectTo(target);
    await conn.connect();
    const writer = new KeyWriter(conn, { mode: 'commands', filter: new KeyFilter(), warn: () => {}, fail: (e) => { throw e; } });
    const b = (s: string): Buffer => Buffer.from(s);
    const key = (k: string, type: KeyEntry['type']): KeyEntry => ({ kind: 'key', db: 0, key: b(k), type, rdbType: 0, expireAt: null, chunked: true });
    const chunk = (items: Buffer[], last: boolean): ChunkEntry => ({ kind: 'chunk', items, last });
    const zitems = Array.from({ length: 3000 }, (_, i) => [b(`m${i}`), b(String(i / 2))]).flat();
    writer.write(key('z', 'zset'));
    writer.write(chunk(zitems.slice(0, 2000), false));
    writer.write(chunk(zitems.slice(2000), true));
    writer.write(key('h', 'hash'));
    writer.write(chunk([b('f1'), b('v1'), b('f2'), b('v2')], true));
    writer.write(key('l', 'list'));
    writer.write(chunk([b('a'), Buffer.alloc(70_000, 'b'), b('c')], true));
    writer.finish();
    await conn.whenIdle();
    const dst = target.client();
    expect(await dst.zcard('z')).toBe(3000);
    expect(await dst.zscore('z', 'm2999')).toBe('1499.5');
    expect(await dst.hgetall('h')).toEqual({ f1: 'v1', f2: 'v2' });
    expect(await dst.lrange('l', 0, -1)).toEqual(['a', 'b'.repeat(70_000), 'c']);
  });
});
