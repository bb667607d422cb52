/**
 * Walkers for the compact encodings stored as one RDB string: ziplist, listpack, intset, zipmap.
 * Each takes the complete blob and appends its elements (as Buffers: strings share the blob's
 * memory, integers become decimal text) to `out`. `at` is the blob's absolute stream offset and
 * `key` the key, both for error messages ("bad listpack entry at byte 812 of key 'x'").
 */
import type { ItemSink } from './chunk.js';
import { RdbError } from './errors.js';
import { intText } from './reader.js';

/** Where a blob came from, for errors (`reader` names the key lazily: no Buffer per blob). */
export interface BlobCtx {
  at: number;
  key?: Buffer;
  reader?: { readonly key: Buffer | undefined };
}

function bad(ctx: BlobCtx, what: string, p: number): never {
  throw new RdbError(what, ctx.at + p, ctx.key ?? ctx.reader?.key);
}

/**
 * Ziplist: u32 zlbytes, u32 zltail, u16 zllen, entries, 0xFF. Entry: prevlen (1 byte < 254, else
 * 0xFE + u32), encoding, data. Strings 00pppppp / 01pppppp q (14-bit BE) / 0x80 + u32 BE; ints C0
 * int16, D0 int32, E0 int64, F0 int24, FE int8, F1..FD immediate 0..12 (all LE).
 */
export function walkZiplist(blob: Buffer, out: ItemSink, ctx: BlobCtx): void {
  const end = blob.length;
  if (end < 11) bad(ctx, 'ziplist header (too short)', 0);
  let p = 10;
  for (;;) {
    if (p >= end) bad(ctx, 'ziplist (missing end marker)', p);
    const first = blob[p];
    if (first === 0xff) break;
    p += first < 254 ? 1 : 5;
    if (p >= end) bad(ctx, 'ziplist entry', p);
    const e = blob[p];
    const t = e >> 6;
    if (t < 3) {
      let len: number;
      if (t === 0) {
        len = e & 0x3f;
        p += 1;
      } else if (t === 1) {
        if (p + 2 > end) bad(ctx, 'ziplist entry length', p);
        len = ((e & 0x3f) << 8) | blob[p + 1];
        p += 2;
      } else {
        if (p + 5 > end) bad(ctx, 'ziplist entry length', p);
        len = blob.readUInt32BE(p + 1);
        p += 5;
      }
      if (p + len > end) bad(ctx, 'ziplist entry (string past the end)', p);
      out.addRange(blob, p, p + len);
      p += len;
      continue;
    }
    p += 1;
    let v: number | bigint;
    if (e === 0xc0) {
      if (p + 2 > end) bad(ctx, 'ziplist int16', p);
      v = blob.readInt16LE(p);
      p += 2;
    } else if (e === 0xd0) {
      if (p + 4 > end) bad(ctx, 'ziplist int32', p);
      v = blob.readInt32LE(p);
      p += 4;
    } else if (e === 0xe0) {
      if (p + 8 > end) bad(ctx, 'ziplist int64', p);
      v = blob.readBigInt64LE(p);
      p += 8;
    } else if (e === 0xf0) {
      if (p + 3 > end) bad(ctx, 'ziplist int24', p);
      v = blob.readIntLE(p, 3);
      p += 3;
    } else if (e === 0xfe) {
      if (p + 1 > end) bad(ctx, 'ziplist int8', p);
      v = blob.readInt8(p);
      p += 1;
    } else if (e >= 0xf1 && e <= 0xfd) {
      v = (e & 0x0f) - 1;
    } else {
      bad(ctx, `ziplist entry encoding 0x${e.toString(16)}`, p - 1);
    }
    out.addInt(v);
  }
}

/**
 * Steps through a listpack one element at a time (u32 total bytes, u16 count, entries, 0xFF; entry =
 * encoding + data + backlen). After next() returns true, either `str` is the element's bytes or
 * `str` is null and the integer is in `num` (or in `big` when it does not fit a double exactly).
 */
export class ListpackIter {
  p = 6;
  /** After next(): true when the element is a string, at blob[s, e). */
  isStr = false;
  s = 0;
  e = 0;
  num = 0;
  big: bigint | null = null;

  /** The current string element as a Buffer view, or null for an integer. */
  get str(): Buffer | null {
    return this.isStr ? this.blob.subarray(this.s, this.e) : null;
  }

  constructor(
    readonly blob: Buffer,
    readonly ctx: BlobCtx,
  ) {
    if (blob.length < 7) bad(ctx, 'listpack header (too short)', 0);
  }

