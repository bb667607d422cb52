/**
 * CRC64 (Redis' Jones polynomial) in a tiny hand-assembled WebAssembly module: slice-by-8 with
 * native 64-bit integers, run on three lanes at once. Used for long ranges (the RDB file checksum);
 * short ranges (RESTORE payloads) stay in JavaScript because copying into wasm memory and the call
 * cost more there.
 *
 * NOTE (three lanes): one slice-by-8 step is a chain of dependent operations (xor, 8 table loads,
 * xor tree) that the next step must wait for; a single lane ran at ~1.4 GB/s, bound by that
 * latency, not by the CPU's load ports. So each super-block of 3 * LANE bytes is hashed as three
 * independent lanes in one loop (the CPU overlaps their chains), and the three CRCs are combined:
 * the CRC is linear, so crc(s, A B C) = Z2(crc(s, A)) ^ Z1(crc(0, B)) ^ crc(0, C), where Z1 / Z2
 * are "append LANE / 2 * LANE zero bytes", applied like one slice-by-8 step with their own tables.
 *
 * Memory layout (2 pages): [0, 16384) the eight 256-entry u64 slice tables (table k at k * 2048,
 * table 0 the classic byte table), [16384, 32768) Z1's tables, [32768, 49152) Z2's (table b maps
 * byte b of the state), [RESULT, RESULT + 8) the result, [INPUT, INPUT + WASM_BLOCK) the input.
 *
 *   (func (export "crc") (param $lo i32) (param $hi i32) (param $p i32) (param $n i32)
 *     crc = hi:lo; end = p + n
 *     while end - p >= 3 * LANE:                       three lanes, then combine
 *       c1 = c2 = 0; stop = p + LANE
 *       do: crc = step(crc ^ load64(p)); c1 = step(c1 ^ load64(p + LANE)); c2 = step(c2 ^ load64(p + 2 * LANE)); p += 8
 *       while p < stop
 *       crc = Z2(crc) ^ Z1(c1) ^ c2; p += 2 * LANE
 *     while p < end8: crc = step(crc ^ load64(p)); p += 8      (step: T7[x & ff] ^ ... ^ T0[x >> 56])
 *     while p < end: crc = T0[(crc ^ load8(p)) & ff] ^ (crc >> 8)
 *     store64(RESULT, crc))
 */

/** Bytes per lane (a multiple of 8). */
export const LANE = 1024;
const Z1 = 16384;
const Z2 = 32768;
const RESULT = 49152;
const INPUT = 49216;
/** Bytes hashed per call (fits the 2-page memory after the tables; a multiple of 3 * LANE). */
export const WASM_BLOCK = 3 * LANE * 26;

// --- a minimal assembler: just what the one function needs ---
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];

const I32 = 0x7f;
const I64 = 0x7e;
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32c = (v: number) => [0x41, ...sleb(v)];
const i64c = (v: number) => [0x42, ...sleb(v)];
const load64 = (offset: number) => [0x29, 3, ...uleb(offset)];

// params: 0 lo, 1 hi, 2 p, 3 n; locals: i64 crc, x, c1, c2; i32 end, end8, stop, xl, xh
const L_CRC = 4;
const L_X = 5;
const L_C1 = 6;
const L_C2 = 7;
const L_END = 8;
const L_END8 = 9;
const L_STOP = 10;
const L_XL = 11;
const L_XH = 12;

/**
 * tables[base + byte * 8] for byte = (w >> shift) & 0xff of the i32 local w, pushed as an i64.
 * NOTE: the byte is scaled to a table offset in the same shift + mask ((w >> (shift - 3)) & 0x7f8):
 * two i32 ops per lookup instead of four i64/i32 ops; the lookups are what the CPU spends its time on.
 */
const lookup = (w: number, shift: number, base: number) => [
  ...get(w),
  ...(shift === 0 ? [...i32c(3), 0x74 /* i32.shl */] : [...i32c(shift - 3), 0x76 /* i32.shr_u */]),
  ...i32c(0x7f8), 0x71 /* i32.and */, ...load64(base),
];

/** Splits the i64 local x into the i32 locals L_XL (low half) and L_XH (high half). */
const split = (x: number) => [...get(x), 0xa7 /* i32.wrap_i64 */, ...set(L_XL), ...get(x), ...i64c(32), 0x88 /* i64.shr_u */, 0xa7, ...set(L_XH)];

