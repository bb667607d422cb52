/**
 * RdbParser on synthesized input: framing (trailing bytes, split points), errors (typed, with the
 * field, offset and key), hostile lengths, and big values streamed in bounded memory.
 */
import { describe, expect, it } from 'vitest';
import { decodePayload, parseRdbBuffer, RdbError, RdbParser, type RdbRecord } from '../../src/engine/rdb/index.js';
import { KeyCollector } from './collect.js';
import { len, listpack, RdbBuilder, str } from './rdb-builder.js';

function sample(): Buffer {
  return new RdbBuilder(11)
    .aux('redis-ver', '7.2.0')
    .select(0)
    .key(0, 'medium', str('m'.repeat(100)))
    .raw([0xfb], len(3), len(1))
    .key(0, 'str', str('hello'), 4102444800000)
    .key(0, Buffer.from([0, 0xff]), Buffer.from([0xc0, 0xf6])) // int8 -10
    .key(1, 'list', Buffer.concat([len(3), str('a'), str(''), str('c')]))
    .key(16, 'hash', str(listpack(['f', 'v', 'n', 5])))
    .select(7)
    .key(5, 'z', Buffer.concat([len(1), str('m'), Buffer.from(new Float64Array([1.5]).buffer)]))
    .raw([0xf5], str('#!lua name=x\nredis.register_function("f", function() return 1 end)'))
    .build();
}

function collect(parts: Buffer[], opts = {}): { c: KeyCollector; p: RdbParser } {
  const p = new RdbParser(opts);
  const c = new KeyCollector();
  for (const part of parts) c.add(p.write(part));
  p.end();
  return { c, p };
}

const view = (c: KeyCollector) => ({
  keys: c.keys.map((k) => ({ db: k.entry.db, key: k.entry.key.toString('hex'), type: k.entry.type, exp: k.entry.expireAt, items: k.items.map(String), ttl: k.fieldExpireAt })),
  fns: c.functions.map((f) => f.code.toString()),
});

describe('RdbParser framing', () => {
  it('gives the same records for every split into two pieces (decode and payload mode)', () => {
    const buf = sample();
    for (const mode of ['decode', 'payload'] as const) {
      const want = view(collect([buf], { mode }).c);
      expect(want.keys.length).toBe(6);
      for (let i = 0; i <= buf.length; i++) {
        expect(view(collect([buf.subarray(0, i), buf.subarray(i)], { mode }).c)).toEqual(want);
      }
    }
  });

  it('decodes the sample as written', () => {
    const v = view(collect([sample()], { mode: 'decode' }).c);
    expect(v.keys.shift()).toEqual({ db: 0, key: Buffer.from('medium').toString('hex'), type: 'string', exp: null, items: ['m'.repeat(100)], ttl: undefined });
    expect(v.keys).toEqual([
      { db: 0, key: Buffer.from('str').toString('hex'), type: 'string', exp: 4102444800000, items: ['hello'], ttl: undefined },
      { db: 0, key: '00ff', type: 'string', exp: null, items: ['-10'], ttl: undefined },
      { db: 0, key: Buffer.from('list').toString('hex'), type: 'list', exp: null, items: ['a', '', 'c'], ttl: undefined },
      { db: 0, key: Buffer.from('hash').toString('hex'), type: 'hash', exp: null, items: ['f', 'v', 'n', '5'], ttl: undefined },
      { db: 7, key: Buffer.from('z').toString('hex'), type: 'zset', exp: null, items: ['m', '1.5'], ttl: undefined },
    ]);
    expect(v.fns).toEqual(['#!lua name=x\nredis.register_function("f", function() return 1 end)']);
  });

  it('stops at the end of the RDB and reports its length and the trailing bytes', () => {
    const rdb = sample();
    const extra = Buffer.from('0123456789abcdef0123456789abcdef01234567*1\r\n$4\r\nPING\r\n');
    const all = Buffer.concat([rdb, extra]);
    for (const cut of [1, rdb.length - 5, rdb.length, rdb.length + 3]) {
      const p = new RdbParser();
      p.write(all.subarray(0, cut));
      p.write(all.subarray(cut, cut + 10));
      p.write(all.subarray(cut + 10));
      expect(p.done).toBe(true);
      expect(p.bytesConsumed).toBe(rdb.length);
      expect(p.trailing.toString()).toBe(extra.toString());
      expect(p.checksum).toBe('ok');
    }
  });

  it('accepts a zero checksum as disabled and Valkey magic', () => {
    const { parser } = parseRdbBuffer(new RdbBuilder(80, 'VALKEY').key(0, 'k', str('v')).build(false));
    expect(parser.checksum).toBe('disabled');
    expect(parser.magic).toBe('VALKEY');
    expect(parser.version).toBe(80);
  });
});

function rdbError(f: () => unknown): RdbError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RdbError);
    return e as RdbError;
  }
  throw new Error('expected an RdbError');
}

