/**
 * The streaming RDB parser: a push decoder (STYLE.md #6). Feed it chunks as they arrive from a
 * socket or a file with `write(chunk)`; it returns the records completed by that chunk, keeps its
 * place across chunk boundaries and never needs the whole file in memory.
 *
 *   "REDIS" 4-digit-version | "VALKEY" 3-digit-version     (9 bytes)
 *   ( AUX | SELECTDB | RESIZEDB | SLOT_INFO | FUNCTION2 | MODULE_AUX
 *     | [EXPIRETIME(_MS)] [IDLE] [FREQ] <type> <key> <value> )*
 *   EOF 0xFF  [CRC64 LE, version >= 5; 0 = checksum disabled]
 *
 * NOTE (backpressure): write() is synchronous and returns the records as an array, so the caller
 * (the replication reader) decides when to read the next chunk: when its writer window is full it
 * simply stops calling write() and pauses the socket. The records of one write() are bounded by
 * the chunk's size (a big value comes as a chunked key, never as one record holding it all).
 *
 * NOTE (resuming): every unit (one opcode, or one whole key record) is parsed from the buffered
 * bytes; if they run out, the unit is rewound and retried once enough bytes have arrived: the failed
 * read records how far it needed to go (`needAbs`), and chunks are only collected (not copied) until
 * then. State changes only at the end of a unit, so a rewind leaves nothing half-done.
 *
 * After EOF + checksum, `done` is true, `bytesConsumed` is the RDB's length and `trailing` holds
 * the bytes that followed it in the input (the replication stream's `$EOF:<mark>` or commands).
 */
import type { ChunkEntry, FunctionEntry, KeyEntry } from '../entry.js';
import { Crc64 } from './crc64.js';
import { NEED_MORE, RdbError } from './errors.js';
import { buildPayload, RdbKeyEntry } from './key-record.js';
import { Reader } from './reader.js';
import * as T from './types.js';
import { decodeValue, newChunk, readModuleId, skipModuleOpcodes, skipValue } from './value.js';

/** What the parser emits (all are Entry members, see src/engine/entry.ts). */
export type RdbRecord = KeyEntry | ChunkEntry | FunctionEntry;

/** Options of RdbParser. */
export interface RdbParserOptions {
  /**
   * 'payload' (default, full-sync hot path): keys carry their DUMP payload; values are skipped,
   * not decoded. 'decode': every key is `chunked` and its elements follow in chunk records.
   */
  mode?: 'payload' | 'decode';
  /**
   * Values larger than this (bytes as stored in the RDB) are emitted decoded in chunks instead of
   * as a payload, so no single RESTORE is huge. Default 16 MiB.
   */
  payloadLimit?: number;
  /** Check the CRC64 trailer (default true). */
  verifyChecksum?: boolean;
  /** Largest string length accepted; larger length fields are rejected as corrupt. Default 1 GiB. */
  maxStringLength?: number;
  /** Module values: 'payload' (default) keeps them raw for RESTORE; 'skip' drops them with a warning. */
  modules?: 'payload' | 'skip';
  /** Called for things worth telling the user (skipped module data, unknown AUX, new versions). */
  onWarning?: (message: string) => void;
}

const HEADER = 0;
const BODY = 1;
const CHECKSUM = 2;
const DONE = 3;

const NO_RECORDS: RdbRecord[] = [];

/** See the module comment. */
export class RdbParser {
  /** RDB version from the header (0 until it is read). */
  version = 0;
  /** 'REDIS' or 'VALKEY'. */
  magic = '';
  /** AUX fields (redis-ver, repl-id, repl-offset, repl-stream-db, ...), values as latin1 text. */
  readonly aux = new Map<string, string>();
  /** RESIZEDB hints per db. */
  readonly resizeDb = new Map<number, { keys: number; expires: number }>();
  /** Warnings so far (also passed to onWarning). */
  readonly warnings: string[] = [];
  /** True once EOF (and the checksum, if any) was read. */
  done = false;
  /** After done: 'ok' (verified), 'disabled' (stored as 0), 'absent' (version < 5), 'unchecked'. */
  checksum: 'ok' | 'disabled' | 'absent' | 'unchecked' = 'unchecked';
  /** Current db (SELECTDB). */
  db = 0;

  private readonly r = new Reader();
  private readonly mode: 'payload' | 'decode';
  private readonly payloadLimit: number;
  private readonly verify: boolean;
  private readonly skipModules: boolean;
  private readonly onWarning?: (message: string) => void;
  private state = HEADER;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private needAbs = 0;
  private crc = new Crc64();
  /** Absolute offset up to which the CRC has been computed. */
  private crcAbs = 0;
  private expireAt: number | null = null;
  private idle: number | null = null;
  private freq: number | null = null;
  private trail: Buffer[] = [];

