/**
 * The decode-mode fast paths (see the NOTEs in src/engine/rdb/chunk.ts, compact.ts, lzf.ts):
 * scores formatted without String(d), compact blobs walked in place inside the input buffer, LZF
 * strings inflated straight into the chunk slab. Each must give exactly what the plain way gives.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { doubleLE, int16LE, int24LE, int32LE, uint32LE } from '../../src/engine/rdb/bytes.js';
import { fewDecimals, RdbChunk } from '../../src/engine/rdb/chunk.js';
import { parseRdbBuffer, RdbError, RdbParser, type RdbRecord } from '../../src/engine/rdb/index.js';
import { lzfDecompress } from '../../src/engine/rdb/lzf.js';
import { doubleString } from '../../src/engine/rdb/reader.js';
import { KeyCollector } from './collect.js';
import { len, listpack, RdbBuilder, str } from './rdb-builder.js';

function scoreText(d: number): string {
  const c = new RdbChunk();
  c.addDouble(d);
  return c.items[0].toString('latin1');
}

/** The next double above (dir 1) or below (dir -1) a finite d. */
function nextDouble(d: number, dir: 1 | -1): number {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, d);
  const bits = v.getBigUint64(0);
  v.setBigUint64(0, d === 0 ? 1n : (d > 0) === (dir > 0) ? bits + 1n : bits - 1n);
  return d === 0 ? dir * v.getFloat64(0) : v.getFloat64(0);
}

