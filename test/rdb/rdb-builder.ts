/**
 * Test helper: writes small RDB files byte by byte (header, opcodes, lengths, strings, values), for
 * cases a server will not produce on demand: hostile lengths, unknown types/opcodes, huge values,
 * old encodings, Valkey magic.
 */
import { crc64 } from '../../src/engine/rdb/index.js';

/** Encodes an RDB length (6-bit, 14-bit, 32-bit BE or 64-bit BE). */
export function len(n: number | bigint): Buffer {
  const v = BigInt(n);
  if (v < 64n) return Buffer.from([Number(v)]);
  if (v < 16384n) return Buffer.from([0x40 | Number(v >> 8n), Number(v & 0xffn)]);
  if (v < 1n << 32n) {
    const b = Buffer.alloc(5);
    b[0] = 0x80;
    b.writeUInt32BE(Number(v), 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0x81;
  b.writeBigUInt64BE(v, 1);
  return b;
}

/** An RDB string (raw). */
export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([len(b.length), b]);
}

/** Builds an RDB: `new RdbBuilder(11).key(0, 'k', str('v')).build()`. */
export class RdbBuilder {
  private parts: Buffer[] = [];

  constructor(
    readonly version = 11,
    magic = 'REDIS',
  ) {
    this.parts.push(Buffer.from(magic === 'REDIS' ? `REDIS${String(version).padStart(4, '0')}` : `${magic}${String(version).padStart(3, '0')}`, 'latin1'));
  }

  raw(...b: Array<Buffer | number[]>): this {
    for (const x of b) this.parts.push(Buffer.isBuffer(x) ? x : Buffer.from(x));
    return this;
  }

  aux(k: string, v: string): this {
    return this.raw([0xfa], str(k), str(v));
  }

  select(db: number): this {
    return this.raw([0xfe], len(db));
  }

  /** A key record: optional expiry (ms), type byte, key, value bytes. */
  key(type: number, key: string | Buffer, value: Buffer, expireMs?: number): this {
    if (expireMs !== undefined) {
      const b = Buffer.alloc(9);
      b[0] = 0xfc;
      b.writeBigInt64LE(BigInt(expireMs), 1);
      this.parts.push(b);
    }
    return this.raw([type], str(key), value);
  }

  /** EOF + CRC64 (version >= 5); `crc: false` writes a zero checksum. */
  build(crc = true): Buffer {
    const body = Buffer.concat([...this.parts, Buffer.from([0xff])]);
    if (this.version < 5) return body;
    const t = Buffer.alloc(8);
    if (crc) t.writeBigUInt64LE(crc64(body));
    return Buffer.concat([body, t]);
  }
}

/** A listpack of strings/small ints (test data only: strings < 64 bytes or 12-bit, ints 0..127). */
export function listpack(items: Array<string | number>): Buffer {
  const entries: Buffer[] = [];
  for (const it of items) {
    let e: Buffer;
    if (typeof it === 'number') e = Buffer.from([it & 0x7f]);
    else {
      const s = Buffer.from(it);
      e = s.length < 64 ? Buffer.concat([Buffer.from([0x80 | s.length]), s]) : Buffer.concat([Buffer.from([0xe0 | (s.length >> 8), s.length & 0xff]), s]);
    }
    const l = e.length;
    const back = l <= 127 ? Buffer.from([l]) : Buffer.from([l >> 7, (l & 127) | 128]);
    entries.push(e, back);
  }
  const body = Buffer.concat(entries);
  const head = Buffer.alloc(6);
  head.writeUInt32LE(6 + body.length + 1, 0);
  head.writeUInt16LE(Math.min(items.length, 65535), 4);
  return Buffer.concat([head, body, Buffer.from([0xff])]);
}
