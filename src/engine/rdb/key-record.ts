/**
 * The KeyEntry implementation the parser emits.
 *
 * NOTE (hot path): a class, not object literals, so every key has the same hidden class; and the
 * key, the string value and the DUMP payload are computed lazily by prototype getters from the
 * input buffer the record points into (`src`). Creating a Buffer view costs ~90 ns in Node, more
 * than parsing a small key, so the parser creates none per key; a writer that composes its output
 * itself can skip them too with writeKey()/writePayload() (bytes copied straight into its buffer).
 * The input chunks must not be modified after they were passed to the parser.
 */
import type { KeyEntry, ValueType } from '../entry.js';
import { bufferView } from './bytes.js';
import { Crc64 } from './crc64.js';
import { intText } from './reader.js';
import { VALUE_TYPE } from './types.js';

/** Copies src[start, end) to dst at off (a byte loop for short ranges: no view object); returns the end. */
export function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, off: number): number {
  const n = end - start;
  if (n <= 64) {
    for (let i = 0; i < n; i++) dst[off + i] = src[start + i];
  } else {
    dst.set(src.subarray(start, end), off);
  }
  return off + n;
}

const scratch = new Crc64();

/** Writes a DUMP payload into dst at off: type + src[start, end) + version u16 LE + CRC64 LE. */
export function writePayloadTo(dst: Uint8Array, off: number, type: number, src: Uint8Array, start: number, end: number, version: number): number {
  const n = end - start;
  dst[off] = type;
  copyBytes(src, start, end, dst, off + 1);
  dst[off + n + 1] = version & 0xff;
  dst[off + n + 2] = (version >> 8) & 0xff;
  scratch.lo = 0;
  scratch.hi = 0;
  scratch.update(dst, off, off + n + 3).writeLE(dst, off + n + 3);
  return off + n + 11;
}

/** Builds a DUMP/RESTORE payload: type byte + value bytes + version u16 LE + CRC64 LE. */
export function buildPayload(type: number, src: Uint8Array, start: number, end: number, version: number): Buffer {
  const out = Buffer.allocUnsafe(end - start + 11);
  writePayloadTo(out, 0, type, src, start, end, version);
  return out;
}

/** buildPayload of a value held in several pieces (the slow path's parts), without joining them first. */
export function buildPayloadFromParts(type: number, parts: readonly Buffer[], version: number): Buffer {
  let n = 0;
  for (const part of parts) n += part.length;
  const out = Buffer.allocUnsafe(n + 11);
  out[0] = type;
  let p = 1;
  for (const part of parts) p += part.copy(out, p);
  out[p++] = version & 0xff;
  out[p++] = (version >> 8) & 0xff;
  new Crc64().update(out, 0, p).writeLE(out, p);
  return out;
}

/** An int-encoded string's integer (length byte 0xc0/0xc1/0xc2 at src[p]). */
function intValue(src: Buffer, p: number): number {
  const b = src[p];
  if (b === 0xc0) return (src[p + 1] << 24) >> 24;
  if (b === 0xc1) return ((src[p + 1] | (src[p + 2] << 8)) << 16) >> 16;
  return src[p + 1] | (src[p + 2] << 8) | (src[p + 3] << 16) | (src[p + 4] << 24);
}

/** Decimal text of an int32 (small values from a table: no string made). */
function decimalText(n: number): string {
  return n >= 0 && n < SMALL_TEXT.length ? SMALL_TEXT[n] : String(n);
}
const SMALL_TEXT = Array.from({ length: 1024 }, (_, i) => String(i));

/** Length of decimalText(n), counted without making the text. */
function decimalTextLength(n: number): number {
  let len = n < 0 ? 2 : 1;
  for (let x = Math.abs(n); x >= 10; x = Math.floor(x / 10)) len++;
  return len;
}

/** A key as the RDB parser emits it (see KeyEntry). */
export class RdbKeyEntry implements KeyEntry {
  // NOTE: kind, module, idle and freq live on the prototype (see below the class) and become own
  // properties only on the keys that have them: a smaller object per key, less GC on the hot path.
  declare readonly kind: 'key';
  declare module: { name: string; version: number } | undefined;
  declare idle: number | null;
  declare freq: number | null;
  declare chunked: boolean;
  private declare keyCache: Buffer | undefined;
  private declare payloadCache: Buffer | undefined;

  constructor(
    public db: number,
    public rdbType: number,
    public expireAt: number | null,
    /** Bytes of the value in the RDB (for chunked keys: final once the last chunk was emitted). */
    public size: number,
    /** The input buffer holding the key and (payload keys) the value; null for materialized keys. */
    private src: Buffer | null,
    /** A raw key is src[keyStart, valueStart): the value follows the key directly. */
    private keyStart: number,
    private valueStart: number,
    private version: number,
  ) {}

  /** Logical type, from the RDB type byte. */
  get type(): ValueType {
    return VALUE_TYPE[this.rdbType]!;
  }

  /** A key record whose key (and maybe payload) exist as Buffers already (slow path). */
  static of(db: number, key: Buffer, rdbType: number, expireAt: number | null, version: number): RdbKeyEntry {
    const e = new RdbKeyEntry(db, rdbType, expireAt, 0, null, 0, 0, version);
    e.keyCache = key;
    e.chunked = true;
    return e;
  }

  /** The key (a view of the input; created on first access). */
  get key(): Buffer {
    // NOTE: bufferView, not subarray: ~2.5x cheaper per view, and the engine asks for every key.
    return (this.keyCache ??= bufferView(this.src!, this.keyStart, this.valueStart));
  }