/** A deterministic generator (xorshift32), so a failure can be reproduced. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('RdbChunk.addDouble', () => {
  it('writes the same text as doubleString (String(d)) for edge cases', () => {
    const edge = [
      -0, 0, 1.5, -0.125, 0.1 + 0.2, 0.1, 1e21, 5e-7, 1e-6, -1e-6, 1e-7, 1 / 3, -2 / 3, 9.999999, 0.000015,
      123456.789012, 3999999999.999999, 3999999999.999998, 3999999999.999997, 2999999999.999999, 1999999999.999999, -3999999999.5, 4e9 - 0.5, 4503599627.370495, 2 ** 53 - 0.5, 2 ** 53,
      Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON, Infinity, -Infinity, NaN,
    ];
    for (const d of edge) expect(scoreText(d), String(d)).toBe(doubleString(d));
    expect(scoreText(1.5)).toBe('1.5');
    expect(scoreText(-0.125)).toBe('-0.125');
    expect(scoreText(-0)).toBe('-0');
    expect(fewDecimals(1.5)).toBe(1);
    expect(fewDecimals(0.1 + 0.2)).toBe(0);
  });

  it('writes the same text as String(d) for decimals, their neighbours and random doubles, and it round-trips', () => {
    const next = rng(12345);
    const v = new DataView(new ArrayBuffer(8));
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const m = Math.floor(next() * 9);
      const k = Math.floor((next() - 0.5) * 2 * 10 ** (1 + Math.floor(next() * 15)));
      const d = k / 10 ** m;
      values.push(d, nextDouble(d, 1), nextDouble(d, -1), i * 1.5, -i / 7, i * 0.1, i / 1024);
      v.setUint32(0, Math.floor(next() * 2 ** 32));
      v.setUint32(4, Math.floor(next() * 2 ** 32));
      values.push(v.getFloat64(0));
    }
    let fast = 0;
    for (const d of values) {
      const text = scoreText(d);
      if (text !== doubleString(d)) expect(text, `score ${d}`).toBe(doubleString(d));
      if (!Number.isNaN(d) && Number(text) !== d) expect(Number(text), `score ${d}`).toBe(d);
      if (fewDecimals(d) > 0) fast++;
    }
    expect(fast).toBeGreaterThan(values.length / 8); // the fast path is really taken
  });
});

describe('bytes.ts readers', () => {
  it('read what Buffer reads, at every alignment', () => {
    const next = rng(4242);
    const b = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(next() * 256)));
    for (const x of [0, 0xff, 0x7f, 0x80]) b.fill(x, 0, 16);
    for (let p = 0; p + 8 <= b.length; p++) {
      const ok =
        int16LE(b, p) === b.readInt16LE(p) && int24LE(b, p) === b.readIntLE(p, 3) && int32LE(b, p) === b.readInt32LE(p) &&
        uint32LE(b, p) === b.readUInt32LE(p) && Object.is(doubleLE(b, p), b.readDoubleLE(p));
      if (!ok) expect(b.subarray(p, p + 8).toString('hex')).toBe('read the same');
    }
  });
});

describe('RdbChunk.addInt', () => {
  it('writes the same text as String(v) for every width and sign', () => {
    const values: Array<number | bigint> = [0, -0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 2n ** 63n - 1n, -(2n ** 63n)];
    for (let k = 0; k <= 15; k++) values.push(10 ** k, 10 ** k - 1, -(10 ** k), 10 ** k + 1);
    const next = rng(99);
    for (let i = 0; i < 20_000; i++) values.push(Math.floor((next() - 0.5) * 2 ** (1 + Math.floor(next() * 53))));
    const c = new RdbChunk();
    for (const v of values) c.addInt(v);
    const got = c.items.map((b) => b.toString('latin1'));
    expect(got).toEqual(values.map((v) => String(v)));
  });
});

describe('RdbChunk.items', () => {
  it('are real Buffers to every check and API', () => {
    const c = new RdbChunk();
    c.addRange(Buffer.from('hello'), 0, 5);
    c.addInt(-42);
    const [a, b] = c.items;
    for (const x of [a, b]) {
      expect(Buffer.isBuffer(x)).toBe(true);
      expect(x instanceof Buffer).toBe(true);
      expect(x.constructor).toBe(Buffer);
    }
    expect(a).toEqual(Buffer.from('hello'));
    expect(a.toString()).toBe('hello');
    expect(b.readInt8(0)).toBe(0x2d);
    expect(Buffer.concat([a, b]).toString()).toBe('hello-42');
    expect(a.subarray(1, 3)).toEqual(Buffer.from('el'));
    expect(JSON.stringify(b)).toBe(JSON.stringify(Buffer.from('-42')));
    expect(inspect(a)).toBe(inspect(Buffer.from('hello')));
  });
});

describe('RdbChunk.addRange', () => {
  it('copies every length and alignment exactly, from several sources', () => {
    const next = rng(777);
    const sources = [0, 1, 2].map((k) => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31 + k * 7) & 0xff)));
    const c = new RdbChunk();
    const want: Buffer[] = [];
    for (let i = 0; i < 3000; i++) {
      const src = sources[i % 3];
      const n = i < 300 ? i : Math.floor(next() * 70);
      const start = Math.floor(next() * (src.length - n));
      c.addRange(src, start, start + n);
      want.push(src.subarray(start, start + n));
    }
    const got = c.items;
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) if (!got[i].equals(want[i])) expect(got[i].toString('hex'), `item ${i}`).toBe(want[i].toString('hex'));
  });
});

function rdbError(fn: () => unknown): RdbError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RdbError) return e;
    throw e;
  }
  throw new Error('no RdbError thrown');
}

/** Decodes a whole file fed in pieces of `chunk` bytes, collecting keys only at the end. */
function decodeKeys(buf: Buffer, chunk = buf.length): KeyCollector {
  const records: RdbRecord[] = [];
  const p = new RdbParser({ mode: 'decode' });
  for (let i = 0; i < buf.length; i += chunk) records.push(...p.write(buf.subarray(i, i + chunk)));
  p.end();
  // NOTE: collected only after the whole input was parsed: the items of early chunks must still
  // be intact (the slab is never overwritten once a chunk was handed out).
  const c = new KeyCollector();
  c.add(records);
  return c;
}

const items = (c: KeyCollector, key: string): string[] => c.keys.find((k) => k.entry.key.toString() === key)!.items.map((b) => b.toString('latin1'));

/** An intset blob of int16 values. */
function intset16(values: number[]): Buffer {
  const b = Buffer.alloc(8 + 2 * values.length);
  b.writeUInt32LE(2, 0);
  b.writeUInt32LE(values.length, 4);
  values.forEach((x, i) => b.writeInt16LE(x, 8 + 2 * i));
  return b;
}

/** A ziplist of short strings (prevlen 1 byte). */
function ziplist(values: string[]): Buffer {
  const entries: Buffer[] = [];
  let prev = 0;
  for (const s of values) {
    const e = Buffer.concat([Buffer.from([prev, s.length]), Buffer.from(s)]);
    entries.push(e);
    prev = e.length;
  }
  const body = Buffer.concat(entries);
  const head = Buffer.alloc(10);
  head.writeUInt32LE(10 + body.length + 1, 0);
  head.writeUInt16LE(values.length, 8);
  return Buffer.concat([head, body, Buffer.from([0xff])]);
}