  constructor(opts: RdbParserOptions = {}) {
    this.mode = opts.mode ?? 'payload';
    this.payloadLimit = opts.payloadLimit ?? 16 * 1024 * 1024;
    this.verify = opts.verifyChecksum ?? true;
    this.skipModules = opts.modules === 'skip';
    this.onWarning = opts.onWarning;
    this.r.maxLen = opts.maxStringLength ?? 1 << 30;
  }

  /** Bytes of the RDB consumed so far (after `done`: the RDB's total length). */
  get bytesConsumed(): number {
    return this.r.base + this.r.pos;
  }

  /** Bytes that followed the RDB's end in the input (empty until done). */
  get trailing(): Buffer {
    if (this.trail.length > 1) this.trail = [Buffer.concat(this.trail)];
    return this.trail[0] ?? Buffer.alloc(0);
  }

  /** Consumes a chunk; returns the records it completed (see the module comment). */
  write(chunk: Buffer): RdbRecord[] {
    const r = this.r;
    if (this.state === DONE) {
      if (chunk.length > 0) this.trail.push(chunk);
      return NO_RECORDS;
    }
    if (r.pos >= r.end && this.pendingLen === 0) {
      this.flushCrc();
      r.reset(chunk, 0, chunk.length, r.base + r.end, false);
    } else {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      if (r.base + r.end + this.pendingLen < this.needAbs) return NO_RECORDS;
      this.combine();
    }
    const out: RdbRecord[] = [];
    this.run(out);
    return out;
  }

  /** Declares the end of input: throws RdbError if the RDB is incomplete. */
  end(): void {
    if (this.state !== DONE) {
      throw new RdbError(`truncated RDB (input ended before the EOF opcode${this.state === CHECKSUM ? "'s checksum" : ''})`, this.r.base + this.r.end + this.pendingLen);
    }
  }

  /** Joins the unconsumed tail with the collected chunks into one buffer. */
  private combine(): void {
    const r = this.r;
    this.flushCrc();
    const parts = this.pending;
    if (r.pos < r.end) parts.unshift(r.buf.subarray(r.pos, r.end));
    const base = r.base + r.pos;
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    r.reset(buf, 0, buf.length, base, false);
    this.pending = [];
    this.pendingLen = 0;
  }

  /** Adds the consumed bytes not yet hashed to the file CRC. */
  private flushCrc(): void {
    if (!this.verify) return;
    const r = this.r;
    const from = this.crcAbs - r.base;
    if (r.pos > from) {
      this.crc.update(r.buf, from, r.pos);
      this.crcAbs = r.base + r.pos;
    }
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.onWarning?.(message);
  }

  private run(out: RdbRecord[]): void {
    const r = this.r;
    for (;;) {
      this.unitStart = r.pos;
      try {
        if (this.state === BODY) {
          while (this.state === BODY) this.unit(out);
        } else if (this.state === HEADER) {
          this.header();
        } else if (this.state === CHECKSUM) {
          this.trailer();
        } else {
          return;
        }
      } catch (e) {
        if (e !== NEED_MORE) throw e;
        r.pos = this.unitStart;
        this.needAbs = r.needAbs;
        return;
      }
    }
  }

  private unitStart = 0;

  private header(): void {
    const r = this.r;
    r.ensure(9, 'RDB header');
    const head = r.buf.toString('latin1', r.pos, r.pos + 9);
    let m = /^REDIS(\d{4})$/.exec(head);
    if (m) this.magic = 'REDIS';
    else if ((m = /^VALKEY(\d{3})$/.exec(head))) this.magic = 'VALKEY';
    if (!m) return r.fail(`RDB header (expected "REDIS" + 4 digits, got ${JSON.stringify(head)}): not an RDB file`);
    const version = Number(m[1]);
    if (version < 1) r.fail(`RDB version ${version}`);
    if (this.magic === 'REDIS' && version > 12) this.warn(`RDB version ${version} is newer than ferry knows (12): unknown types will be reported`);
    r.pos += 9;
    this.version = version;
    this.state = BODY;
  }

  private trailer(): void {
    const r = this.r;
    if (this.version >= 5) {
      r.ensure(8, 'CRC64 trailer');
      const p = r.pos;
      const zero = r.buf.readUInt32LE(p) === 0 && r.buf.readUInt32LE(p + 4) === 0;
      if (zero) this.checksum = 'disabled';
      else if (!this.verify) this.checksum = 'unchecked';
      else if (this.crc.equalsLE(r.buf, p)) this.checksum = 'ok';
      else {
        const stored = r.buf.readBigUInt64LE(p);
        r.fail(`CRC64 trailer (file says 0x${stored.toString(16)}, content hashes to 0x${this.crc.digest().toString(16)})`);
      }
      r.pos = p + 8;
    } else {
      this.checksum = 'absent';
    }
    this.state = DONE;
    this.done = true;
    if (r.pos < r.end) this.trail.push(r.buf.subarray(r.pos, r.end));
    this.trail.push(...this.pending);
    this.pending = [];
    this.pendingLen = 0;
    r.end = r.pos;
  }