  set key(k: Buffer) {
    this.keyCache = k;
  }

  /** Key length in bytes. */
  get keyLength(): number {
    return this.keyCache ? this.keyCache.length : this.valueStart - this.keyStart;
  }

  /** Copies the key into dst at off; returns the offset after it. */
  writeKey(dst: Uint8Array, off: number): number {
    if (this.keyCache) {
      dst.set(this.keyCache, off);
      return off + this.keyCache.length;
    }
    return copyBytes(this.src!, this.keyStart, this.valueStart, dst, off);
  }

  /** Sets a payload built by the caller (slow path); the key is then not chunked. */
  setPayload(payload: Buffer): void {
    this.payloadCache = payload;
    this.chunked = false;
  }

  /** Length of the DUMP payload, or -1 when the key has none (chunked). */
  get payloadLength(): number {
    if (this.payloadCache) return this.payloadCache.length;
    return this.chunked || this.src === null ? -1 : this.size + 11;
  }

  /** The DUMP payload (built on first access and cached; see KeyEntry.payload). */
  get payload(): Buffer | undefined {
    if (this.payloadCache === undefined && !this.chunked && this.src !== null) {
      this.payloadCache = buildPayload(this.rdbType, this.src, this.valueStart, this.valueStart + this.size, this.version);
    }
    return this.payloadCache;
  }

  /** Writes the DUMP payload into dst at off without an intermediate Buffer; returns the new offset. */
  writePayload(dst: Uint8Array, off: number): number {
    if (this.payloadCache) {
      dst.set(this.payloadCache, off);
      return off + this.payloadCache.length;
    }
    if (this.chunked || this.src === null) throw new Error('writePayload on a key without payload');
    return writePayloadTo(dst, off, this.rdbType, this.src, this.valueStart, this.valueStart + this.size, this.version);
  }

  /**
   * Strings: the value when stored raw or int-encoded (a view of the input / shared decimal text);
   * undefined when LZF-compressed or not a payload-mode string.
   */
  get value(): Buffer | undefined {
    if (this.rdbType !== 0 || this.chunked) return undefined;
    let src = this.src;
    let p = this.valueStart;
    if (src === null) {
      if (!this.payloadCache) return undefined;
      src = this.payloadCache;
      p = 1;
    }
    const b = src[p];
    switch (b >> 6) {
      case 0:
        return bufferView(src, p + 1, p + 1 + (b & 0x3f));
      case 1:
        return bufferView(src, p + 2, p + 2 + (((b & 0x3f) << 8) | src[p + 1]));
      case 2:
        return b === 0x80 ? src.subarray(p + 5, p + 5 + src.readUInt32BE(p + 1)) : src.subarray(p + 9, p + 9 + Number(src.readBigUInt64BE(p + 1)));
      default:
        if (b === 0xc0) return intText(src.readInt8(p + 1));
        if (b === 0xc1) return intText(src.readInt16LE(p + 1));
        if (b === 0xc2) return intText(src.readInt32LE(p + 1));
        return undefined;
    }
  }

  /** Length of `value` (-1 when it is undefined), without making it. */
  get valueLength(): number {
    if (this.rdbType !== 0 || this.chunked || this.src === null) return this.value?.length ?? -1;
    const src = this.src;
    const p = this.valueStart;
    const b = src[p];
    if (b < 0x40) return b;
    if (b < 0x80) return ((b & 0x3f) << 8) | src[p + 1];
    if (b >= 0xc0 && b <= 0xc2) return decimalTextLength(intValue(src, p));
    return this.value?.length ?? -1;
  }

  /** Copies `value` into dst at off without making it; returns the offset after it. */
  writeValue(dst: Uint8Array, off: number): number {
    if (this.rdbType === 0 && !this.chunked && this.src !== null) {
      const src = this.src;
      const p = this.valueStart;
      const b = src[p];
      if (b < 0x40) return copyBytes(src, p + 1, p + 1 + b, dst, off);
      if (b < 0x80) return copyBytes(src, p + 2, p + 2 + (((b & 0x3f) << 8) | src[p + 1]), dst, off);
      if (b >= 0xc0 && b <= 0xc2) {
        const t = decimalText(intValue(src, p));
        for (let i = 0; i < t.length; i++) dst[off + i] = t.charCodeAt(i);
        return off + t.length;
      }
    }
    const v = this.value;
    if (v === undefined) throw new Error('writeValue on a key without a plain string value');
    dst.set(v, off);
    return off + v.length;
  }

  /** Plain-object view (JSON.stringify, test output), with the lazy fields materialized. */
  toJSON(): object {
    return {
      kind: this.kind, db: this.db, key: this.key, type: this.type, rdbType: this.rdbType,
      expireAt: this.expireAt, idle: this.idle, freq: this.freq, size: this.size,
      chunked: this.chunked, payload: this.payload, value: this.value, module: this.module,
    };
  }
}

Object.defineProperties(RdbKeyEntry.prototype, {
  kind: { value: 'key', writable: false, enumerable: true },
  module: { value: undefined, writable: true, enumerable: true },
  idle: { value: null, writable: true, enumerable: true },
  freq: { value: null, writable: true, enumerable: true },
  chunked: { value: false, writable: true, enumerable: true },
  keyCache: { value: undefined, writable: true, enumerable: false },
  payloadCache: { value: undefined, writable: true, enumerable: false },
});
