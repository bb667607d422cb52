/**
 * Fixtures made by the real server: fill every type and encoding (test/helpers/dataset.ts), SAVE,
 * parse dump.rdb, and check each key against the server: TYPE, TTL, full value (range commands),
 * and the raw payload byte-equal to DUMP.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRdbFile, RdbParser, type RdbRecord } from '../../src/engine/rdb/index.js';
import { fillEveryType, LIBRARY_CODE, parseScore, snapshotKey, type FillReport, type KeySnapshot } from '../helpers/dataset.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';
import { KeyCollector, type CollectedKey } from './collect.js';

const hex = (b: Buffer): string => b.toString('hex');

/** The parsed key in snapshotKey()'s canonical form. */
function snapshotParsed(k: CollectedKey): Omit<KeySnapshot, 'hasTtl'> {
  const it = k.items;
  const pairs = (): Buffer[][] => {
    const out: Buffer[][] = [];
    for (let i = 0; i < it.length; i += 2) out.push([it[i], it[i + 1]]);
    return out;
  };
  switch (k.entry.type) {
    case 'string':
      return { type: 'string', value: hex(Buffer.concat(it)) };
    case 'list':
      return { type: 'list', value: it.map(hex) };
    case 'set':
      return { type: 'set', value: it.map(hex).sort() };
    case 'zset': {
      const z = pairs().map(([m, s]) => [m, parseScore(s.toString())] as [Buffer, number]);
      z.sort((a, b) => (a[1] !== b[1] ? a[1] - b[1] : Buffer.compare(a[0], b[0])));
      return { type: 'zset', value: z.map(([m, s]) => [hex(m), s]) };
    }
    case 'hash':
      return { type: 'hash', value: pairs().map(([f, v]) => [hex(f), hex(v)]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) };
    case 'stream': {
      const s = k.stream!;
      return {
        type: 'stream',
        value: {
          entries: k.streamEntries.map((e) => [e.id, e.fields.map(hex)]),
          length: s.length,
          lastId: s.lastId,
          groups: s.groups.map((g) => {
            const owner = new Map<string, string>();
            for (const c of g.consumers) for (const id of c.pending) owner.set(id, c.name.toString());
            return {
              name: g.name.toString(),
              lastId: g.lastId,
              pending: g.pending.length,
              pel: g.pending.map((pe) => [pe.id, owner.get(pe.id), pe.deliveryCount]),
              consumers: g.consumers.map((c) => ({ name: c.name.toString(), pel: c.pending })),
            };
          }),
        },
      };
    }
    default:
      return { type: k.entry.type, value: null };
  }
}

