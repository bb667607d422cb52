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

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE 754 double, LE, at b[p]. */
export function doubleLE(b: Uint8Array, p: number): number {
  if (LE) {
    for (let i = 0; i < 8; i++) f64Bytes[i] = b[p + i];
  } else {
    for (let i = 0; i < 8; i++) f64Bytes[7 - i] = b[p + i];
  }
  return f64[0];
}
