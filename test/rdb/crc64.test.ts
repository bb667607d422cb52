/**
 * CRC64 (Jones, reflected, as Redis computes it): the check value, and the fast paths (JavaScript
 * byte loop and slice-by-8, WebAssembly three-lane slice-by-8) against a plain bit-at-a-time
 * reference, over lengths around every path's boundaries and fed in arbitrary pieces.
 * (FERRY_CRC64_JS=1 runs the long ranges through JavaScript too.)
 */
import { describe, expect, it } from 'vitest';
import { Crc64, crc64 } from '../../src/engine/rdb/crc64.js';
import { LANE, WASM_BLOCK } from '../../src/engine/rdb/crc64-wasm.js';
import { pseudoRandomBytes } from '../helpers/dataset.js';

const POLY = 0x95ac9329ac4bc9b5n;

/** One bit at a time: obviously the definition, too slow for anything else. */
function reference(buf: Uint8Array, crc = 0n): bigint {
  for (const byte of buf) {
    crc ^= BigInt(byte);
    for (let b = 0; b < 8; b++) crc = crc & 1n ? (crc >> 1n) ^ POLY : crc >> 1n;
  }
  return crc;
}

describe('crc64', () => {
  it('matches the check value Redis tests with', () => {
    expect(crc64(Buffer.from('123456789'))).toBe(0xe9c6d914c4b8d9can);
    expect(crc64(Buffer.alloc(0))).toBe(0n);
  });

  it('matches the bitwise reference on every path (JS, wasm lanes, wasm tail), at odd offsets', () => {
    const data = pseudoRandomBytes(2 * WASM_BLOCK + 3 * LANE + 77, 7);
    const ref = (n: number, off: number) => reference(data.subarray(off, off + n));
    const lengths = [1, 300, 1000, 3000, 7, 8, 15, 16, 17, 23, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097, 3 * LANE - 1, 3 * LANE, 3 * LANE + 1, 3 * LANE + 8, 6 * LANE + 5, WASM_BLOCK - 1, WASM_BLOCK, WASM_BLOCK + 1, 2 * WASM_BLOCK + 3 * LANE + 70];
    for (const n of lengths) {
      for (const off of [0, 1, 3, 7]) expect(crc64(data, off, off + n), `length ${n} at offset ${off}`).toBe(ref(n, off));
    }
  });

  it('gives the same result however the input is split', () => {
    const data = pseudoRandomBytes(5 * 3 * LANE + 1234, 99);
    const whole = reference(data);
    let seed = 12345;
    for (let round = 0; round < 20; round++) {
      const c = new Crc64();
      let p = 0;
      while (p < data.length) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const n = Math.min(data.length - p, round % 2 ? seed % 64 : seed % (4 * 3 * LANE));
        c.update(data, p, p + n);
        p += n;
      }
      expect(c.digest()).toBe(whole);
    }
  });
});
