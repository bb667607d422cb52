/**
 * A cursor over buffered RDB bytes: lengths, strings (raw, int-encoded, LZF), doubles, fixed ints.
 * One Reader lives as long as its parser (no per-key objects). Reads past `end` either throw the
 * shared NEED_MORE marker (streaming: wait for more input, `needAbs` says how far) or, when `final`
 * is set (a complete buffer such as a DUMP payload), an RdbError "truncated ...".
 *
 * Wire formats (REPLICATION-FACTS.md B):
 *   length: 00xxxxxx 6-bit · 01xxxxxx b 14-bit BE · 0x80 u32 BE · 0x81 u64 BE · 11xxxxxx special
 *   special string: 0 int8 · 1 int16 LE · 2 int32 LE · 3 LZF (len clen, len ulen, clen bytes)
 */
import type { ItemSink } from './chunk.js';
import { doubleLE, int16LE, int32LE, uint32LE } from './bytes.js';
import { lzfDecompress } from './lzf.js';
import { NEED_MORE, RdbError } from './errors.js';

/** RDB_ENC_INT8/16/32 and RDB_ENC_LZF, the low 6 bits of a 11xxxxxx length byte. */
const ENC_INT8 = 0;
const ENC_INT16 = 1;
const ENC_INT32 = 2;
const ENC_LZF = 3;

/** Buffers for the decimal text of small ints, so int-encoded strings allocate once per value. */
const SMALL_INTS: Buffer[] = [];
for (let i = -128; i < 1024; i++) SMALL_INTS.push(Buffer.from(String(i)));

/** Decimal text of an integer as a Buffer (shared Buffers for -128..1023: do not mutate them). */
export function intText(n: number | bigint): Buffer {
  if (typeof n === 'number' && n >= -128 && n < 1024) return SMALL_INTS[n + 128];
  return Buffer.from(String(n), 'latin1');
}

