/**
 * Valkey 9's RDB (issue 11): magic `VALKEY080` (RDB version 80) and Valkey's own type numbers, whose
 * byte 22 is RDB_TYPE_HASH_2 (a hash with field TTLs: per field `field, value, int64 LE expire-at
 * ms`, -1 none), not Redis' HASH_METADATA_PRE_GA. No Valkey 9 file is in ../shared/rdb-corpus, so
 * the files are built from the format (sources in src/engine/rdb/types.ts RDB_TYPE_VALKEY_HASH_2).
 * Parsed in both modes, whole, byte by byte and split at every byte; the DUMP payload keeps byte 22
 * and version 80 and decodes back; the same byte under the REDIS magic is still Redis' type.
 */
import { describe, expect, it } from 'vitest';
import { decodePayload } from '../../src/engine/rdb/index.js';
import { parseSplit } from './collect.js';
import { RdbBuilder, len, str } from './rdb-builder.js';

const AT = 1_900_000_000_000;

function int64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
}

/** A HASH_2 value: len, then field, value, int64 LE expire-at (-1 = none). */
function hash2(fields: Array<[string, string, number]>): Buffer {
  return Buffer.concat([len(fields.length), ...fields.flatMap(([f, v, at]) => [str(f), str(v), int64(at)])]);
}

const file = new RdbBuilder(80, 'VALKEY')
  .aux('valkey-ver', '9.0.0')
  .key(22, 'h:ttl', hash2([['a', '1', AT], ['b', '2', -1], ['c', 'three', AT + 5]]))
  .key(22, 'h:none', hash2([['x', 'y', -1]]))
  .key(22, 'h:empty', hash2([]))
  .key(0, 's', str('v'))
  .build();

describe('Valkey 9 RDB (VALKEY080)', () => {
  it('decodes RDB_TYPE_HASH_2 with its field TTLs: whole, byte by byte, every split', () => {
    const want = [
      { key: 'h:ttl', items: ['a', '1', 'b', '2', 'c', 'three'], ttl: [AT, 0, AT + 5] },
      { key: 'h:none', items: ['x', 'y'], ttl: [0] },
      { key: 's', items: ['v'], ttl: undefined },
    ];
    const splits = [[], Array.from({ length: file.length - 1 }, (_, i) => i + 1), ...Array.from({ length: file.length - 1 }, (_, i) => [i + 1])];
    for (const split of splits) {
      const { parser, keys } = parseSplit(file, 'decode', split);
      expect(parser.magic).toBe('VALKEY');
      expect(parser.version).toBe(80);
      expect(parser.emptyKeysSkipped).toBe(1);
      expect(keys.map((k) => ({ key: k.entry.key.toString(), items: k.items.map(String), ttl: k.fieldExpireAt }))).toEqual(want);
      expect(keys[0].entry.type).toBe('hash');
    }
  });

  it('payload mode: the DUMP payload keeps type byte 22 and version 80, and decodes back', () => {
    for (const split of [[], Array.from({ length: file.length - 1 }, (_, i) => i + 1)]) {
      const { keys } = parseSplit(file, 'payload', split);
      const h = keys.find((k) => k.entry.key.toString() === 'h:ttl')!;
      const payload = h.entry.payload!;
      expect(payload[0]).toBe(22);
      expect(payload.readUInt16LE(payload.length - 10)).toBe(80);
      const d = decodePayload(payload);
      expect(d.chunk.items.map(String)).toEqual(['a', '1', 'b', '2', 'c', 'three']);
      expect(d.chunk.fieldExpireAt).toEqual([AT, 0, AT + 5]);
    }
  });

  it('byte 22 under the REDIS magic is still Redis 7.4 RC HASH_METADATA_PRE_GA (len ttl, field, value)', () => {
    const redis = new RdbBuilder(12).key(22, 'h', Buffer.concat([len(1), len(AT), str('f'), str('v')])).build();
    const { keys } = parseSplit(redis, 'decode', []);
    expect(keys.map((k) => ({ items: k.items.map(String), ttl: k.fieldExpireAt }))).toEqual([{ items: ['f', 'v'], ttl: [AT] }]);
  });
});
