/**
 * Little-endian fixed-width reads for the decode hot paths.
 *
 * NOTE: Buffer's readInt16LE/readInt32LE/readDoubleLE validate their offset through a wrapper
 * (Node 20: hideStackFrames, a rest-args call inside try/catch) that showed up in profiles of the
 * decode benchmark. Callers check bounds themselves, so these read the bytes directly.
 */

/** Signed 16-bit LE at b[p]. */
export function int16LE(b: Uint8Array, p: number): number {
  return ((b[p] | (b[p + 1] << 8)) << 16) >> 16;
}

/** Signed 24-bit LE at b[p]. */
export function int24LE(b: Uint8Array, p: number): number {
  return ((b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) << 8) >> 8;
}

/** Signed 32-bit LE at b[p]. */
export function int32LE(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
}

/** Unsigned 32-bit LE at b[p]. */
export function uint32LE(b: Uint8Array, p: number): number {
  return int32LE(b, p) >>> 0;
}

/** IEEE 754 double, LE, at b[p] (through the cached DataView of b, see viewFor()). */
export function doubleLE(b: Uint8Array, p: number): number {
  return viewFor(b).getFloat64(p, true);
}

/** A DataView of exactly the bytes of b. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The last buffer viewFor() was asked for, and a DataView of it. */
let srcBuf: Uint8Array | null = null;
let srcView: DataView = viewOf(new Uint8Array(0));

/**
 * A DataView of b, kept for the next call: the parser reads many values from one input chunk,
 * so this makes one view per chunk, not one per value.
 */
export function viewFor(b: Uint8Array): DataView {
  if (b !== srcBuf) {
    srcBuf = b;
    srcView = viewOf(b);
  }
  return srcView;
}

/**
 * Copies src[start, end) into dst at `at` (dstView: a DataView of dst).
 * NOTE: 4 bytes at a time through DataViews (the last word may overlap the one before): a byte
 * loop measured ~2.5 ns per byte here, 2-3x slower for the 8-60-byte elements typical of RDBs;
 * set()/copy() need a view object per call (~90 ns) and only pay off for long ranges. The source's
 * DataView is made once per input buffer (the parser reads one chunk for many elements).
 */
export function copyRange(src: Uint8Array, start: number, end: number, dst: Uint8Array, dstView: DataView, at: number): void {
  const n = end - start;
  if (n < 4) {
    for (let i = 0; i < n; i++) dst[at + i] = src[start + i];
    return;
  }
  if (n > 256) {
    dst.set(src.subarray(start, end), at);
    return;
  }
  const sv = viewFor(src);
  const last = n - 4;
  for (let k = 0; k < last; k += 4) dstView.setInt32(at + k, sv.getInt32(start + k, true), true);
  dstView.setInt32(at + last, sv.getInt32(start + last, true), true);
}

/**
 * Copies len bytes inside dst from dst[from] to dst[to] (to > from) front to back, as an LZF back
 * reference does: when the ranges overlap the copy repeats the bytes between them.
 * NOTE: 4 bytes at a time when the distance allows it (>= 4), and a word fill for runs of one
 * byte (distance 1, the common case for padding): see copyRange() on byte loops.
 */
export function copyBack(dst: Uint8Array, dstView: DataView, from: number, to: number, len: number): void {
  const dist = to - from;
  let k = 0;
  if (dist >= 4) {
    for (; k + 4 <= len; k += 4) dstView.setInt32(to + k, dstView.getInt32(from + k, true), true);
  } else if (dist === 1) {
    const w = dst[from] * 0x01010101;
    for (; k + 4 <= len; k += 4) dstView.setUint32(to + k, w, true);
  }
  for (; k < len; k++) dst[to + k] = dst[from + k];
}

/** Buffer views made cheaply (see bufferView()); `new BufferView(arrayBuffer, byteOffset, length)`. */
export const BufferView = bufferViewClass();

/**
 * A Buffer sharing b[start, end), as b.subarray(start, end) but for in-range arguments only.
 * NOTE: made the way Node makes its own Buffers (a Uint8Array subclass whose prototype chain is
 * Buffer.prototype, `constructor` Buffer), because Buffer#subarray costs ~100 ns per view in
 * Node 20 (argument checks, then the same construction) against ~40 ns for this; decoding makes
 * one per element. The views are Buffers to every check (instanceof, Buffer.isBuffer) and API.
 */
export function bufferView(b: Uint8Array, start: number, end: number): Buffer {
  return new BufferView(b.buffer, b.byteOffset + start, end - start);
}

function bufferViewClass(): new (ab: ArrayBufferLike, byteOffset: number, length: number) => Buffer {
  class BufferView extends Uint8Array {}
  Object.setPrototypeOf(BufferView.prototype, Buffer.prototype);
  Object.defineProperty(BufferView.prototype, 'constructor', { value: Buffer, writable: true, configurable: true });
  return BufferView as unknown as new (ab: ArrayBufferLike, byteOffset: number, length: number) => Buffer;
}