/** See the module comment. */
export class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;
  /** Absolute stream offset of buf[0] (for error messages and `bytesConsumed`). */
  base = 0;
  private keyBuf: Buffer | undefined = undefined;
  private keyFrom = 0;
  private keyTo = 0;
  private keyCache: Buffer | undefined = undefined;

  /** The key being read, for error messages (a view made only when asked for). */
  get key(): Buffer | undefined {
    if (this.keyCache === undefined && this.keyBuf !== undefined) this.keyCache = this.keyBuf.subarray(this.keyFrom, this.keyTo);
    return this.keyCache;
  }

  set key(k: Buffer | undefined) {
    this.keyCache = k;
    this.keyBuf = undefined;
  }

  /** Names the key being read by its position (no Buffer view is made unless an error needs it). */
  setKeyRange(buf: Buffer, from: number, to: number): void {
    this.keyCache = undefined;
    this.keyBuf = buf;
    this.keyFrom = from;
    this.keyTo = to;
  }

  private readonly blobCtx = { at: 0, reader: this as Reader };

  /**
   * The error context for the blob just read by string() (shared object, no allocation: walkers
   * do not nest).
   */
  ctx(): { at: number; reader: Reader } {
    this.blobCtx.at = this.dataAt;
    return this.blobCtx;
  }

  /** Set by keyString(): where a raw key's bytes are in `buf`. */
  rawFrom = 0;
  rawTo = 0;
  /** Set by blob(): where the blob is in the buffer blob() returned. */
  blobFrom = 0;
  blobTo = 0;
  /** After NEED_MORE: the absolute offset the failed read needed to reach. */
  needAbs = 0;
  /** True when buf[pos, end) is all there will ever be: a short read is corruption. */
  final = false;
  /** Largest string/blob accepted (hostile length guard, checked before waiting or allocating). */
  maxLen = 1 << 30;
  /** Set by string(): absolute offset of the string's data (of the compressed data for LZF). */
  dataAt = 0;
  /** Set by readLenOrEnc(): true when the length byte was a special encoding (11xxxxxx). */
  isEnc = false;

  /** Points the reader at buf[pos, end) whose first byte is at absolute offset `base`. */
  reset(buf: Buffer, pos: number, end: number, base: number, final: boolean): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.base = base;
    this.final = final;
  }

  /** Absolute offset of the cursor. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** Throws RdbError naming `what` at the cursor (or at `pos`). */
  fail(what: string, pos = this.pos): never {
    throw new RdbError(what, this.base + pos, this.key);
  }

  /** Called when `n` bytes are needed at the cursor but fewer are buffered. */
  short(n: number, what: string): never {
    if (this.final) this.fail(`truncated ${what}`);
    this.needAbs = this.base + this.pos + n;
    throw NEED_MORE;
  }

  /** Ensures n bytes are buffered at the cursor. */
  ensure(n: number, what: string): void {
    if (this.pos + n > this.end) this.short(n, what);
  }

  u8(what: string): number {
    if (this.pos >= this.end) this.short(1, what);
    return this.buf[this.pos++];
  }

  skip(n: number, what: string): void {
    if (this.pos + n > this.end) this.short(n, what);
    this.pos += n;
  }

  /** n bytes as a Buffer that shares memory with the input (no copy). */
  bytes(n: number, what: string): Buffer {
    if (n > this.maxLen) this.fail(`${what}: length ${n} exceeds the limit ${this.maxLen}`);
    const p = this.pos;
    if (p + n > this.end) this.short(n, what);
    this.pos = p + n;
    return this.buf.subarray(p, p + n);
  }

  int32LE(what: string): number {
    if (this.pos + 4 > this.end) this.short(4, what);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** int64 LE as a number (ms timestamps; exact below 2^53). */
  int64LE(what: string): number {
    if (this.pos + 8 > this.end) this.short(8, what);
    const lo = uint32LE(this.buf, this.pos);
    const hi = int32LE(this.buf, this.pos + 4);
    this.pos += 8;
    return hi * 4294967296 + lo;
  }

  /** u64 big-endian as a BigInt (stream IDs). */
  u64BE(what: string): bigint {
    if (this.pos + 8 > this.end) this.short(8, what);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  doubleLE(what: string): number {
    if (this.pos + 8 > this.end) this.short(8, what);
    const v = doubleLE(this.buf, this.pos);
    this.pos += 8;
    return v;
  }

  floatLE(what: string): number {
    if (this.pos + 4 > this.end) this.short(4, what);
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A length field; special encodings are returned as their 6-bit code with isEnc = true. */
  lenOrEnc(what: string): number {
    const buf = this.buf;
    const p = this.pos;
    if (p >= this.end) this.short(1, what);
    const b = buf[p];
    const t = b >> 6;
    if (t === 0) {
      this.isEnc = false;
      this.pos = p + 1;
      return b;
    }
    if (t === 1) {
      if (p + 2 > this.end) this.short(2, what);
      this.isEnc = false;
      this.pos = p + 2;
      return ((b & 0x3f) << 8) | buf[p + 1];
    }
    if (t === 3) {
      this.isEnc = true;
      this.pos = p + 1;
      return b & 0x3f;
    }
    this.isEnc = false;
    if (b === 0x80) {
      if (p + 5 > this.end) this.short(5, what);
      this.pos = p + 5;
      return buf.readUInt32BE(p + 1);
    }
    if (b === 0x81) {
      if (p + 9 > this.end) this.short(9, what);
      const hi = buf.readUInt32BE(p + 1);
      // NOTE: lengths and counts above 2^53 cannot be real (and would lose precision): reject them
      // here, before anything is allocated or waited for.
      if (hi > 0x1fffff) this.fail(`${what}: length field too large (>= 2^53)`, p);
      this.pos = p + 9;
      return hi * 4294967296 + buf.readUInt32BE(p + 5);
    }
    return this.fail(`${what}: bad length byte 0x${b.toString(16)}`, p);
  }

  /** A plain length (a special encoding here is corruption). */
  len(what: string): number {
    const n = this.lenOrEnc(what);
    if (this.isEnc) this.fail(`${what}: unexpected string encoding ${n} in a length`, this.pos - 1);
    return n;
  }

  /** A length that counts bytes to read (checked against maxLen before any waiting). */
  byteLen(what: string): number {
    const n = this.len(what);
    if (n > this.maxLen) this.fail(`${what}: length ${n} exceeds the limit ${this.maxLen}`);
    return n;
  }

  /** An RDB string as a Buffer: raw bytes share the input; ints become decimal text; LZF is inflated. */
  string(what: string): Buffer {
    const start = this.pos;
    const n = this.lenOrEnc(what);
    this.dataAt = this.base + this.pos;
    if (!this.isEnc) return this.bytes(n, what);
    switch (n) {
      case ENC_INT8: {
        if (this.pos + 1 > this.end) this.short(1, what);
        return intText(this.buf.readInt8(this.pos++));
      }
      case ENC_INT16: {
        if (this.pos + 2 > this.end) this.short(2, what);
        const v = this.buf.readInt16LE(this.pos);
        this.pos += 2;
        return intText(v);
      }
      case ENC_INT32: {
        if (this.pos + 4 > this.end) this.short(4, what);
        const v = this.buf.readInt32LE(this.pos);
        this.pos += 4;
        return intText(v);
      }
      case ENC_LZF: {
        const clen = this.byteLen(`${what} (LZF compressed length)`);
        const ulen = this.byteLen(`${what} (LZF length)`);
        checkLzfRatio(this, clen, ulen, what);
        const p = this.pos;
        if (p + clen > this.end) this.short(clen, what);
        this.pos = p + clen;
        this.dataAt = this.base + p;
        return lzfDecompress(this.buf, p, p + clen, ulen, this.base + p, this);
      }
      default:
        return this.fail(`${what}: unknown string encoding ${n}`, start);
    }
  }

  /**
   * Reads an RDB string holding a compact blob (listpack, ziplist, intset, zipmap) and returns the
   * buffer that holds it at [blobFrom, blobTo): for a raw string the input buffer itself (no view
   * is made: see compact.ts), otherwise the decoded string. Sets dataAt like string().
   */
  blob(what: string): Buffer {
    const p = this.pos;
    const n = this.lenOrEnc(what);
    if (this.isEnc) {
      this.pos = p;
      const b = this.string(what);
      this.blobFrom = 0;
      this.blobTo = b.length;
      return b;
    }
    if (n > this.maxLen) this.fail(`${what}: length ${n} exceeds the limit ${this.maxLen}`);
    const from = this.pos;
    if (from + n > this.end) this.short(n, what);
    this.dataAt = this.base + from;
    this.pos = from + n;
    this.blobFrom = from;
    this.blobTo = from + n;
    return this.buf;
  }

  /**
   * Reads a key string. Raw (the usual case): returns null and leaves its position in rawFrom/rawTo
   * without creating a Buffer; int-encoded or LZF: returns the decoded Buffer.
   */
  keyString(): Buffer | null {
    const buf = this.buf;
    const p = this.pos;
    if (p < this.end) {
      const b = buf[p];
      if (b < 0x40) {
        const to = p + 1 + b;
        if (to > this.end) this.short(1 + b, 'key');
        this.rawFrom = p + 1;
        this.rawTo = to;
        this.pos = to;
        return null;
      }
    }
    const n = this.lenOrEnc('key');
    if (!this.isEnc) {
      if (n > this.maxLen) this.fail(`key: length ${n} exceeds the limit ${this.maxLen}`);
      if (this.pos + n > this.end) this.short(n, 'key');
      this.rawFrom = this.pos;
      this.pos += n;
      this.rawTo = this.pos;
      return null;
    }
    this.pos = p;
    return this.string('key');
  }

  /** Reads an RDB string and appends it to a sink (raw bytes copied, ints as text, LZF inflated). */
  stringInto(out: ItemSink, what: string): void {
    const buf = this.buf;
    const p = this.pos;
    if (p < this.end) {
      const b = buf[p];
      if (b < 0x40) {
        const to = p + 1 + b;
        if (to > this.end) this.short(1 + b, what);
        this.pos = to;
        out.addRange(buf, p + 1, to);
        return;
      }
    }
    const n = this.lenOrEnc(what);
    if (!this.isEnc) {
      if (n > this.maxLen) this.fail(`${what}: length ${n} exceeds the limit ${this.maxLen}`);
      const from = this.pos;
      if (from + n > this.end) this.short(n, what);
      this.pos = from + n;
      out.addRange(buf, from, from + n);
      return;
    }
    const at = this.pos;
    if (n === ENC_INT8) {
      if (at + 1 > this.end) this.short(1, what);
      this.pos = at + 1;
      return out.addInt((buf[at] << 24) >> 24);
    }
    if (n === ENC_INT16) {
      if (at + 2 > this.end) this.short(2, what);
      this.pos = at + 2;
      return out.addInt(int16LE(buf, at));
    }
    if (n === ENC_INT32) {
      if (at + 4 > this.end) this.short(4, what);
      this.pos = at + 4;
      return out.addInt(int32LE(buf, at));
    }
    if (n !== ENC_LZF) return this.fail(`${what}: unknown string encoding ${n}`, p);
    let clen: number;
    let ulen: number;
    const c0 = buf[at];
    const u0 = buf[at + 1];
    if (at + 2 <= this.end && c0 < 0x40 && u0 < 0x40) {
      // NOTE: both lengths below 64 (short strings) are read inline: byteLen() needs its label
      // built from `what`, a string concatenation per value.
      clen = c0;
      ulen = u0;
      this.pos = at + 2;
    } else {
      clen = this.byteLen(`${what} (LZF compressed length)`);
      ulen = this.byteLen(`${what} (LZF length)`);
    }
    checkLzfRatio(this, clen, ulen, what);
    const from = this.pos;
    if (from + clen > this.end) this.short(clen, what);
    this.pos = from + clen;
    this.dataAt = this.base + from;
    out.addLzf(buf, from, from + clen, ulen, this.base + from, this);
  }

  /** A ZSET (type 3) score appended to a sink as text. */
  scoreTextInto(out: ItemSink, what: string): void {
    const n = this.u8(what);
    if (n === 253) return out.addText('nan');
    if (n === 254) return out.addText('inf');
    if (n === 255) return out.addText('-inf');
    const p = this.pos;
    if (p + n > this.end) this.short(n, what);
    this.pos = p + n;
    out.addRange(this.buf, p, p + n);
  }

  /** True when the string at the cursor is stored uncompressed (raw bytes), without moving. */
  peekIsLzf(): boolean {
    return this.pos < this.end && this.buf[this.pos] === 0xc3;
  }

  /** Skips an RDB string without materializing it (LZF data is not inflated). */
  skipString(what: string): void {
    const start = this.pos;
    const n = this.lenOrEnc(what);
    if (!this.isEnc) {
      if (n > this.maxLen) this.fail(`${what}: length ${n} exceeds the limit ${this.maxLen}`);
      if (this.pos + n > this.end) this.short(n, what);
      this.pos += n;
      return;
    }
    switch (n) {
      case ENC_INT8:
        return this.skip(1, what);
      case ENC_INT16:
        return this.skip(2, what);
      case ENC_INT32:
        return this.skip(4, what);
      case ENC_LZF: {
        const clen = this.byteLen(`${what} (LZF compressed length)`);
        checkLzfRatio(this, clen, this.byteLen(`${what} (LZF length)`), what);
        return this.skip(clen, what);
      }
      default:
        this.fail(`${what}: unknown string encoding ${n}`, start);
    }
  }

  /** A ZSET (type 3) score: 1-byte length + ASCII; 253 NaN, 254 +inf, 255 -inf. Returned as text. */
  scoreText(what: string): Buffer {
    const n = this.u8(what);
    if (n === 253) return NAN_TEXT;
    if (n === 254) return INF_TEXT;
    if (n === 255) return NEG_INF_TEXT;
    return this.bytes(n, what);
  }

  skipScoreText(what: string): void {
    const n = this.u8(what);
    if (n < 253) this.skip(n, what);
  }
}

/**
 * LZF cannot expand more than ~88x (a 3-byte back reference yields at most 264 bytes): a larger
 * declared length is corruption, rejected before allocating it.
 */
export function checkLzfRatio(r: Reader, clen: number, ulen: number, what: string): void {
  if (ulen > clen * 88 + 64) r.fail(`${what}: LZF length ${ulen} impossible for ${clen} compressed bytes`);
}

export const NAN_TEXT = Buffer.from('nan');
export const INF_TEXT = Buffer.from('inf');
export const NEG_INF_TEXT = Buffer.from('-inf');

/** A double as the text ZADD/HINCRBYFLOAT accept and that round-trips exactly. */
export function doubleString(d: number): string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (Number.isNaN(d)) return 'nan';
  if (Object.is(d, -0)) return '-0';
  return String(d);
}

/** doubleString() as a Buffer. */
export function doubleText(d: number): Buffer {
  return Buffer.from(doubleString(d), 'latin1');
}
