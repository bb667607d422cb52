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

/** Something decoders append elements to. */
export interface ItemSink {
  /** Appends src[start, end) as one element. */
  addRange(src: Uint8Array, start: number, end: number): void;
  /** Appends the decimal text of an integer as one element. */
  addInt(v: number | bigint): void;
  /** Appends a latin1/ASCII text (scores) as one element. */
  addText(s: string): void;
}

const SLAB = 256 * 1024;
let slab = Buffer.allocUnsafe(SLAB);
let slabPos = 0;

/** See the module comment. */
export class RdbChunk implements ChunkEntry, ItemSink {
  // NOTE: kind and the optional fields live on the prototype (below): smaller objects, less GC.
  declare readonly kind: 'chunk';
  declare fieldExpireAt?: number[];
  declare streamEntries?: StreamEntryRecord[];
  declare stream?: StreamMeta;
  last = false;
  /** The slab holding this chunk's elements. */
  data: Buffer = slab;
  /** Element i is data[offsets[i], offsets[i + 1]). */
  offsets: number[] = [slabPos];
  private cache: Buffer[] | undefined = undefined;

  /** Number of elements. */
  get count(): number {
    return this.cache !== undefined ? this.cache.length : this.offsets.length - 1;
  }

  /** Bytes of element data. */
  get byteLength(): number {
    if (this.cache !== undefined) return this.cache.reduce((n, b) => n + b.length, 0);
    const o = this.offsets;
    return o[o.length - 1] - o[0];
  }

  /** Length of element i. */
  itemLength(i: number): number {
    if (this.cache !== undefined) return this.cache[i].length;
    return this.offsets[i + 1] - this.offsets[i];
  }

  /** Copies element i into dst at off; returns the offset after it. */
  writeItem(i: number, dst: Uint8Array, off: number): number {
    if (this.cache !== undefined) {
      dst.set(this.cache[i], off);
      return off + this.cache[i].length;
    }
    const s = this.offsets[i];
    const e = this.offsets[i + 1];
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
      const o = this.offsets;
      const d = this.data;
      const out: Buffer[] = new Array(o.length - 1);
      for (let i = 0; i + 1 < o.length; i++) out[i] = d.subarray(o[i], o[i + 1]);
      this.cache = out;
    }
    return this.cache;
  }

  set items(v: Buffer[]) {
    this.cache = v;
  }

  /** Drops elements from index n on (the parser undoing a unit that ran out of input). */
  truncate(n: number): void {
    if (this.cache !== undefined) {
      this.cache.length = Math.min(this.cache.length, n);
      return;
    }
    const o = this.offsets;
    if (o.length <= n + 1) return;
    const oldEnd = o[o.length - 1];
    o.length = n + 1;
    if (this.data === slab && slabPos === oldEnd) slabPos = o[n];
  }

  /** Reserves n bytes at the end of this chunk's region; returns their offset in `this.data`. */
  private reserve(n: number): number {
    if (this.cache !== undefined) throw new Error('RdbChunk: append after items were materialized');
    const o = this.offsets;
    if (o.length === 1 && (this.data !== slab || o[0] !== slabPos)) {
      // Empty: start where the shared slab is now.
      this.data = slab;
      o[0] = slabPos;
    }
    const end = o[o.length - 1];
    if (this.data === slab && end === slabPos && end + n <= slab.length) {
      slabPos = end + n;
      return end;
    }
    // A fresh slab; this chunk's bytes so far move along (they must stay contiguous).
    const start = o[0];
    const used = end - start;
    const fresh = Buffer.allocUnsafe(Math.max(SLAB, 2 * (used + n)));
    this.data.copy(fresh, 0, start, end);
    for (let i = 0; i < o.length; i++) o[i] -= start;
    this.data = fresh;
    slab = fresh;
    slabPos = used + n;
    return used;
  }

  addRange(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    const at = this.reserve(n);
    const d = this.data;
    if (n <= 64) {
      for (let i = 0; i < n; i++) d[at + i] = src[start + i];
    } else {
      d.set(src.subarray(start, end), at);
    }
    this.offsets.push(at + n);
  }

  addBuffer(b: Buffer): void {
    this.addRange(b, 0, b.length);
  }

  /**
   * Appends a big Buffer without copying it (pieces of a huge string): the chunk then keeps its
   * elements as Buffers. Only for chunks that hold nothing else.
   */
  addView(b: Buffer): void {
    if (this.cache === undefined) {
      if (this.offsets.length > 1) return this.addBuffer(b);
      this.cache = [];
    }
    this.cache.push(b);
  }

  addInt(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 10) {
      const at = this.reserve(1);
      this.data[at] = 48 + v;
      this.offsets.push(at + 1);
      return;
    }
    this.addText(String(v));
  }

  addText(s: string): void {
    const n = s.length;
    const at = this.reserve(n);
    const d = this.data;
    for (let i = 0; i < n; i++) d[at + i] = s.charCodeAt(i);
    this.offsets.push(at + n);
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
