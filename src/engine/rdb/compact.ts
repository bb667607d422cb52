/**
 * Walkers for the compact encodings stored as one RDB string: ziplist, listpack, intset, zipmap.
 * Each takes the complete blob as buf[start, end) and appends its elements (strings as byte
 * ranges of the blob, integers as decimal text) to `out`. `ctx.at` is the absolute stream offset
 * of buf[start] and `ctx` names the key, both for error messages ("bad listpack entry at byte 812
 * of key 'x'").
 *
 * NOTE (decode hot path): a blob is walked where it lies (usually inside the parser's input chunk)
 * instead of as a Buffer view of its own: a view costs ~90 ns in Node, about as much as walking a
 * small listpack. For the same reason walkListpack() decodes the common encodings with local
 * variables and shares one ListpackIter for the rare ones (walkers never nest).
 */
import type { ItemSink } from './chunk.js';
import { RdbError } from './errors.js';
import { bufferView, int16LE, int24LE, int32LE, uint32LE } from './bytes.js';
import { intText } from './reader.js';

/** Where a blob came from, for errors (`reader` names the key lazily: no Buffer per blob). */
export interface BlobCtx {
  at: number;
  key?: Buffer;
  reader?: { readonly key: Buffer | undefined };
}

/** Throws RdbError for the blob byte `p` bytes after the blob's start. */
function bad(ctx: BlobCtx, what: string, p: number): never {
  throw new RdbError(what, ctx.at + p, ctx.key ?? ctx.reader?.key);
}

/**
 * Ziplist: u32 zlbytes, u32 zltail, u16 zllen, entries, 0xFF. Entry: prevlen (1 byte < 254, else
 * 0xFE + u32), encoding, data. Strings 00pppppp / 01pppppp q (14-bit BE) / 0x80 + u32 BE; ints C0
 * int16, D0 int32, E0 int64, F0 int24, FE int8, F1..FD immediate 0..12 (all LE).
 */
export function walkZiplist(blob: Buffer, start: number, end: number, out: ItemSink, ctx: BlobCtx): void {
  if (end - start < 11) bad(ctx, 'ziplist header (too short)', 0);
  let p = start + 10;
  for (;;) {
    if (p >= end) bad(ctx, 'ziplist (missing end marker)', p - start);
    const first = blob[p];
    if (first === 0xff) break;
    p += first < 254 ? 1 : 5;
    if (p >= end) bad(ctx, 'ziplist entry', p - start);
    const e = blob[p];
    const t = e >> 6;
    if (t < 3) {
      let len: number;
      if (t === 0) {
        len = e & 0x3f;
        p += 1;
      } else if (t === 1) {
        if (p + 2 > end) bad(ctx, 'ziplist entry length', p - start);
        len = ((e & 0x3f) << 8) | blob[p + 1];
        p += 2;
      } else {
        if (p + 5 > end) bad(ctx, 'ziplist entry length', p - start);
        len = blob.readUInt32BE(p + 1);
        p += 5;
      }
      if (p + len > end) bad(ctx, 'ziplist entry (string past the end)', p - start);
      out.addRange(blob, p, p + len);
      p += len;
      continue;
    }
    p += 1;
    let v: number | bigint;
    if (e === 0xc0) {
      if (p + 2 > end) bad(ctx, 'ziplist int16', p - start);
      v = int16LE(blob, p);
      p += 2;
    } else if (e === 0xd0) {
      if (p + 4 > end) bad(ctx, 'ziplist int32', p - start);
      v = int32LE(blob, p);
      p += 4;
    } else if (e === 0xe0) {
      if (p + 8 > end) bad(ctx, 'ziplist int64', p - start);
      v = blob.readBigInt64LE(p);
      p += 8;
    } else if (e === 0xf0) {
      if (p + 3 > end) bad(ctx, 'ziplist int24', p - start);
      v = int24LE(blob, p);
      p += 3;
    } else if (e === 0xfe) {
      if (p + 1 > end) bad(ctx, 'ziplist int8', p - start);
      v = blob.readInt8(p);
      p += 1;
    } else if (e >= 0xf1 && e <= 0xfd) {
      v = (e & 0x0f) - 1;
    } else {
      bad(ctx, `ziplist entry encoding 0x${e.toString(16)}`, p - 1 - start);
    }
    out.addInt(v);
  }
}

/**
 * Steps through a listpack one element at a time (u32 total bytes, u16 count, entries, 0xFF; entry =
 * encoding + data + backlen). After next() returns true, either `isStr` is set and the element is
 * blob[s, e), or the integer is in `num` (or in `big` when it does not fit a double exactly).
 * Positions (`p`, `s`, `e`) index `blob`; the listpack is blob[start, end).
 */
export class ListpackIter {
  blob: Buffer = EMPTY;
  ctx: BlobCtx = NO_CTX;
  start = 0;
  end = 0;
  p = 0;
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

