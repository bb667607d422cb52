/**
 * The ChunkEntry implementation the parser emits: decoded elements packed into a shared byte slab.
 *
 * NOTE (decode hot path): a Buffer per element costs ~90 ns (a view object) plus GC, more than
 * decoding the element. So the decoders append element bytes (strings copied, integers written as
 * decimal digits, scores as text) to a slab shared by many chunks and record where each ends.
 * `items` materializes the familiar Buffer[] on first access (views of the slab, cached); a writer
 * in a hurry reads `count`, `itemLength(i)` and `writeItem(i, dst, off)` instead and never creates
 * them. The slab is never overwritten once a chunk has been handed out.
 */
import type { ChunkEntry, StreamEntryRecord, StreamMeta } from '../entry.js';
import { BufferView, copyRange, viewOf } from './bytes.js';
import { lzfDecompress, lzfDecompressInto } from './lzf.js';
import { doubleString } from './reader.js';

/** Something decoders append elements to. */
export interface ItemSink {
  /** Appends src[start, end) as one element. */
  addRange(src: Uint8Array, start: number, end: number): void;
  /** Appends the decimal text of an integer as one element. */
  addInt(v: number | bigint): void;
  /** Appends a latin1/ASCII text (scores) as one element. */
  addText(s: string): void;
  /**
   * Appends the LZF-compressed src[start, end) inflated to `ulen` bytes as one element; `offset`
   * (absolute position of src[start]) and `keyOf` name the place in errors.
   */
  addLzf(src: Uint8Array, start: number, end: number, ulen: number, offset: number, keyOf: { readonly key: Buffer | undefined }): void;
}

const SLAB = 256 * 1024;
/** Elements at least this big are kept as views, not copied into the slab. */
const BIG = 1 << 20;
const OFFS = 64 * 1024;
/** The shared byte slab and its first free byte. */
let slab = Buffer.allocUnsafe(SLAB);
let slabPos = 0;
/** A DataView of `slab` (see copyRange()). */
let slabView = viewOf(slab);
/** The shared offsets slab (element end positions) and its first free entry. */
let offSlab = new Int32Array(OFFS);
let offPos = 0;

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000];

/**
 * For a double with 1 to 6 decimals whose shortest round-trip text (String(d)) is d * 10^m with a
 * point m digits from the right: that m; otherwise 0 (use String(d)).
 *
 * Why this gives exactly String(d): t = d * 10^m is checked to be an integer with |t| < 2^52 and
 * t / 10^m === d. Both t and 10^m are exact doubles, so that division is correctly rounded: the
 * decimal t·10^-m parses back to d. Below 2^52 the doubles near t are spaced at most 1/2 apart and
 * at most one m-decimal number lies within d's rounding interval, so the first (smallest) m that
 * works is the shortest form, which is what String(d) prints (fixed notation for |d| >= 1e-6).
 * A t ending in 0 means a shorter form was missed by the rounding of the product: give up then.
 */
export function fewDecimals(d: number): number {
  if (!(d < 4e9 && d > -4e9)) return 0;
  for (let m = 1; m <= 6; m++) {
    const p = POW10[m];
    const t = d * p;
    if (Number.isInteger(t)) return t / p === d && t % 10 !== 0 && t < 2 ** 52 && t > -(2 ** 52) ? m : 0;
  }
  return 0;
}

/** Digits of a non-negative integer below 2^53. */
function digits(x: number): number {
  // NOTE: comparisons, not a division per digit (most integers in RDBs are short).
  if (x < 10) return 1;
  if (x < 100) return 2;
  if (x < 1000) return 3;
  if (x < 10000) return 4;
  if (x < 100000) return 5;
  let d = 6;
  for (let t = 1000000; x >= t && d < 16; t *= 10) d++;
  return d;
}

/** Writes the decimal digits of a non-negative integer x (below 2^53) so that they end before d[end]. */
function writeDigits(d: Uint8Array, end: number, x: number): void {
  let p = end;
  while (x >= 2147483648) {
    const q = Math.floor(x / 10);
    d[--p] = 48 + (x - q * 10);
    x = q;
  }
  // NOTE: int32 arithmetic (| 0) for the low digits: V8 then divides by 10 with a multiply
  // instead of a floating-point division and floor.
  let y = x | 0;
  do {
    const q = (y / 10) | 0;
    d[--p] = 48 + (y - q * 10);
    y = q;
  } while (y > 0);
}

/** See the module comment. */
export class RdbChunk implements ChunkEntry, ItemSink {
  // NOTE: kind and the optional fields live on the prototype (below): smaller objects, less GC.
  declare readonly kind: 'chunk';
  declare fieldExpireAt?: number[];
  declare streamEntries?: StreamEntryRecord[];
  declare stream?: StreamMeta;
  last = false;
  /** The slab holding this chunk's element bytes. */
  data: Buffer = slab;
  /** Element i is data[offs[ob + i], offs[ob + i + 1]) (offs is shared with other chunks). */
  offs: Int32Array = offSlab;
  ob = 0;
  /** Number of packed elements. */
  n = 0;
  private cache: Buffer[] | undefined = undefined;