  /** Advances to the next element; false at the end marker. */
  next(): boolean {
    const blob = this.blob;
    const end = blob.length;
    let p = this.p;
    if (p >= end) bad(this.ctx, 'listpack (missing end marker)', p);
    const e = blob[p];
    if (e === 0xff) return false;
    const start = p;
    this.big = null;
    if (e < 0x80) {
      this.isStr = false;
      this.num = e;
      p += 1;
    } else if ((e & 0xc0) === 0x80) {
      const len = e & 0x3f;
      p += 1;
      if (p + len > end) bad(this.ctx, 'listpack string past the end', start);
      this.isStr = true;
      this.s = p;
      this.e = p + len;
      p += len;
    } else if ((e & 0xe0) === 0xc0) {
      if (p + 2 > end) bad(this.ctx, 'listpack int13', start);
      const v = ((e & 0x1f) << 8) | blob[p + 1];
      this.isStr = false;
      this.num = v >= 4096 ? v - 8192 : v;
      p += 2;
    } else if ((e & 0xf0) === 0xe0) {
      if (p + 2 > end) bad(this.ctx, 'listpack string length', start);
      const len = ((e & 0x0f) << 8) | blob[p + 1];
      p += 2;
      if (p + len > end) bad(this.ctx, 'listpack string past the end', start);
      this.isStr = true;
      this.s = p;
      this.e = p + len;
      p += len;
    } else {
      this.isStr = false;
      switch (e) {
        case 0xf0: {
          if (p + 5 > end) bad(this.ctx, 'listpack string length', start);
          const len = blob.readUInt32LE(p + 1);
          p += 5;
          if (p + len > end) bad(this.ctx, 'listpack string past the end', start);
          this.isStr = true;
          this.s = p;
          this.e = p + len;
          p += len;
          break;
        }
        case 0xf1:
          if (p + 3 > end) bad(this.ctx, 'listpack int16', start);
          this.num = blob.readInt16LE(p + 1);
          p += 3;
          break;
        case 0xf2:
          if (p + 4 > end) bad(this.ctx, 'listpack int24', start);
          this.num = blob.readIntLE(p + 1, 3);
          p += 4;
          break;
        case 0xf3:
          if (p + 5 > end) bad(this.ctx, 'listpack int32', start);
          this.num = blob.readInt32LE(p + 1);
          p += 5;
          break;
        case 0xf4: {
          if (p + 9 > end) bad(this.ctx, 'listpack int64', start);
          const v = blob.readBigInt64LE(p + 1);
          if (v > 9007199254740991n || v < -9007199254740991n) this.big = v;
          else this.num = Number(v);
          p += 9;
          break;
        }
        default:
          bad(this.ctx, `listpack entry encoding 0x${e.toString(16)}`, start);
      }
    }
    const l = p - start;
    p += l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
    if (p > end) bad(this.ctx, 'listpack entry back-length', start);
    this.p = p;
    return true;
  }

  /** The current element as a Buffer (integers as decimal text). */
  value(): Buffer {
    return this.isStr ? this.blob.subarray(this.s, this.e) : intText(this.big ?? this.num);
  }

  /** Appends the current element to a sink. */
  addTo(out: ItemSink): void {
    if (this.isStr) out.addRange(this.blob, this.s, this.e);
    else out.addInt(this.big ?? this.num);
  }

  /** The current element as an integer (strings holding decimal integers are accepted too). */
  int(what: string): number {
    if (!this.isStr) {
      if (this.big !== null) bad(this.ctx, `${what}: integer out of range`, this.p);
      return this.num;
    }
    const n = Number(this.blob.toString('latin1', this.s, this.e));
    if (!Number.isSafeInteger(n)) bad(this.ctx, `${what}: not an integer`, this.p);
    return n;
  }

  /** The current element as a BigInt (stream ID deltas may need all 64 bits). */
  bigint(what: string): bigint {
    if (!this.isStr) return this.big ?? BigInt(this.num);
    try {
      return BigInt(this.blob.toString('latin1', this.s, this.e));
    } catch {
      return bad(this.ctx, `${what}: not an integer`, this.p);
    }
  }
}

/** Appends every listpack element to `out`. */
export function walkListpack(blob: Buffer, out: ItemSink, ctx: BlobCtx): void {
  const it = new ListpackIter(blob, ctx);
  while (it.next()) it.addTo(out);
}

/** Intset: u32 LE encoding (2/4/8 bytes per int), u32 LE count, sorted signed ints (LE). */
export function walkIntset(blob: Buffer, out: ItemSink, ctx: BlobCtx): void {
  if (blob.length < 8) bad(ctx, 'intset header (too short)', 0);
  const enc = blob.readUInt32LE(0);
  const n = blob.readUInt32LE(4);
  if (enc !== 2 && enc !== 4 && enc !== 8) bad(ctx, `intset encoding ${enc}`, 0);
  if (8 + n * enc !== blob.length) bad(ctx, `intset length (${n} x ${enc} bytes in a ${blob.length}-byte blob)`, 4);
  for (let i = 0, p = 8; i < n; i++, p += enc) {
    out.addInt(enc === 2 ? blob.readInt16LE(p) : enc === 4 ? blob.readInt32LE(p) : blob.readBigInt64LE(p));
  }
}

/**
 * Zipmap (RDB < 4 hashes): u8 count; then pairs `len key len free value <free bytes>` where a len is
 * 1 byte (< 254) or 254 + u32 LE; 255 ends the map. Appends field, value, field, value, ...
 */
export function walkZipmap(blob: Buffer, out: ItemSink, ctx: BlobCtx): void {
  const end = blob.length;
  let p = 1;
  const len = (): number => {
    if (p >= end) bad(ctx, 'zipmap length', p);
    const b = blob[p];
    if (b < 254) {
      p += 1;
      return b;
    }
    if (b === 254) {
      if (p + 5 > end) bad(ctx, 'zipmap length', p);
      const n = blob.readUInt32LE(p + 1);
      p += 5;
      return n;
    }
    return -1;
  };
  for (;;) {
    const klen = len();
    if (klen < 0) return;
    if (p + klen > end) bad(ctx, 'zipmap field past the end', p);
    const fieldAt = p;
    p += klen;
    const vlen = len();
    if (vlen < 0) bad(ctx, 'zipmap value length', p);
    if (p >= end) bad(ctx, 'zipmap free byte', p);
    const free = blob[p++];
    if (p + vlen + free > end) bad(ctx, 'zipmap value past the end', p);
    out.addRange(blob, fieldAt, fieldAt + klen);
    out.addRange(blob, p, p + vlen);
    p += vlen + free;
  }
}
