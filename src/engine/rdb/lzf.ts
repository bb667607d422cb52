/**
 * LZF decompression (the "special string" encoding 3 of RDB strings and quicklist nodes).
 *
 * Format: a control byte c. c < 32: copy c + 1 literal bytes. Otherwise a back reference:
 * len = c >> 5 (7 means "add the next byte"), offset = ((c & 0x1f) << 8) + next byte + 1 back from
 * the output position; copy len + 2 bytes one at a time (the ranges may overlap).
 */
import { RdbError } from './errors.js';

/**
 * Decompresses src[start, end) into a new Buffer of exactly `ulen` bytes. Throws RdbError (with
 * `what`, `offset` as the absolute position of src[start]) on a reference before the start, an
 * overrun, or a result that is not `ulen` bytes.
 */
export function lzfDecompress(src: Uint8Array, start: number, end: number, ulen: number, offset = 0, keyOf?: { readonly key: Buffer | undefined }): Buffer {
  const out = Buffer.allocUnsafe(ulen);
  let ip = start;
  let op = 0;
  const fail = (why: string): never => {
    throw new RdbError(`LZF data (${why})`, offset + (ip - start), keyOf?.key);
  };
  while (ip < end) {
    const c = src[ip++];
    if (c < 32) {
      const n = c + 1;
      if (op + n > ulen) fail('literal run overflows the declared length');
      if (ip + n > end) fail('literal run past the end of the input');
      for (let i = 0; i < n; i++) out[op + i] = src[ip + i];
      op += n;
      ip += n;
    } else {
      let len = c >> 5;
      if (len === 7) {
        if (ip >= end) fail('truncated back reference');
        len += src[ip++];
      }
      if (ip >= end) fail('truncated back reference');
      let ref = op - ((c & 0x1f) << 8) - src[ip++] - 1;
      if (ref < 0) fail('back reference before the start');
      len += 2;
      if (op + len > ulen) fail('back reference overflows the declared length');
      for (let i = 0; i < len; i++) out[op++] = out[ref++];
    }
  }
  if (op !== ulen) fail(`decompressed ${op} bytes, expected ${ulen}`);
  return out;
}