  constructor() {
    this.start();
  }

  /** Points this (empty) chunk at the current ends of the shared slabs. */
  private start(): void {
    if (offPos + 1 > offSlab.length) {
      offSlab = new Int32Array(OFFS);
      offPos = 0;
    }
    this.data = slab;
    this.offs = offSlab;
    this.ob = offPos;
    offSlab[offPos++] = slabPos;
  }

  /** Number of elements. */
  get count(): number {
    return this.cache !== undefined ? this.cache.length : this.n;
  }

  /** Bytes of element data. */
  get byteLength(): number {
    if (this.cache !== undefined) return this.cache.reduce((n, b) => n + b.length, 0);
    return this.offs[this.ob + this.n] - this.offs[this.ob];
  }

  /** Length of element i. */
  itemLength(i: number): number {
    if (this.cache !== undefined) return this.cache[i].length;
    return this.offs[this.ob + i + 1] - this.offs[this.ob + i];
  }

  /** Copies element i into dst at off; returns the offset after it. */
  writeItem(i: number, dst: Uint8Array, off: number): number {
    if (this.cache !== undefined) {
      dst.set(this.cache[i], off);
      return off + this.cache[i].length;
    }
    const s = this.offs[this.ob + i];
    const e = this.offs[this.ob + i + 1];
    const d = this.data;
    if (e - s <= 64) {
      for (let p = s; p < e; p++) dst[off++] = d[p];
      return off;
    }
    dst.set(d.subarray(s, e), off);
    return off + e - s;
  }

  /** The elements as Buffers (views of the slab, made on first access). */
  get items(): Buffer[] {
    if (this.cache === undefined) {
      const o = this.offs;
      const b = this.ob;
      const d = this.data;
      const out: Buffer[] = new Array(this.n);
      // NOTE: BufferView (see bytes.ts bufferView()) with the slab's buffer and offset read once:
      // decode + items on the mixed file measured 197 ms with a bufferView() call per item, 170 this way.
      const ab = d.buffer;
      const base = d.byteOffset;
      for (let i = 0; i < this.n; i++) out[i] = new BufferView(ab, base + o[b + i], o[b + i + 1] - o[b + i]);
      this.cache = out;
    }
    return this.cache;
  }

  set items(v: Buffer[]) {
    this.cache = v;
  }

  /** Drops elements from index k on (the parser undoing a unit that ran out of input). */
  truncate(k: number): void {
    if (this.cache !== undefined) {
      this.cache.length = Math.min(this.cache.length, k);
      return;
    }
    if (this.n <= k) return;
    const oldEnd = this.offs[this.ob + this.n];
    if (this.offs === offSlab && offPos === this.ob + this.n + 1) offPos = this.ob + k + 1;
    this.n = k;
    if (this.data === slab && slabPos === oldEnd) slabPos = this.offs[this.ob + k];
  }

  /** Reserves len bytes and one offset entry at the end of this chunk; returns the byte position. */
  private reserve(len: number): number {
    const o = this.offs;
    const idx = this.ob + this.n;
    const end = o[idx];
    // Fast path: this chunk is at the end of both shared slabs and they have room.
    if (end === slabPos && idx + 1 === offPos && this.data === slab && o === offSlab && end + len <= slab.length && offPos < o.length && this.cache === undefined) {
      slabPos = end + len;
      return end;
    }
    return this.reserveSlow(len);
  }

  /** reserve() when a slab is full or another chunk appended to the slabs since this one did. */
  private reserveSlow(len: number): number {
    if (this.cache !== undefined) throw new Error('RdbChunk: append after items were materialized');
    if (this.n === 0 && (this.data !== slab || this.offs !== offSlab || this.ob + 1 !== offPos || this.offs[this.ob] !== slabPos)) this.start();
    const o = this.offs;
    const b = this.ob;
    const end = o[b + this.n];
    let at: number;
    if (this.data === slab && end === slabPos && end + len <= slab.length) {
      slabPos = end + len;
      at = end;
    } else {
      // A fresh byte slab; this chunk's bytes so far move along (they must stay contiguous).
      const start = o[b];
      const used = end - start;
      const fresh = Buffer.allocUnsafe(Math.max(SLAB, 2 * (used + len)));
      this.data.copy(fresh, 0, start, end);
      for (let i = 0; i <= this.n; i++) o[b + i] -= start;
      this.data = fresh;
      slab = fresh;
      slabView = viewOf(fresh);
      slabPos = used + len;
      at = used;
    }
    if (!(this.offs === offSlab && b + this.n + 1 === offPos && offPos < offSlab.length)) {
      // A fresh offsets slab, same reason.
      const fresh = new Int32Array(Math.max(OFFS, 2 * (this.n + 2)));
      fresh.set(this.offs.subarray(b, b + this.n + 1), 0);
      this.offs = fresh;
      this.ob = 0;
      offSlab = fresh;
      offPos = this.n + 1;
    }
    return at;
  }

