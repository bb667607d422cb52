/**
 * Empty keys (issue 11): an RDB with empty lists, sets, zsets and hashes in every encoding (as old
 * files and Redis' own test assets hold) parses with those keys skipped, as Redis skips them, and
 * counted; in both parser modes, whether the input comes whole, byte by byte or split anywhere.
 * An empty stream is a real key and stays. `ferry rdb inspect` reports the count.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectSummary, summaryText } from '../../src/engine/rdb/inspect.js';
import { parseSplit } from './collect.js';
import { RdbBuilder, len, listpack, str } from './rdb-builder.js';

/** An empty ziplist: zlbytes 11, zltail 10, zllen 0, end byte. */
function emptyZiplist(): Buffer {
  const b = Buffer.alloc(11);
  b.writeUInt32LE(11, 0);
  b.writeUInt32LE(10, 4);
  b.writeUInt16LE(0, 8);
  b[10] = 0xff;
  return b;
}

/** A ziplist with one 1-byte string "a" (prevlen 0, encoding 0x01). */
function ziplistOf1(): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt32LE(14, 0);
  b.writeUInt32LE(10, 4);
  b.writeUInt16LE(1, 8);
  b.set([0, 0x01, 0x61, 0xff], 10);
  return b;
}

/** An empty intset: encoding 2, length 0. */
function emptyIntset(): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(2, 0);
  return b;
}

function rdb(): Buffer {
  const ttl = Buffer.alloc(8); // HASH_LISTPACK_EX / HASH_METADATA: int64 minExpire first
  return new RdbBuilder(12)
    .key(0, 'real:string', str('v'))
    .key(1, 'empty:list', len(0))
    .key(2, 'empty:set', len(0))
    .key(3, 'empty:zset', len(0))
    .key(4, 'empty:hash', len(0))
    .key(5, 'empty:zset2', len(0), Date.now() + 3_600_000)
    .key(14, 'empty:quicklist', len(0))
    .key(18, 'empty:quicklist2', len(0))
    .key(14, 'empty:quicklist-empty-nodes', Buffer.concat([len(2), str(emptyZiplist()), str(emptyZiplist())]))
    .key(18, 'empty:quicklist2-empty-node', Buffer.concat([len(1), len(2), str(listpack([]))]))
    .key(14, 'real:quicklist', Buffer.concat([len(2), str(emptyZiplist()), str(ziplistOf1())]))
    .key(18, 'real:quicklist2-plain', Buffer.concat([len(1), len(1), str('plain element')]))
    .key(9, 'empty:zipmap', str(Buffer.from([0, 0xff])))
    .key(10, 'empty:ziplist', str(emptyZiplist()))
    .key(11, 'empty:intset', str(emptyIntset()))
    .key(12, 'empty:zsetziplist', str(emptyZiplist()))
    .key(13, 'empty:hashziplist', str(emptyZiplist()))
    .key(16, 'empty:hashlistpack', str(listpack([])))
    .key(17, 'empty:zsetlistpack', str(listpack([])))
    .key(20, 'empty:setlistpack', str(listpack([])))
    .key(24, 'empty:hashmeta', Buffer.concat([ttl, len(0)]))
    .key(25, 'empty:hashlpex', Buffer.concat([ttl, str(listpack([]))]))
    .key(20, 'real:set', str(listpack(['a', 'b'])))
    .key(1, 'real:list', Buffer.concat([len(1), str('x')]))
    .build();
}
const EMPTY = 19;

function parse(buf: Buffer, mode: 'payload' | 'decode', split: number[]): { keys: string[]; skipped: number } {
  const { parser, keys } = parseSplit(buf, mode, split);
  return { keys: keys.map((k) => k.entry.key.toString()), skipped: parser.emptyKeysSkipped };
}

describe('empty keys in an RDB', () => {
  const buf = rdb();
  for (const mode of ['payload', 'decode'] as const) {
    it(`are skipped and counted (${mode} mode; whole, byte by byte, split at every byte)`, () => {
      const want = { keys: ['real:string', 'real:quicklist', 'real:quicklist2-plain', 'real:set', 'real:list'], skipped: EMPTY };
      expect(parse(buf, mode, [])).toEqual(want);
      expect(parse(buf, mode, Array.from({ length: buf.length - 1 }, (_, i) => i + 1))).toEqual(want);
      for (let i = 1; i < buf.length; i++) expect(parse(buf, mode, [i])).toEqual(want);
    });
  }

  it('an empty stream stays (it is a real key)', () => {
    // STREAM_LISTPACKS (15): 0 nodes, length 0, last id 0-0, 0 groups.
    const b = new RdbBuilder(9).key(15, 'empty:stream', Buffer.concat([len(0), len(0), len(0), len(0), len(0)])).build();
    expect(parse(b, 'decode', [])).toEqual({ keys: ['empty:stream'], skipped: 0 });
  });

  it('ferry rdb inspect counts them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-empty-'));
    try {
      const file = join(dir, 'dump.rdb');
      writeFileSync(file, buf);
      const s = await inspectSummary(file);
      expect(s.emptyKeysSkipped).toBe(EMPTY);
      expect(s.dbs[0].keys).toBe(5);
      expect(summaryText(s)).toMatch(new RegExp(`empty keys skipped: ${EMPTY} `));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