describe('compact blobs walked in place', () => {
  const file = new RdbBuilder(11)
    .key(0, 'pad', str('x'.repeat(300)))
    .key(16, 'h', str(listpack(['f1', 'v1', 'n', 7])))
    .key(11, 'is', str(intset16([-3, 5, 300])))
    .key(14, 'ql1', Buffer.concat([len(2), str(ziplist(['a', 'bb'])), str(ziplist(['ccc']))]))
    .key(18, 'ql2', Buffer.concat([len(2), len(2), str(listpack(['x', 1])), len(1), str('plain')]))
    .build();

  it('decodes blobs that lie anywhere in the input, for every split', () => {
    for (const size of [file.length, 7, 64, 101]) {
      const c = decodeKeys(file, size);
      expect(items(c, 'h')).toEqual(['f1', 'v1', 'n', '7']);
      expect(items(c, 'is')).toEqual(['-3', '5', '300']);
      expect(items(c, 'ql1')).toEqual(['a', 'bb', 'ccc']);
      expect(items(c, 'ql2')).toEqual(['x', '1', 'plain']);
    }
  });

  it('decodes every listpack encoding, the rare ones between common ones', () => {
    const entry = (...b: number[]) => Buffer.from([...b, b.length]); // encoding + data + 1-byte back-length
    const i64 = Buffer.alloc(8);
    i64.writeBigInt64LE(-(2n ** 62n));
    const big = Buffer.alloc(8);
    big.writeBigInt64LE(2n ** 62n + 1n);
    const body = Buffer.concat([
      entry(5), // 7-bit uint
      entry(0xf1, 0x18, 0xfc), // int16 -1000
      entry(0x83, 0x61, 0x62, 0x63), // "abc"
      entry(0xf2, 0x60, 0x79, 0xfe), // int24 -100000
      entry(0xdf, 0xff), // int13 -1
      entry(0xf3, 0x00, 0x00, 0x00, 0x80), // int32 -2^31
      entry(0xf4, ...i64), // int64 -2^62
      entry(0xf4, ...big), // int64 beyond 2^53
      entry(0xf0, 2, 0, 0, 0, 0x78, 0x79), // 32-bit length string "xy"
      entry(0xe0, 1, 0x7a), // 12-bit length string "z"
    ]);
    const head = Buffer.alloc(6);
    head.writeUInt32LE(6 + body.length + 1, 0);
    head.writeUInt16LE(10, 4);
    const lp = Buffer.concat([head, body, Buffer.from([0xff])]);
    const c = decodeKeys(new RdbBuilder(11).key(0, 'pad', str('p')).key(14 + 4, 'ql', Buffer.concat([len(1), len(2), str(lp)])).build());
    expect(items(c, 'ql')).toEqual(['5', '-1000', 'abc', '-100000', '-1', String(-(2 ** 31)), String(-(2n ** 62n)), String(2n ** 62n + 1n), 'xy', 'z']);
  });

  it('names the absolute offset of the bad byte and the key', () => {
    const lp = listpack(['a', 'b']);
    lp[6 + 3] = 0xf7; // second element's encoding byte
    const head = new RdbBuilder(11).key(0, 'pad', str('x'.repeat(300)));
    const before = Buffer.concat([Buffer.from('REDIS0011'), Buffer.from([0]), str('pad'), str('x'.repeat(300)), Buffer.from([16]), str('badlp'), len(lp.length)]);
    const e = rdbError(() => parseRdbBuffer(head.key(16, 'badlp', str(lp)).build(), { mode: 'decode' }));
    expect(e.message).toMatch(/listpack entry encoding 0xf7 at byte \d+ of key 'badlp'/);
    expect(e.offset).toBe(before.length + 6 + 3);

    const short = listpack(['abc', 'd']);
    short[6] = 0x80 | 60; // first string claims 60 bytes
    const f = new RdbBuilder(11).key(16, 'shortlp', str(short)).build();
    const e4 = rdbError(() => parseRdbBuffer(f, { mode: 'decode' }));
    expect(e4.message).toMatch(/listpack string past the end at byte \d+ of key 'shortlp'/);
    expect(e4.offset).toBe(f.indexOf(short) + 6);

    const is = intset16([1, 2]);
    is.writeUInt32LE(3, 4); // count says 3
    const e2 = rdbError(() => parseRdbBuffer(new RdbBuilder(11).key(0, 'pad', str('y'.repeat(70))).key(11, 'badis', str(is)).build(), { mode: 'decode' }));
    expect(e2.message).toMatch(/intset length .* of key 'badis'/);
    expect(e2.offset).toBe(9 + 1 + 4 + 2 + 70 + 1 + 6 + 1 + 4);

    const zl = ziplist(['a', 'b']);
    zl[zl.length - 1] = 0x00; // no end marker
    const e3 = rdbError(() => parseRdbBuffer(new RdbBuilder(11).key(14, 'badzl', Buffer.concat([len(1), str(zl)])).build(), { mode: 'decode' }));
    expect(e3.message).toMatch(/ziplist .* of key 'badzl'/);
    expect(e3.offset).toBeGreaterThan(9 + 1 + 6 + 1 + 1);
    expect(e3.offset).toBeLessThanOrEqual(9 + 1 + 6 + 1 + 1 + zl.length);
  });
});