/** Slice-by-8 step of the i64 local x (byte 0 through table 7, byte 7 through table 0). */
const step = (x: number) => [
  ...split(x),
  ...lookup(L_XL, 0, 7 * 2048), ...lookup(L_XL, 8, 6 * 2048), 0x85, ...lookup(L_XL, 16, 5 * 2048), 0x85,
  ...lookup(L_XL, 24, 4 * 2048), 0x85, ...lookup(L_XH, 0, 3 * 2048), 0x85, ...lookup(L_XH, 8, 2 * 2048), 0x85,
  ...lookup(L_XH, 16, 2048), 0x85, ...lookup(L_XH, 24, 0), 0x85,
];

/** A zeros operator (tables at base, byte b through table b) applied to the i64 local x. */
const applyZ = (x: number, base: number) => [
  ...split(x),
  ...lookup(L_XL, 0, base), ...lookup(L_XL, 8, base + 2048), 0x85, ...lookup(L_XL, 16, base + 2 * 2048), 0x85,
  ...lookup(L_XL, 24, base + 3 * 2048), 0x85, ...lookup(L_XH, 0, base + 4 * 2048), 0x85,
  ...lookup(L_XH, 8, base + 5 * 2048), 0x85, ...lookup(L_XH, 16, base + 6 * 2048), 0x85, ...lookup(L_XH, 24, base + 7 * 2048), 0x85,
];

/** x = c ^ load64(p + offset); c = step(x). */
const laneStep = (c: number, offset: number) => [
  ...get(c), ...get(2), ...load64(offset), 0x85 /* i64.xor */, ...set(L_X), ...step(L_X), ...set(c),
];

function body(): number[] {
  const code: number[] = [
    // crc = (u64)hi << 32 | (u64)lo; end = p + n
    ...get(1), 0xad, ...i64c(32), 0x86, ...get(0), 0xad, 0x84, ...set(L_CRC),
    ...get(2), ...get(3), 0x6a, ...set(L_END),
    // block { loop { if end - p < 3 * LANE break; three lanes; combine; continue } }
    0x02, 0x40, 0x03, 0x40,
    ...get(L_END), ...get(2), 0x6b /* i32.sub */, ...i32c(3 * LANE), 0x49 /* i32.lt_u */, 0x0d, 1,
    ...i64c(0), ...set(L_C1), ...i64c(0), ...set(L_C2),
    ...get(2), ...i32c(LANE), 0x6a, ...set(L_STOP),
    0x03, 0x40,
    ...laneStep(L_CRC, 0), ...laneStep(L_C1, LANE), ...laneStep(L_C2, 2 * LANE),
    ...get(2), ...i32c(8), 0x6a, ...set(2),
    ...get(2), ...get(L_STOP), 0x49 /* i32.lt_u */, 0x0d, 0,
    0x0b,
    ...applyZ(L_CRC, Z2), ...applyZ(L_C1, Z1), 0x85, ...get(L_C2), 0x85, ...set(L_CRC),
    ...get(2), ...i32c(2 * LANE), 0x6a, ...set(2),
    0x0c, 0, 0x0b, 0x0b,
    // end8 = p + ((end - p) & ~7)
    ...get(2), ...get(L_END), ...get(2), 0x6b, ...i32c(-8), 0x71, 0x6a, ...set(L_END8),
    // block { loop { if p >= end8 break; crc = step(crc ^ load64(p)); p += 8; continue } }
    0x02, 0x40, 0x03, 0x40,
    ...get(2), ...get(L_END8), 0x4f /* i32.ge_u */, 0x0d, 1,
    ...laneStep(L_CRC, 0),
    ...get(2), ...i32c(8), 0x6a, ...set(2),
    0x0c, 0, 0x0b, 0x0b,
    // tail: block { loop { if p >= end break; crc = T0[(crc ^ byte) & ff] ^ (crc >> 8); p++ } }
    0x02, 0x40, 0x03, 0x40,
    ...get(2), ...get(L_END), 0x4f, 0x0d, 1,
    ...get(L_CRC), ...get(2), 0x31 /* i64.load8_u */, 0, 0, 0x85, 0xa7 /* i32.wrap_i64 */, ...set(L_XL),
    ...lookup(L_XL, 0, 0), ...get(L_CRC), ...i64c(8), 0x88, 0x85, ...set(L_CRC),
    ...get(2), ...i32c(1), 0x6a, ...set(2),
    0x0c, 0, 0x0b, 0x0b,
    // store the result
    ...i32c(RESULT), ...get(L_CRC), 0x37 /* i64.store */, 3, 0,
    0x0b,
  ];
  const locals = vec([[4, I64], [5, I32]]);
  const fn = [...locals, ...code];
  return [...uleb(fn.length), ...fn];
}