describe('RdbParser chunk boundaries', () => {
  it('gives the same keys and payloads for any chunk size (bridged boundaries, slow path)', () => {
    const b = new RdbBuilder(11).select(0);
    for (let i = 0; i < 3000; i++) {
      const v = 'v'.repeat(i % 97);
      if (i % 5 === 0) b.key(1, `list:${i}`, Buffer.concat([len(3), str(v), str(''), str(String(i))]));
      else if (i % 7 === 0) b.key(0, `big:${i}`, str('x'.repeat(5000 + i)));
      else b.key(0, `k:${i}`, str(v), i % 3 ? undefined : 4_000_000_000_000 + i);
    }
    const buf = b.build();
    const snap = (size: number, mode: 'payload' | 'decode') => {
      const p = new RdbParser({ mode, payloadLimit: 3000 });
      const c = new KeyCollector();
      for (let i = 0; i < buf.length; i += size) c.add(p.write(buf.subarray(i, i + size)));
      p.end();
      expect(p.checksum).toBe('ok');
      return c.keys.map((k) => [k.entry.key.toString(), k.entry.expireAt, k.entry.chunked ? k.items.map(String).join(',') : k.entry.payload!.toString('hex')]);
    };
    for (const mode of ['payload', 'decode'] as const) {
      const want = snap(buf.length, mode);
      expect(want.length).toBe(3000);
      for (const size of [9000, 10_007, 16_384, 65_536, 100_003]) {
        const got = snap(size, mode);
        const i = got.findIndex((g, j) => JSON.stringify(g) !== JSON.stringify(want[j]));
        if (i >= 0) console.log('DIFF', mode, size, i, JSON.stringify(got[i]).slice(0, 300), JSON.stringify(want[i]).slice(0, 300));
        expect(got).toEqual(want);
      }
    }
  });
});

describe('RdbParser errors', () => {
  it('names what was read, the offset and the key', () => {
    const buf = new RdbBuilder(11).key(16, 'badkey', str(Buffer.from([9, 0, 0, 0, 1, 0, 0xf7, 1, 0xff]))).build();
    const e = rdbError(() => parseRdbBuffer(buf, { mode: 'decode' }));
    expect(e.message).toMatch(/listpack entry encoding 0xf7 at byte \d+ of key 'badkey'/);
    expect(e.offset).toBe(9 + 1 + 7 + 1 + 6);
  });

  it('rejects a bad header, a CRC mismatch, truncation, unknown types and opcodes', () => {
    expect(rdbError(() => parseRdbBuffer(Buffer.from('HELLO0001\xff'))).message).toMatch(/not an RDB file/);
    const good = new RdbBuilder(11).key(0, 'k', str('v')).build();
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 1;
    expect(rdbError(() => parseRdbBuffer(bad)).message).toMatch(/CRC64/);
    expect(rdbError(() => parseRdbBuffer(good.subarray(0, good.length - 3))).message).toMatch(/truncated RDB/);
    expect(rdbError(() => parseRdbBuffer(new RdbBuilder(13).key(26, 'newtype', str('x')).build())).message).toMatch(/unknown RDB type 26/);
    expect(rdbError(() => parseRdbBuffer(new RdbBuilder(13).raw([0xf3]).build())).message).toMatch(/unknown RDB type 243/);
    expect(rdbError(() => parseRdbBuffer(new RdbBuilder(10).raw([0xf6], str('x')).build())).message).toMatch(/FUNCTION_PRE_GA/);
    expect(rdbError(() => parseRdbBuffer(new RdbBuilder(8).key(6, 'm', len(1)).build())).message).toMatch(/MODULE pre-GA/);
  });

  it('rejects hostile lengths before allocating or waiting for them', () => {
    const huge = new RdbBuilder(11).raw([0], str('k'), len(1n << 60n)).build();
    expect(rdbError(() => parseRdbBuffer(huge)).message).toMatch(/too large/);
    const big = new RdbBuilder(11).raw([0], str('k'), len(2 ** 40)).build();
    expect(rdbError(() => parseRdbBuffer(big)).message).toMatch(/exceeds the limit/);
    // A streaming parser must say so as soon as it sees the length, not wait for 2^40 bytes.
    const p = new RdbParser();
    expect(() => p.write(big.subarray(0, 30))).toThrow(RdbError);
    // A count of 2^50 elements with nothing behind it is a truncation, not a hang or an allocation.
    const many = new RdbBuilder(11).raw([1], str('k'), len(2 ** 50)).build();
    expect(rdbError(() => parseRdbBuffer(many)).message).toMatch(/bad RDB/);
  });

  it('decodePayload checks the CRC', () => {
    const { records } = parseRdbBuffer(sample());
    const k = records.find((r) => r.kind === 'key' && r.type === 'list') as Extract<RdbRecord, { kind: 'key' }>;
    expect(decodePayload(k.payload!).chunk.items.map(String)).toEqual(['a', '', 'c']);
    const bad = Buffer.from(k.payload!);
    bad[3] ^= 0x20;
    expect(() => decodePayload(bad)).toThrow(/CRC64/);
  });
});