  /** One opcode or one key record. */
  private unit(out: RdbRecord[]): void {
    const r = this.r;
    this.unitStart = r.pos;
    const op = r.u8('opcode');
    if (op < 0xf4) return this.keyRecord(op, out);
    switch (op) {
      case T.RDB_OPCODE_EOF:
        // The file CRC covers everything up to and including this byte.
        this.flushCrc();
        this.state = CHECKSUM;
        return;
      case T.RDB_OPCODE_SELECTDB:
        this.db = r.len('SELECTDB db number');
        return;
      case T.RDB_OPCODE_EXPIRETIME_MS:
        this.expireAt = r.int64LE('EXPIRETIME_MS');
        return;
      case T.RDB_OPCODE_EXPIRETIME:
        this.expireAt = r.int32LE('EXPIRETIME') * 1000;
        return;
      case T.RDB_OPCODE_IDLE:
        this.idle = r.len('IDLE');
        return;
      case T.RDB_OPCODE_FREQ:
        this.freq = r.u8('FREQ');
        return;
      case T.RDB_OPCODE_AUX: {
        const k = r.string('AUX field name').toString('latin1');
        const v = r.string('AUX field value').toString('latin1');
        this.aux.set(k, v);
        return;
      }
      case T.RDB_OPCODE_RESIZEDB: {
        const keys = r.len('RESIZEDB db size');
        const expires = r.len('RESIZEDB expires size');
        this.resizeDb.set(this.db, { keys, expires });
        return;
      }
      case T.RDB_OPCODE_SLOT_INFO:
        r.len('SLOT_INFO slot');
        r.len('SLOT_INFO keys');
        r.len('SLOT_INFO expires');
        return;
      case T.RDB_OPCODE_FUNCTION2: {
        const at = r.pos;
        const code = r.string('FUNCTION2 library source');
        out.push({ kind: 'function', code, payload: buildPayload(op, r.buf, at, r.pos, this.version) });
        return;
      }
      case T.RDB_OPCODE_FUNCTION_PRE_GA:
        return r.fail('FUNCTION_PRE_GA opcode (functions from a Redis 7.0 release candidate): not supported; re-save the RDB with Redis 7.0 GA or later', r.pos - 1);
      case T.RDB_OPCODE_MODULE_AUX: {
        const id = readModuleId(r);
        r.len('MODULE_AUX when-opcode');
        r.len('MODULE_AUX when');
        skipModuleOpcodes(r);
        const { name } = T.moduleName(id);
        this.warn(`skipped module auxiliary data of module '${name}' (ferry cannot move module-global state)`);
        return;
      }
      default:
        return r.fail(`opcode 0x${op.toString(16)} (unknown; written by a newer Redis/Valkey?)`, r.pos - 1);
    }
  }

  /** [type] key value: emits a key (payload or chunked). */
  private keyRecord(type: number, out: RdbRecord[]): void {
    const r = this.r;
    const vtype = T.VALUE_TYPE[type];
    if (vtype === undefined) {
      r.key = undefined;
      if (type === T.RDB_TYPE_MODULE_PRE_GA) r.fail('value of type 6 (MODULE pre-GA, Redis 4.0 RC): not supported', r.pos - 1);
      return r.fail(`value of unknown RDB type ${type} (written by a newer Redis/Valkey? ferry supports types 0-25)`, r.pos - 1);
    }
    r.key = undefined;
    const key = r.string('key');
    r.key = key;
    const valueStart = r.pos;
    let value: Buffer | undefined;
    if (this.mode === 'payload' || vtype === 'module') {
      if (type === T.RDB_TYPE_STRING && !r.peekIsLzf()) value = r.string('string value');
      else skipValue(r, type);
      const size = r.pos - valueStart;
      if (size <= this.payloadLimit || vtype === 'module') {
        const entry = new RdbKeyEntry(this.db, key, vtype, type, this.expireAt, this.idle, this.freq, size, r.buf, valueStart, this.version, value);
        if (vtype === 'module') {
          r.pos = valueStart;
          entry.module = T.moduleName(readModuleId(r));
          r.pos = valueStart + size;
          if (this.skipModules || size > this.payloadLimit) {
            this.warn(`skipped key '${key.toString('latin1')}' of module type '${entry.module.name}' (${size} bytes)`);
            this.resetKeyState();
            return;
          }
        }
        out.push(entry);
        this.resetKeyState();
        return;
      }
      r.pos = valueStart;
    }
    const chunk = newChunk();
    decodeValue(r, type, chunk);
    chunk.last = true;
    const size = r.pos - valueStart;
    out.push(new RdbKeyEntry(this.db, key, vtype, type, this.expireAt, this.idle, this.freq, size, null, 0, this.version, undefined), chunk);
    this.resetKeyState();
  }

  private resetKeyState(): void {
    this.expireAt = null;
    this.idle = null;
    this.freq = null;
    this.r.key = undefined;
  }
}
