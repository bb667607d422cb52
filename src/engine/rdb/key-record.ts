/**
 * The KeyEntry implementation the parser emits. A class (not object literals) so every key has the
 * same hidden class and the DUMP payload can be built lazily by a prototype getter: no per-key
 * closure, and no copy or CRC64 unless the writer actually reads `payload`.
 */
import type { KeyEntry, ValueType } from '../entry.js';
import { Crc64 } from './crc64.js';

/** Builds a DUMP/RESTORE payload: type byte + value bytes + version u16 LE + CRC64 LE. */
export function buildPayload(type: number, src: Uint8Array, start: number, end: number, version: number): Buffer {
  const n = end - start;
  const out = Buffer.allocUnsafe(n + 11);
  out[0] = type;
  out.set(src.subarray(start, end), 1);
  out[n + 1] = version & 0xff;
  out[n + 2] = (version >> 8) & 0xff;
  new Crc64().update(out, 0, n + 3).writeLE(out, n + 3);
  return out;
}

/** A key as the RDB parser emits it (see KeyEntry). */
export class RdbKeyEntry implements KeyEntry {
  readonly kind = 'key' as const;
  chunked: boolean;
  value: Buffer | undefined;
  module: { name: string; version: number } | undefined = undefined;
  private cached: Buffer | undefined = undefined;

  constructor(
    public db: number,
    public key: Buffer,
    public type: ValueType,
    public rdbType: number,
    public expireAt: number | null,
    public idle: number | null,
    public freq: number | null,
    public size: number,
    /** Where the value's bytes are (src[start, end)); src is null when there is no payload. */
    private src: Buffer | null,
    private start: number,
    private version: number,
    value: Buffer | undefined,
  ) {
    this.chunked = src === null;
    this.value = value;
  }

  /** Sets a payload built by the caller (the parser's slow path); the key is then not chunked. */
  setPayload(payload: Buffer): void {
    this.cached = payload;
    this.src = null;
    this.chunked = false;
  }

  /** The DUMP payload, built on first access (see KeyEntry.payload). */
  get payload(): Buffer | undefined {
    if (this.cached === undefined && this.src !== null) {
      this.cached = buildPayload(this.rdbType, this.src, this.start, this.start + this.size, this.version);
      this.src = null;
    }
    return this.cached;
  }

  /** Plain-object view (JSON.stringify, test output), with the payload materialized. */
  toJSON(): object {
    return {
      kind: this.kind, db: this.db, key: this.key, type: this.type, rdbType: this.rdbType,
      expireAt: this.expireAt, idle: this.idle, freq: this.freq, size: this.size,
      chunked: this.chunked, payload: this.payload, value: this.value, module: this.module,
    };
  }
}