  constructor(blob?: Buffer, ctx?: BlobCtx) {
    if (blob !== undefined) this.reset(blob, 0, blob.length, ctx ?? NO_CTX);
  }

  /** Points the iterator at the listpack blob[start, end) (before its first element). */
  reset(blob: Buffer, start: number, end: number, ctx: BlobCtx): this {
    if (end - start < 7) bad(ctx, 'listpack header (too short)', 0);
    this.blob = blob;
    this.ctx = ctx;
    this.start = start;
    this.end = end;
    this.p = start + 6;
    return this;
  }

  /** Throws RdbError naming `what` at blob[p] (default: the cursor). */
  fail(what: string, p = this.p): never {
    return bad(this.ctx, what, p - this.start);
  }

  /** Advances to the next element; false at the end marker. */
  next(): boolean {
    const blob = this.blob;
    const end = this.end;
    let p = this.p;
    if (p >= end) this.fail('listpack (missing end marker)', p);
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
      if (p + len > end) this.fail('listpack string past the end', start);
      this.isStr = true;
      this.s = p;
      this.e = p + len;
      p += len;
    } else if ((e & 0xe0) === 0xc0) {
      if (p + 2 > end) this.fail('listpack int13', start);
      const v = ((e & 0x1f) << 8) | blob[p + 1];
      this.isStr = false;
      this.num = v >= 4096 ? v - 8192 : v;
      p += 2;
    } else if ((e & 0xf0) === 0xe0) {
      if (p + 2 > end) this.fail('listpack string length', start);
      const len = ((e & 0x0f) << 8) | blob[p + 1];
      p += 2;
      if (p + len > end) this.fail('listpack string past the end', start);
      this.isStr = true;
      this.s = p;
      this.e = p + len;
      p += len;
    } else {
      p = this.wide(e, p);
    }
    const l = p - start;
    p += l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
    if (p > end) this.fail('listpack entry back-length', start);
    this.p = p;
    return true;
  }

  /** The rarer encodings (0xF0..0xF4: 32-bit string length, 16..64-bit ints); returns the new position. */
  private wide(e: number, p: number): number {
    const blob = this.blob;
    const end = this.end;
    const start = p;
    this.isStr = false;
    switch (e) {
      case 0xf0: {
        if (p + 5 > end) this.fail('listpack string length', start);
        const len = blob.readUInt32LE(p + 1);
        p += 5;
        if (p + len > end) this.fail('listpack string past the end', start);
        this.isStr = true;
        this.s = p;
        this.e = p + len;
        return p + len;
      }
      case 0xf1:
        if (p + 3 > end) this.fail('listpack int16', start);
        this.num = int16LE(blob, p + 1);
        return p + 3;
      case 0xf2:
        if (p + 4 > end) this.fail('listpack int24', start);
        this.num = int24LE(blob, p + 1);
        return p + 4;
      case 0xf3:
        if (p + 5 > end) this.fail('listpack int32', start);
        this.num = int32LE(blob, p + 1);
        return p + 5;
      case 0xf4: {
        if (p + 9 > end) this.fail('listpack int64', start);
        const v = blob.readBigInt64LE(p + 1);
        if (v > 9007199254740991n || v < -9007199254740991n) this.big = v;
        else this.num = Number(v);
        return p + 9;
      }
      default:
        return this.fail(`listpack entry encoding 0x${e.toString(16)}`, start);
    }
  }

  /** The current element as a Buffer (integers as decimal text). */
  value(): Buffer {
    return this.isStr ? bufferView(this.blob, this.s, this.e) : intText(this.big ?? this.num);
  }

  /** Appends the current element to a sink. */
  addTo(out: ItemSink): void {
    if (this.isStr) out.addRange(this.blob, this.s, this.e);
    else out.addInt(this.big ?? this.num);
  }

  /** The current element as an integer (strings holding decimal integers are accepted too). */
  int(what: string): number {
    if (!this.isStr) {
      if (this.big !== null) this.fail(`${what}: integer out of range`);
      return this.num;
    }
    const n = Number(this.blob.toString('latin1', this.s, this.e));
    if (!Number.isSafeInteger(n)) this.fail(`${what}: not an integer`);
    return n;
  }

  /** The current element as a BigInt (stream ID deltas may need all 64 bits). */
  bigint(what: string): bigint {
    if (!this.isStr) return this.big ?? BigInt(this.num);
    try {
      return BigInt(this.blob.toString('latin1', this.s, this.e));
    } catch {
      return this.fail(`${what}: not an integer`);
    }
  }
}

const EMPTY = Buffer.alloc(0);
const NO_CTX: BlobCtx = { at: 0 };
const shared = new ListpackIter();