/**
 * A valid LZF encoding (test data only): greedy, the longest match within the last 64 bytes (so
 * back references of every short distance occur, overlapping ones included), literal runs else.
 */
function lzfEncode(src: Buffer): Buffer {
  const out: number[] = [];
  let lit: number[] = [];
  const flush = () => {
    for (let i = 0; i < lit.length; i += 32) {
      const part = lit.slice(i, i + 32);
      out.push(part.length - 1, ...part);
    }
    lit = [];
  };
  let i = 0;
  while (i < src.length) {
    let best = 0;
    let dist = 0;
    for (let d = 1; d <= Math.min(64, i); d++) {
      let n = 0;
      while (i + n < src.length && n < 264 && src[i + n] === src[i - d + n]) n++;
      if (n > best) {
        best = n;
        dist = d;
      }
    }
    if (best >= 3) {
      flush();
      const l = best - 2;
      const off = dist - 1;
      if (l < 7) out.push((l << 5) | (off >> 8), off & 0xff);
      else out.push((7 << 5) | (off >> 8), l - 7, off & 0xff);
      i += best;
    } else {
      lit.push(src[i++]);
    }
  }
  flush();
  return Buffer.from(out);
}

/** An RDB LZF string: 0xC3, len clen, len ulen, data. */
function lzfString(value: Buffer): Buffer {
  const c = lzfEncode(value);
  if (!lzfDecompress(c, 0, c.length, value.length).equals(value)) throw new Error('test LZF encoder is broken');
  return Buffer.concat([Buffer.from([0xc3]), len(c.length), len(value.length), c]);
}

describe('LZF strings inflated into the chunk slab', () => {
  const patterns = ['z', 'ab', 'abc', 'abcd', 'abcdefg', '0123456789abcdef'];
  const value = (i: number, n: number) => Buffer.from(`v${i}-${patterns[i % patterns.length].repeat(n / 2)}-${'q'.repeat(i % 50)}!x${i}y${i}`);

  it('gives the same values as lzfDecompress, across slab growth, and earlier chunks stay intact', () => {
    const b = new RdbBuilder(11);
    const want = new Map<string, Buffer>();
    // Many small strings (fill several 256 KiB slabs) and big ones (a fresh slab each).
    for (let i = 0; i < 2000; i++) {
      const v = value(i, i % 200 === 0 ? 90_000 : 200);
      want.set(`s${i}`, v);
      b.key(0, `s${i}`, lzfString(v));
    }
    // A list whose elements together outgrow a slab: its chunk moves to a fresh slab while filling.
    const list = Array.from({ length: 12 }, (_, i) => value(i, 60_000));
    b.key(1, 'list', Buffer.concat([len(list.length), ...list.map(lzfString)]));
    const file = b.build();
    for (const size of [file.length, 65536]) {
      const keys = new Map(decodeKeys(file, size).keys.map((k) => [k.entry.key.toString(), k.items]));
      for (const [k, v] of want) {
        if (!Buffer.concat(keys.get(k)!).equals(v)) expect(Buffer.concat(keys.get(k)!).toString(), k).toBe(v.toString());
      }
      const got = keys.get('list')!;
      expect(got.length).toBe(list.length);
      got.forEach((g, i) => expect(g.equals(list[i]), `list[${i}]`).toBe(true));
    }
  });

  it('rejects corrupt LZF data naming the offset and the key', () => {
    // literal 'a', then a 3-byte back reference 6 bytes back (only 1 byte was produced)
    const bad = Buffer.from([0xc3, 4, 4, 0x00, 0x61, 0x20, 0x05]);
    const file = new RdbBuilder(11).key(1, 'badlzf', Buffer.concat([len(1), bad])).build();
    const e = rdbError(() => parseRdbBuffer(file, { mode: 'decode' }));
    expect(e.message).toMatch(/LZF data \(back reference before the start\) at byte \d+ of key 'badlzf'/);
    expect(e.offset).toBe(file.indexOf(Buffer.from([0x20, 0x05])) + 2);
  });
});