  /** Records the end of the element just written. */
  private commit(end: number): void {
    this.offs[this.ob + ++this.n] = end;
    offPos++;
  }

  addRange(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.cache !== undefined || n >= BIG) {
      // NOTE: a big element is not copied into the slab (that would need a slab twice its size):
      // the chunk switches to keeping Buffers, and this one is a view of its source.
      const items = this.items;
      items.push(n >= BIG && src instanceof Buffer ? src.subarray(start, end) : Buffer.from(src.subarray(start, end)));
      return;
    }
    const at = this.reserve(n);
    copyRange(src, start, end, slab, slabView, at);
    this.commit(at + n);
  }

  addLzf(src: Uint8Array, start: number, end: number, ulen: number, offset: number, keyOf: { readonly key: Buffer | undefined }): void {
    if (this.cache !== undefined || ulen >= BIG) {
      const b = lzfDecompress(src, start, end, ulen, offset, keyOf);
      return this.addRange(b, 0, b.length);
    }
    // NOTE: inflated straight into the slab: no Buffer per compressed string, no second copy.
    const at = this.reserve(ulen);
    lzfDecompressInto(src, start, end, slab, at, ulen, offset, keyOf, slabView);
    this.commit(at + ulen);
  }

  addBuffer(b: Buffer): void {
    this.addRange(b, 0, b.length);
  }

  /**
   * Appends a big Buffer without copying it (pieces of a huge string): the chunk then keeps its
   * elements as Buffers. Only for chunks that hold nothing else.
   */
  addView(b: Buffer): void {
    this.items.push(b);
  }

  addInt(v: number | bigint): void {
    if (this.cache !== undefined) return void this.cache.push(Buffer.from(String(v), 'latin1'));
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return this.addText(String(v));
    const neg = v < 0;
    const x = neg ? -v : v;
    const len = digits(x) + (neg ? 1 : 0);
    const at = this.reserve(len);
    writeDigits(slab, at + len, x);
    if (neg) slab[at] = 45;
    this.commit(at + len);
  }

  /**
   * Appends a score as text ZADD accepts and that round-trips: the same text as doubleString()
   * (shortest form; "inf", "nan").
   */
  addDouble(d: number): void {
    // NOTE: Number -> shortest decimal text (String(d)) is the slowest step of decoding zsets
    // (~4% of a mixed decode); integral scores (counters, timestamps) and scores with a few
    // decimals (1.5, 0.25) are written digit by digit without it.
    if (Number.isSafeInteger(d) && !(d === 0 && 1 / d < 0)) return this.addInt(d);
    const m = fewDecimals(d);
    if (m > 0) return this.addFixed(d * POW10[m], m);
    this.addText(doubleString(d));
  }

  /** Appends t / 10^m (t a nonzero integer below 2^52, 1 <= m <= 6) in fixed notation. */
  private addFixed(t: number, m: number): void {
    const neg = t < 0;
    const x = neg ? -t : t;
    const nd = digits(x);
    const intDigits = nd > m ? nd - m : 1;
    const len = (neg ? 1 : 0) + intDigits + 1 + m;
    const at = this.reserve(len);
    const d = slab;
    const p10 = POW10[m];
    let ip = Math.floor(x / p10);
    // x / p10 is rounded: near 2^52 it can round up to the next integer (ip * p10 is exact).
    if (ip * p10 > x) ip--;
    // The m fraction digits (leading zeros included; below 10^6, so int32 math), the point, the rest.
    let f = (x - ip * p10) | 0;
    let p = at + len;
    for (let i = 0; i < m; i++) {
      const q = (f / 10) | 0;
      d[--p] = 48 + (f - q * 10);
      f = q;
    }
    d[--p] = 46;
    writeDigits(d, p, ip);
    if (neg) d[at] = 45;
    this.commit(at + len);
  }


  addText(s: string): void {
    if (this.cache !== undefined) return void this.cache.push(Buffer.from(s, 'latin1'));
    const n = s.length;
    const at = this.reserve(n);
    const d = this.data;
    for (let i = 0; i < n; i++) d[at + i] = s.charCodeAt(i);
    this.commit(at + n);
  }
}

Object.defineProperties(RdbChunk.prototype, {
  kind: { value: 'chunk', writable: false, enumerable: true },
  fieldExpireAt: { value: undefined, writable: true, enumerable: true },
  streamEntries: { value: undefined, writable: true, enumerable: true },
  stream: { value: undefined, writable: true, enumerable: true },
});

/** A new empty chunk (its region starts at the shared slab's current end). */
export function newChunk(): RdbChunk {
  return new RdbChunk();
}