function moduleBytes(): Uint8Array {
  const type = section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), 0]]));
  const func = section(3, vec([[0]]));
  const mem = section(5, vec([[0, 2]]));
  const name = (s: string) => [...uleb(s.length), ...Buffer.from(s)];
  const exp = section(7, vec([[...name('crc'), 0, 0], [...name('mem'), 2, 0]]));
  const code = section(10, vec([body()]));
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...type, ...func, ...mem, ...exp, ...code]);
}

// NOTE: the project's lib setting (ES2022, no DOM) has no WebAssembly types; declare what is used.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

interface WasmCrc {
  crc: (lo: number, hi: number, p: number, n: number) => void;
  mem: Uint8Array;
  result: Int32Array;
}

/** Instantiates the module with the tables (T_LO/T_HI: slice-by-8 tables as 32-bit halves). */
export function createWasmCrc(tLo: Int32Array, tHi: Int32Array): WasmCrc | null {
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), {});
    const memory = inst.exports.mem as { buffer: ArrayBuffer };
    const words = new Int32Array(memory.buffer, 0, RESULT / 4);
    for (let i = 0; i < 2048; i++) {
      words[2 * i] = tLo[i];
      words[2 * i + 1] = tHi[i];
    }
    zerosTables(tLo, tHi, LANE, words, Z1 / 4);
    zerosTables(tLo, tHi, 2 * LANE, words, Z2 / 4);
    return {
      crc: inst.exports.crc as WasmCrc['crc'],
      mem: new Uint8Array(memory.buffer),
      result: new Int32Array(memory.buffer, RESULT, 2),
    };
  } catch {
    return null; // no WebAssembly: the JavaScript loop does the work
  }
}

/**
 * Tables of the linear operator "append `zeros` zero bytes to the CRC state", written as u64 pairs
 * at words[at...]: entry (b, v) = operator(v << 8b), so applying it to a state x is the XOR of
 * entry (b, byte b of x) over the 8 bytes. Built from the images of the 64 single-bit states.
 */
function zerosTables(tLo: Int32Array, tHi: Int32Array, zeros: number, words: Int32Array, at: number): void {
  const imgLo = new Int32Array(64);
  const imgHi = new Int32Array(64);
  for (let bit = 0; bit < 64; bit++) {
    let lo = bit < 32 ? 1 << bit : 0;
    let hi = bit < 32 ? 0 : 1 << (bit - 32);
    for (let i = 0; i < zeros; i++) {
      const idx = lo & 0xff;
      lo = tLo[idx] ^ ((lo >>> 8) | (hi << 24));
      hi = tHi[idx] ^ (hi >>> 8);
    }
    imgLo[bit] = lo;
    imgHi[bit] = hi;
  }
  for (let b = 0; b < 8; b++) {
    const t = at + b * 512;
    words[t] = 0;
    words[t + 1] = 0;
    for (let v = 1; v < 256; v++) {
      const low = 31 - Math.clz32(v & -v); // lowest set bit of v
      const rest = v & (v - 1);
      words[t + 2 * v] = words[t + 2 * rest] ^ imgLo[8 * b + low];
      words[t + 2 * v + 1] = words[t + 2 * rest + 1] ^ imgHi[8 * b + low];
    }
  }
}

/** Hashes src[start, end) through the module, continuing from (lo, hi); returns [lo, hi]. */
export function wasmUpdate(w: WasmCrc, lo: number, hi: number, src: Uint8Array, start: number, end: number, out: Int32Array): void {
  let p = start;
  while (p < end) {
    const n = Math.min(WASM_BLOCK, end - p);
    w.mem.set(src.subarray(p, p + n), INPUT);
    w.crc(lo, hi, INPUT, n);
    lo = w.result[0];
    hi = w.result[1];
    p += n;
  }
  out[0] = lo;
  out[1] = hi;
}