/**
 * Appends every element of the listpack blob[start, end) to `out`.
 * NOTE: the common encodings (7/13/16/24/32-bit ints, 6-bit and 12-bit strings) are decoded here
 * with local variables instead of through ListpackIter's fields (measured faster on the mixed
 * decode benchmark); the rest are handed to the iterator.
 */
export function walkListpack(blob: Buffer, start: number, end: number, out: ItemSink, ctx: BlobCtx): void {
  if (end - start < 7) bad(ctx, 'listpack header (too short)', 0);
  let p = start + 6;
  for (;;) {
    if (p >= end) bad(ctx, 'listpack (missing end marker)', p - start);
    const at = p;
    const e = blob[at];
    if (e === 0xff) return;
    // A string is blob[s, s + len); len < 0 means an integer, in num.
    let s = 0;
    let len = -1;
    let num = 0;
    if (e < 0x80) {
      num = e;
      p = at + 1;
    } else if ((e & 0xc0) === 0x80) {
      s = at + 1;
      len = e & 0x3f;
      p = s + len;
    } else if ((e & 0xe0) === 0xc0) {
      if (at + 2 > end) bad(ctx, 'listpack int13', at - start);
      const v = ((e & 0x1f) << 8) | blob[at + 1];
      num = v >= 4096 ? v - 8192 : v;
      p = at + 2;
    } else if ((e & 0xf0) === 0xe0) {
      if (at + 2 > end) bad(ctx, 'listpack string length', at - start);
      s = at + 2;
      len = ((e & 0x0f) << 8) | blob[at + 1];
      p = s + len;
    } else if (e >= 0xf1 && e <= 0xf3) {
      // int16 / int24 / int32
      const w = e - 0xef;
      if (at + 1 + w > end) bad(ctx, `listpack int${w * 8}`, at - start);
      num = w === 2 ? int16LE(blob, at + 1) : w === 3 ? int24LE(blob, at + 1) : int32LE(blob, at + 1);
      p = at + 1 + w;
    } else {
      const it = shared.reset(blob, start, end, ctx);
      it.p = at;
      it.next();
      it.addTo(out);
      p = it.p;
      continue;
    }
    if (p > end) bad(ctx, 'listpack string past the end', at - start);
    // Back-length: these entries are at most 4097 bytes long, so it takes 1 or 2 bytes.
    p += p - at <= 127 ? 1 : 2;
    if (p > end) bad(ctx, 'listpack entry back-length', at - start);
    if (len >= 0) out.addRange(blob, s, s + len);
    else out.addInt(num);
  }
}

/** Intset: u32 LE encoding (2/4/8 bytes per int), u32 LE count, sorted signed ints (LE). */
export function walkIntset(blob: Buffer, start: number, end: number, out: ItemSink, ctx: BlobCtx): void {
  if (end - start < 8) bad(ctx, 'intset header (too short)', 0);
  const enc = uint32LE(blob, start);
  const n = uint32LE(blob, start + 4);
  if (enc !== 2 && enc !== 4 && enc !== 8) bad(ctx, `intset encoding ${enc}`, 0);
  if (8 + n * enc !== end - start) bad(ctx, `intset length (${n} x ${enc} bytes in a ${end - start}-byte blob)`, 4);
  for (let i = 0, p = start + 8; i < n; i++, p += enc) {
    out.addInt(enc === 2 ? int16LE(blob, p) : enc === 4 ? int32LE(blob, p) : blob.readBigInt64LE(p));
  }
}

/**
 * Zipmap (RDB < 4 hashes): u8 count; then pairs `len key len free value <free bytes>` where a len is
 * 1 byte (< 254) or 254 + u32 LE; 255 ends the map. Appends field, value, field, value, ...
 */
export function walkZipmap(blob: Buffer, start: number, end: number, out: ItemSink, ctx: BlobCtx): void {
  let p = start + 1;
  const len = (): number => {
    if (p >= end) bad(ctx, 'zipmap length', p - start);
    const b = blob[p];
    if (b < 254) {
      p += 1;
      return b;
    }
    if (b === 254) {
      if (p + 5 > end) bad(ctx, 'zipmap length', p - start);
      const n = blob.readUInt32LE(p + 1);
      p += 5;
      return n;
    }
    return -1;
  };
  for (;;) {
    const klen = len();
    if (klen < 0) return;
    if (p + klen > end) bad(ctx, 'zipmap field past the end', p - start);
    const fieldAt = p;
    p += klen;
    const vlen = len();
    if (vlen < 0) bad(ctx, 'zipmap value length', p - start);
    if (p >= end) bad(ctx, 'zipmap free byte', p - start);
    const free = blob[p++];
    if (p + vlen + free > end) bad(ctx, 'zipmap value past the end', p - start);
    out.addRange(blob, fieldAt, fieldAt + klen);
    out.addRange(blob, p, p + vlen);
    p += vlen + free;
  }
}
