/**
 * LZF decompression (the "special string" encoding 3 of RDB strings and quicklist nodes).
 *
 * Format: a control byte c. c < 32: copy c + 1 literal bytes. Otherwise a back reference:
 * len = c >> 5 (7 means "add the next byte"), offset = ((c & 0x1f) << 8) + next byte + 1 back from
 * the output position; copy len + 2 bytes one at a time (the ranges may overlap).
 */
import { copyBack, copyRange, viewOf } from './bytes.js';
import { RdbError } from './errors.js';

/**
 * Decompresses src[start, end) into a new Buffer of exactly `ulen` bytes. Throws RdbError (with
 * `what`, `offset` as the absolute position of src[start]) on a reference before the start, an
 * overrun, or a result that is not `ulen` bytes.
 */
export function lzfDecompress(src: Uint8Array, start: number, end: number, ulen: number, offset = 0, keyOf?: { readonly key: Buffer | undefined }): Buffer {
  const out = Buffer.allocUnsafe(ulen);
  // A DataView costs an object: worth it only when there are enough bytes to copy.
  lzfDecompressInto(src, start, end, out, 0, ulen, offset, keyOf, ulen >= 256 ? viewOf(out) : undefined);
  return out;
}

/**
 * Like lzfDecompress(), but writes the `ulen` bytes into dst[at, at + ulen) (which must exist);
 * back references never reach before dst[at]. With `dstView` (a DataView of dst) bytes are
 * copied a word at a time (see bytes.ts).
 */
export function lzfDecompressInto(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number, ulen: number, offset = 0, keyOf?: { readonly key: Buffer | undefined }, dstView?: DataView): void {
  let ip = start;
  let op = at;
  const limit = at + ulen;
  while (ip < end) {
    const c = src[ip++];
    if (c < 32) {
      const n = c + 1;
      if (op + n > limit) lzfFail('literal run overflows the declared length', ip, start, offset, keyOf);
      if (ip + n > end) lzfFail('literal run past the end of the input', ip, start, offset, keyOf);
      if (dstView !== undefined) copyRange(src, ip, ip + n, dst, dstView, op);
      else for (let i = 0; i < n; i++) dst[op + i] = src[ip + i];
      op += n;
      ip += n;
    } else {
      let len = c >> 5;
      if (len === 7) {
        if (ip >= end) lzfFail('truncated back reference', ip, start, offset, keyOf);
        len += src[ip++];
      }
      if (ip >= end) lzfFail('truncated back reference', ip, start, offset, keyOf);
      const ref = op - ((c & 0x1f) << 8) - src[ip++] - 1;
      if (ref < at) lzfFail('back reference before the start', ip, start, offset, keyOf);
      len += 2;
      if (op + len > limit) lzfFail('back reference overflows the declared length', ip, start, offset, keyOf);
      if (dstView !== undefined) copyBack(dst, dstView, ref, op, len);
      else for (let i = 0; i < len; i++) dst[op + i] = dst[ref + i];
      op += len;
    }
  }
  if (op !== limit) lzfFail(`decompressed ${op - at} bytes, expected ${ulen}`, ip, start, offset, keyOf);
}

// A plain function rather than a closure made on every call of the decompressor.
function lzfFail(why: string, ip: number, start: number, offset: number, keyOf: { readonly key: Buffer | undefined } | undefined): never {
  throw new RdbError(`LZF data (${why})`, offset + (ip - start), keyOf?.key);
}