function bigList(n: number, width: number): Buffer {
  const parts = [len(n)];
  for (let i = 0; i < n; i++) parts.push(str(`${String(i).padStart(width, '0')}`));
  return new RdbBuilder(11).key(1, 'biglist', Buffer.concat(parts)).key(0, 'after', str('x')).build();
}

function feed(p: RdbParser, buf: Buffer, size: number, onRecords: (r: RdbRecord[]) => void): number {
  let maxBuffered = 0;
  for (let i = 0; i < buf.length; i += size) {
    onRecords(p.write(buf.subarray(i, i + size)));
    maxBuffered = Math.max(maxBuffered, p.bufferedBytes);
  }
  p.end();
  return maxBuffered;
}

describe('big values', () => {
  const buf = bigList(100_000, 40); // ~4.2 MB list of 100k elements

  it('decode mode streams a big list in chunks without buffering it', () => {
    const p = new RdbParser({ mode: 'decode' });
    const c = new KeyCollector();
    let chunks = 0;
    let maxItems = 0;
    const maxBuffered = feed(p, buf, 64 * 1024, (recs) => {
      for (const r of recs) if (r.kind === 'chunk') {
        chunks++;
        maxItems = Math.max(maxItems, r.items.length);
      }
      c.add(recs);
    });
    expect(c.keys.map((k) => k.entry.key.toString())).toEqual(['biglist', 'after']);
    expect(c.keys[0].items.length).toBe(100_000);
    expect(c.keys[0].items[99_999].toString()).toBe('99999'.padStart(40, '0'));
    expect(chunks).toBeGreaterThan(20);
    expect(maxItems).toBeLessThanOrEqual(4096);
    expect(maxBuffered).toBeLessThan(200 * 1024);
    expect(c.keys[0].entry.size).toBe(buf.length - 9 - 1 - 8 - 2 - 8 - 1 - 5 - 2);
  });

  it('payload mode: above the limit the key comes decoded; below it the payload is whole', () => {
    const small = new RdbParser({ payloadLimit: 1 << 20 });
    const c = new KeyCollector();
    const maxBuffered = feed(small, buf, 64 * 1024, (r) => c.add(r));
    expect(c.keys[0].entry.chunked).toBe(true);
    expect(c.keys[0].items.length).toBe(100_000);
    expect(maxBuffered).toBeLessThan((1 << 20) + 200 * 1024);

    const whole = parseRdbBuffer(buf, { payloadLimit: 16 << 20 }).records[0] as Extract<RdbRecord, { kind: 'key' }>;
    const streamed = new RdbParser({ payloadLimit: 16 << 20 });
    const c2 = new KeyCollector();
    feed(streamed, buf, 64 * 1024, (r) => c2.add(r));
    expect(c2.keys[0].entry.chunked).toBeFalsy();
    expect(c2.keys[0].entry.payload!.equals(whole.payload!)).toBe(true);
    expect(decodePayload(whole.payload!).chunk.items.length).toBe(100_000);
  });

  it('a big element inside a collection is kept as a view, the others packed', () => {
    const big = Buffer.alloc(2_500_000, 'q');
    const rdb = new RdbBuilder(11).key(1, 'l', Buffer.concat([len(4), str('a'), str(big), str('b'), Buffer.from([0xc0, 0x07])])).build();
    for (const size of [rdb.length, 70_000]) {
      const p = new RdbParser({ mode: 'decode' });
      const c = new KeyCollector();
      let written = 0;
      for (let i = 0; i < rdb.length; i += size) {
        const recs = p.write(rdb.subarray(i, i + size));
        for (const r of recs) {
          if (r.kind !== 'chunk') continue;
          for (let j = 0; j < r.count!; j++) {
            const out = Buffer.alloc(r.itemLength!(j));
            r.writeItem!(j, out, 0);
            expect(out.equals(r.items[j])).toBe(true);
            written++;
          }
        }
        c.add(recs);
      }
      p.end();
      expect(c.keys[0].items.map((b) => (b.length > 10 ? b.length : b.toString()))).toEqual(['a', 2_500_000, 'b', '7']);
      expect(written).toBe(4);
    }
  });

  it('a huge raw string comes in pieces', () => {
    const value = Buffer.alloc(3_000_000);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
    const rdb = new RdbBuilder(11).key(0, 'bigstr', str(value)).build();
    const p = new RdbParser({ mode: 'decode' });
    const c = new KeyCollector();
    const maxBuffered = feed(p, rdb, 100_000, (r) => c.add(r));
    expect(Buffer.concat(c.keys[0].items).equals(value)).toBe(true);
    expect(c.keys[0].items.length).toBeGreaterThan(10);
    expect(maxBuffered).toBeLessThan(200_000);
  });
});