describe('RDB written by a real redis-server (every type and encoding)', () => {
  let server: TestServer;
  let c: Redis;
  let report: FillReport;
  let rdbPath: string;

  beforeAll(async () => {
    server = await startRedis({ args: ['--enable-debug-command', 'yes', '--rdbcompression', 'yes'] });
    c = server.client();
    report = await fillEveryType(c, { debug: true, bulk: 2000 });
    const c3 = server.client();
    await c3.select(3);
    await c3.set('in-db-3', 'three');
    await c3.rpush('list-in-db-3', 'x');
    // A 3 MB LZF-compressible string: decode mode must inflate it in pieces.
    await c3.set('big:lzf', Buffer.from('0123456789abcdef'.repeat(3 * 65536).replace(/5/g, (_m, i: number) => String.fromCharCode(65 + (i % 26)))));
    await c.save();
    rdbPath = join(server.dir, 'dump.rdb');
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('the dataset has the encodings it promises', async () => {
    for (const [key, want] of report.expectedEncoding) {
      expect(`${key}: ${await c.object('ENCODING', Buffer.from(key, 'latin1'))}`).toBe(`${key}: ${want}`);
    }
  });

  it('payload mode: every payload is byte-equal to DUMP, with TYPE and TTL as on the server', async () => {
    const records: RdbRecord[] = [];
    const parser = await parseRdbFile(rdbPath, {}, (recs) => void records.push(...recs), 64 * 1024);
    expect(parser.checksum).toBe('ok');
    expect(parser.aux.get('redis-ver')).toBe('7.0.15');
    const keys = records.filter((r) => r.kind === 'key');
    expect(keys.length).toBe((await c.dbsize()) + 3);
    const rdbTypes = new Set(keys.map((k) => k.rdbType));
    for (const t of [0, 2, 4, 5, 11, 16, 17, 18, 19]) expect(rdbTypes, `RDB type ${t} present`).toContain(t);
    const now = Date.now();
    for (const k of keys) {
      if (k.db !== 0) continue;
      expect(k.chunked).toBeFalsy();
      const dump = (await c.callBuffer('DUMP', k.key)) as Buffer;
      // The writer fast path (no Buffers): the same bytes, written in place.
      const out = Buffer.alloc(k.keyLength! + k.payloadLength! + 3, 0xee);
      const mid = k.writeKey!(out, 1);
      expect(out.subarray(1, mid).equals(k.key)).toBe(true);
      expect(k.writePayload!(out, mid + 1)).toBe(out.length - 1);
      expect(hex(out.subarray(mid + 1, out.length - 1))).toBe(hex(dump));
      expect(hex(k.payload!), k.key.toString('latin1')).toBe(hex(dump));
      expect(k.type).toBe(await c.type(k.key));
      const pttl = await c.pttl(k.key);
      if (pttl < 0) expect(k.expireAt).toBeNull();
      else expect(Math.abs(k.expireAt! - (now + pttl))).toBeLessThan(10_000);
      if (k.type === 'string' && k.value) expect(hex(k.value)).toBe(hex((await c.getBuffer(k.key))!));
    }
    // list:plain has PLAIN quicklist nodes (container 1): 4 nodes, the 2nd is PLAIN.
    const plain = keys.find((k) => k.key.toString() === 'ds:list:plain')!;
    expect([...plain.payload!.subarray(0, 3)]).toEqual([18, 4, 2]);
    expect(plain.payload!.includes(Buffer.from([1, 0xc3]))).toBe(true); // PLAIN node holding an LZF string
    const compressed = keys.find((k) => k.key.toString() === 'ds:list:compressed')!;
    expect(compressed.payload!.includes(Buffer.from([2, 0xc3]))).toBe(true); // PACKED node stored LZF-compressed
    const fns = records.filter((r) => r.kind === 'function');
    expect(fns.map((f) => f.code.toString())).toEqual([LIBRARY_CODE]);
    expect(hex(fns[0].payload)).toBe(hex((await c.callBuffer('FUNCTION', 'DUMP')) as Buffer));
  });

  it('decode mode (16 KiB chunks): every key equals what the server reports', async () => {
    const col = new KeyCollector();
    let checked = 0;
    const parser = await parseRdbFile(rdbPath, { mode: 'decode' }, (recs) => {
      for (const r of recs) {
        if (r.kind !== 'chunk' || checked > 500) continue;
        // writeItem() (packed fast path) gives the same bytes as the materialized items.
        const n = r.count!;
        const lens = Array.from({ length: n }, (_, i) => r.itemLength!(i));
        const out = Buffer.alloc(lens.reduce((a, b) => a + b, 0));
        let off = 0;
        for (let i = 0; i < n; i++) off = r.writeItem!(i, out, off);
        expect(out.equals(Buffer.concat(r.items))).toBe(true);
        expect(r.items.map((b) => b.length)).toEqual(lens);
        checked++;
      }
      col.add(recs);
    }, 16 * 1024);
    expect(checked).toBeGreaterThan(100);
    expect(parser.done).toBe(true);
    const c3 = server.client();
    await c3.select(3);
    for (const k of col.keys) {
      const client = k.entry.db === 3 ? c3 : c;
      const want = await snapshotKey(client, k.entry.key);
      expect({ key: k.entry.key.toString('latin1'), hasTtl: k.entry.expireAt !== null, ...snapshotParsed(k) }).toEqual({
        key: k.entry.key.toString('latin1'),
        ...want,
      });
    }
    expect(col.keys.filter((k) => k.entry.db === 3).length).toBe(3);
  });

  it('decode mode with a tiny payload limit in payload mode gives the same values', async () => {
    const col = new KeyCollector();
    await parseRdbFile(rdbPath, { mode: 'payload', payloadLimit: 100 }, (recs) => col.add(recs), 4096);
    const big = col.keys.filter((k) => k.entry.chunked);
    expect(big.length).toBeGreaterThan(10);
    for (const k of big.slice(0, 200)) {
      const client = k.entry.db === 3 ? null : c;
      if (!client) continue;
      const want = await snapshotKey(client, k.entry.key);
      expect(snapshotParsed(k)).toEqual({ type: want.type, value: want.value });
    }
  });

  it('a big LZF-compressed string is inflated in pieces, with bounded buffering', async () => {
    const c3 = server.client();
    await c3.select(3);
    const want = (await c3.getBuffer('big:lzf'))!;
    const col = new KeyCollector();
    let pieces = 0;
    let maxBuffered = 0;
    await parseRdbFile(rdbPath, { mode: 'decode' }, (recs, p) => {
      maxBuffered = Math.max(maxBuffered, p.bufferedBytes);
      for (const r of recs) if (r.kind === 'chunk' && r.items.length > 0 && r.items[0].length >= 65536) pieces += r.items.length;
      col.add(recs);
    }, 64 * 1024);
    const k = col.keys.find((x) => x.entry.key.toString() === 'big:lzf')!;
    expect(Buffer.concat(k.items).equals(want)).toBe(true);
    expect(pieces).toBeGreaterThanOrEqual(3);
    expect(maxBuffered).toBeLessThan(1 << 20);
    // Payload mode: under the limit it is one payload equal to DUMP.
    const recs: RdbRecord[] = [];
    await parseRdbFile(rdbPath, {}, (r) => void recs.push(...r), 64 * 1024);
    const pk = recs.find((r) => r.kind === 'key' && r.key.toString() === 'big:lzf') as Extract<RdbRecord, { kind: 'key' }>;
    expect(pk.payload!.equals((await c3.callBuffer('DUMP', 'big:lzf')) as Buffer)).toBe(true);
    expect(pk.payload![1]).toBe(0xc3); // it really is stored LZF-compressed
  });

  it('a parser fed byte-sized pieces of the first 64 KiB keeps up', async () => {
    const buf = readFileSync(rdbPath);
    const p = new RdbParser({ mode: 'decode' });
    const col = new KeyCollector();
    for (let i = 0; i < Math.min(buf.length, 65536); i++) col.add(p.write(buf.subarray(i, i + 1)));
    col.add(p.write(buf.subarray(65536)));
    p.end();
    expect(col.keys.length).toBe((await c.dbsize()) + 3);
  });
});
