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
 * bytes; if they run out, the unit is rewound and retried once enough bytes have arrived (input.ts
 * collects and joins the chunks). State changes only at the end of a unit, so a rewind leaves
 * nothing half-done. A key record too big for the buffered bytes goes down the slow path instead:
 * its value is walked one element at a time (value-walker.ts), so a huge key is never held whole.
 *
 * After EOF + checksum, `done` is true, `bytesConsumed` is the RDB's length and `trailing` holds
 * the bytes that followed it in the input (the replication stream's `$EOF:<mark>` or commands).
 */
import type { ChunkEntry, FunctionEntry, KeyEntry, ValueType } from '../entry.js';
import { NEED_MORE, RdbError } from './errors.js';
import { RdbInput } from './input.js';
import { buildPayload, buildPayloadFromParts, RdbKeyEntry } from './key-record.js';
import { Reader } from './reader.js';
import { emptyValueEnd } from './empty-key.js';
import * as T from './types.js';
import { newChunk } from './chunk.js';
import { decodeValue, readModuleId, skipModuleOpcodes, skipValue } from './value.js';
import { ValueWalker } from './value-walker.js';

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
   * as a payload, so no single RESTORE is huge. Default 16 MiB (the engine passes its own,
   * RESTORE_LIMIT in src/engine/apply/key-writer.ts). While a value is measured its bytes are
   * held, and a value found too big is decoded from the held bytes in one go: memory for one key
   * is a few times this limit, whatever the key's size.
   */
  payloadLimit?: number;
  /**
   * Module values cannot be decoded (only RESTORE can write them), so they keep their payload up
   * to this size, held whole; bigger ones are skipped with a warning. Default 16 MiB.
   */
  moduleLimit?: number;
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
/** Inside a key record whose value did not fit in the buffered bytes (see value-walker.ts). */
const SLOW = 4;

/** A chunk record is flushed once it holds this many items or bytes. */
const CHUNK_ITEMS = 4096;
const CHUNK_BYTES = 1 << 20;

const NO_RECORDS: RdbRecord[] = [];

/** See the module comment. */
export class RdbParser extends RdbInput {
  /** RDB version from the header (0 until it is read). */
  version = 0;
  /** 'REDIS' or 'VALKEY'. */
  magic = '';
  /** AUX fields (redis-ver, repl-id, repl-offset, repl-stream-db, ...), values as latin1 text. */
  readonly aux = new Map<string, string>();
  /** Keys with an empty collection, skipped as Redis skips them (empty-key.ts). */
  emptyKeysSkipped = 0;
  /** Script bodies of AUX fields `lua` (Redis 4.0 to 6.2 put every script in a replication RDB). */
  readonly luaScripts: Buffer[] = [];
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

  private readonly mode: 'payload' | 'decode';
  private readonly payloadLimit: number;
  private readonly moduleLimit: number;
  private readonly skipModules: boolean;
  private readonly onWarning?: (message: string) => void;
  private state = HEADER;
  private expireAt: number | null = null;
  private idle: number | null = null;
  private freq: number | null = null;
  private unitStart = 0;
  // Slow path (one key record at a time):
  private readonly walker = new ValueWalker();
  private slowKey: RdbKeyEntry | null = null;
  private slowType = 0;
  /** Its type byte in the file (differs from slowType for Valkey 9's own numbers). */
  private slowByte = 0;
  /** Absolute offset of the value's first byte. */
  private slowValueAbs = 0;
  /** Payload mode: value bytes of earlier buffers, and where the current buffer's part starts. */
  private parts: Buffer[] = [];
  private partsLen = 0;
  private partFrom = 0;
  /** Module value above the module limit: walked to its end and dropped. */
  private discard = false;

  constructor(opts: RdbParserOptions = {}) {
    super(opts.verifyChecksum ?? true);
    this.mode = opts.mode ?? 'payload';
    this.payloadLimit = opts.payloadLimit ?? 16 * 1024 * 1024;
    this.moduleLimit = opts.moduleLimit ?? 16 * 1024 * 1024;
    this.skipModules = opts.modules === 'skip';
    this.onWarning = opts.onWarning;
    this.r.maxLen = opts.maxStringLength ?? 1 << 30;
  }

  /**
   * Bytes of input the parser holds on to: unparsed bytes, collected chunks and (payload mode) the
   * value being measured for its payload. Stays near one chunk + one element + the payload limit.
   */
  get bufferedBytes(): number {
    const part = this.state === SLOW && !this.walker.emit ? this.r.pos - this.partFrom + this.partsLen : 0;
    return this.heldBytes + part;
  }

  /** Consumes a chunk; returns the records it completed (see the module comment). */
  write(chunk: Buffer): RdbRecord[] {
    if (this.state === DONE) {
      this.addTrailing(chunk);
      return NO_RECORDS;
    }
    if (!this.accept(chunk)) return NO_RECORDS;
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

  /** Slow path, payload mode: keeps the value bytes of the buffer about to be replaced. */
  protected leavingBuffer(nextPos: number): void {
    if (this.state !== SLOW || this.walker.emit) return;
    const r = this.r;
    if (!this.discard && r.pos > this.partFrom) {
      this.parts.push(r.buf.subarray(this.partFrom, r.pos));
      this.partsLen += r.pos - this.partFrom;
    } else if (this.discard) {
      this.partsLen += r.pos - this.partFrom;
    }
    this.partFrom = nextPos;
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.onWarning?.(message);
  }

  private run(out: RdbRecord[]): void {
    const r = this.r;
    for (;;) {
      if (this.bridgeChunk !== null && r.pos >= this.bridgeSplit) this.leaveBridge();
      this.unitStart = r.pos;
      try {
        if (this.state === BODY) {
          if (this.bridgeChunk === null) {
            while (this.state === BODY) this.unit(out);
          } else {
            while (this.state === BODY && r.pos < this.bridgeSplit) this.unit(out);
          }
        } else if (this.state === SLOW) {
          this.slowStep(out);
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
        if (this.retryAfterShort()) continue;
        // Hand over what was decoded so far: the caller sees progress, memory stays bounded.
        if (this.state === SLOW && this.walker.emit) {
          this.walker.rollback();
          this.flushSink(out, false);
        }
        return;
      }
    }
  }


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
      else {
        this.checkCrc(r.buf, p);
        this.checksum = 'ok';
      }
      r.pos = p + 8;
    } else {
      this.checksum = 'absent';
    }
    this.state = DONE;
    this.done = true;
    this.endInput();
  }

  /** One opcode or one key record. */
  private unit(out: RdbRecord[]): void {
    const r = this.r;
    this.unitStart = r.pos;
    const op = r.u8('opcode');
    if (op === T.RDB_TYPE_STRING && this.mode === 'payload' && this.plainStrings(out)) return;
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
        const raw = r.string('AUX field value');
        if (k === 'lua') this.luaScripts.push(Buffer.from(raw));
        else this.aux.set(k, raw.toString('latin1'));
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

  /** [type] key value: emits a key (payload or chunked); falls back to the slow path. */
  private keyRecord(byte: number, out: RdbRecord[]): void {
    const r = this.r;
    // `byte` goes into entries and payloads as the file has it; `type` drives the decoding.
    const type = T.internalType(byte, this.magic === 'VALKEY');
    const vtype = T.VALUE_TYPE[type];
    r.key = undefined;
    if (vtype === undefined) {
      if (type === T.RDB_TYPE_MODULE_PRE_GA) r.fail('value of type 6 (MODULE pre-GA, Redis 4.0 RC): not supported', r.pos - 1);
      return r.fail(`value of unknown RDB type ${type} (written by a newer Redis/Valkey? ferry supports types 0-25)`, r.pos - 1);
    }
    const decoded = r.keyString();
    const keyFrom = r.rawFrom;
    const keyTo = r.rawTo;
    if (decoded === null) r.setKeyRange(r.buf, keyFrom, keyTo);
    else r.key = decoded;
    const valueStart = r.pos;
    // Outside the try: a header split across input chunks retries the unit, never the slow path.
    const emptyEnd = emptyValueEnd(r, type);
    if (emptyEnd >= 0) {
      r.pos = emptyEnd;
      this.emptyKeysSkipped++;
      this.resetKeyState();
      return;
    }
    try {
      if (this.mode === 'payload' || vtype === 'module') {
        skipValue(r, type);
        const size = r.pos - valueStart;
        if (size <= this.payloadLimit || vtype === 'module') {
          const entry = new RdbKeyEntry(this.db, byte, this.expireAt, size, r.buf, keyFrom, valueStart, this.version);
          if (decoded !== null) entry.key = decoded;
          if (this.idle !== null) entry.idle = this.idle;
          if (this.freq !== null) entry.freq = this.freq;
          if (vtype !== 'module' || this.keepModule(entry, valueStart, size)) out.push(entry);
          this.expireAt = this.idle = this.freq = null;
          return;
        }
        r.pos = valueStart;
      }
      const chunk = newChunk();
      decodeValue(r, type, chunk);
      chunk.last = true;
      const entry = new RdbKeyEntry(this.db, byte, this.expireAt, r.pos - valueStart, r.buf, keyFrom, valueStart, this.version);
      entry.chunked = true;
      if (decoded !== null) entry.key = decoded;
      if (this.idle !== null) entry.idle = this.idle;
      if (this.freq !== null) entry.freq = this.freq;
      out.push(entry, chunk);
      this.resetKeyState();
    } catch (e) {
      if (e !== NEED_MORE) throw e;
      r.pos = valueStart;
      this.enterSlow(type, byte, vtype, decoded ?? r.buf.subarray(keyFrom, keyTo), out);
    }
  }

  private chunkedKey(key: Buffer, vtype: ValueType, type: number): RdbKeyEntry {
    const e = RdbKeyEntry.of(this.db, key, type, this.expireAt, this.version);
    if (this.idle !== null) e.idle = this.idle;
    if (this.freq !== null) e.freq = this.freq;
    return e;
  }

  /**
   * The hottest record (DEBUG POPULATE, caches, sessions): a string key whose key and value are
   * short raw or int-encoded strings, fully buffered. Called with the reader just past a type byte
   * 0; handles that record and every directly following one of the same kind (type byte 0, no
   * EXPIRETIME/IDLE/FREQ opcode before it) in one loop without calls or a try/catch.
   * NOTE: the loop, rather than one record per unit(), saved ~15% of the parse time of a file of
   * small strings: the per-record work is a few byte reads, so call and dispatch overhead showed.
   * Returns false when nothing was consumed (the first record is not plain: general path); when a
   * later record is not plain, the reader is left on its type byte for the next unit.
   */
  private plainStrings(out: RdbRecord[]): boolean {
    const r = this.r;
    const buf = r.buf;
    const end = r.end;
    const limit = this.payloadLimit;
    const db = this.db;
    const version = this.version;
    let p = r.pos;
    for (;;) {
      if (p >= end) break;
      const kb = buf[p];
      const vs = p + 1 + kb;
      if (kb >= 0x40 || vs >= end) break;
      const vb = buf[vs];
      let ve: number;
      if (vb < 0x40) ve = vs + 1 + vb;
      else if (vb < 0x80) {
        if (vs + 1 >= end) break;
        ve = vs + 2 + (((vb & 0x3f) << 8) | buf[vs + 1]);
      }
      else if (vb === 0xc0) ve = vs + 2;
      else if (vb === 0xc1) ve = vs + 3;
      else if (vb === 0xc2) ve = vs + 5;
      else break;
      if (ve > end || ve - vs > limit) break;
      if (p === r.pos) {
        // The first record may carry the opcodes read before it.
        const e = new RdbKeyEntry(db, 0, this.expireAt, ve - vs, buf, p + 1, vs, version);
        if (this.idle !== null) e.idle = this.idle;
        if (this.freq !== null) e.freq = this.freq;
        out.push(e);
        this.expireAt = this.idle = this.freq = null;
      } else {
        out.push(new RdbKeyEntry(db, 0, null, ve - vs, buf, p + 1, vs, version));
      }
      if (ve >= end || buf[ve] !== T.RDB_TYPE_STRING) {
        r.pos = ve;
        return true;
      }
      p = ve + 1;
    }
    if (p === r.pos) return false;
    r.pos = p - 1;
    return true;
  }

  /** Module values: names the module; false (with a warning) when the value is dropped. */
  private keepModule(entry: RdbKeyEntry, valueStart: number, size: number): boolean {
    entry.module = this.moduleOf(this.r.buf, valueStart);
    if (!this.skipModules && size <= this.moduleLimit) return true;
    this.dropModule(entry.key, entry.module.name, size);
    return false;
  }

  private moduleOf(buf: Buffer, at: number): { name: string; version: number } {
    const tmp = new Reader();
    tmp.reset(buf, at, buf.length, 0, true);
    return T.moduleName(readModuleId(tmp));
  }

  private dropModule(key: Buffer, name: string, size: number): void {
    this.warn(`skipped key '${key.toString('latin1')}' of module type '${name}' (${size} bytes${this.skipModules ? '' : ', above the module payload limit'})`);
    this.resetKeyState();
  }

  /** Starts the slow path at the value's first byte (the reader is there). */
  private enterSlow(type: number, byte: number, vtype: ValueType, key: Buffer, out: RdbRecord[]): void {
    const r = this.r;
    const emit = this.mode === 'decode' && vtype !== 'module';
    this.slowKey = this.chunkedKey(key, vtype, byte);
    r.key = key;
    this.slowType = type;
    this.slowByte = byte;
    this.slowValueAbs = r.base + r.pos;
    this.parts = [];
    this.partsLen = 0;
    this.partFrom = r.pos;
    this.discard = this.skipModules && vtype === 'module';
    this.walker.start(type, emit);
    this.walker.sink = newChunk();
    this.walker.sinkBytes = 0;
    if (emit) out.push(this.slowKey);
    this.state = SLOW;
  }

  /** One unit of a slow-path value. */
  private slowStep(out: RdbRecord[]): void {
    const r = this.r;
    const w = this.walker;
    const done = w.step(r);
    if (w.emit) {
      if (done) return this.finishSlow(out);
      if (w.sink.count >= CHUNK_ITEMS || w.pendingBytes >= CHUNK_BYTES) this.flushSink(out, false);
      return;
    }
    const size = this.partsLen + (r.pos - this.partFrom);
    if (!this.discard) {
      // Too big for one payload: decode it from its start instead (even if it just ended).
      if (this.slowKey!.type !== 'module') {
        if (size > this.payloadLimit) return this.switchToDecode(out);
      } else if (size > this.moduleLimit) {
        this.discard = true;
      }
    }
    if (done) this.finishSlow(out);
  }

  /** Payload mode, value above the limit: decode it from its start instead (bytes are all kept). */
  private switchToDecode(out: RdbRecord[]): void {
    const r = this.r;
    this.flushCrc();
    const rest = this.takeBridgeRest();
    const all = Buffer.concat([...this.parts, r.buf.subarray(this.partFrom, r.end), ...rest]);
    r.reset(all, 0, all.length, this.slowValueAbs, false);
    this.parts = [];
    this.partsLen = 0;
    this.partFrom = 0;
    this.walker.start(this.slowType, true);
    out.push(this.slowKey!);
  }

  private flushSink(out: RdbRecord[], last: boolean): void {
    const w = this.walker;
    const c = w.sink;
    if (!last && c.count === 0 && !c.streamEntries?.length) return;
    c.last = last;
    out.push(c);
    w.sink = newChunk();
    w.sinkBytes = 0;
  }

  private finishSlow(out: RdbRecord[]): void {
    const r = this.r;
    const entry = this.slowKey!;
    entry.size = r.base + r.pos - this.slowValueAbs;
    if (this.walker.emit) {
      this.flushSink(out, true);
    } else if (this.discard) {
      this.dropModule(entry.key, this.moduleOfParts(), entry.size);
    } else {
      const parts = this.parts;
      parts.push(r.buf.subarray(this.partFrom, r.pos));
      // NOTE: straight from the parts: joining them first held the value three times.
      const payload = buildPayloadFromParts(this.slowByte, parts, this.version);
      entry.setPayload(payload);
      if (entry.type === 'module') entry.module = this.moduleOf(payload, 1);
      out.push(entry);
    }
    this.parts = [];
    this.partsLen = 0;
    this.slowKey = null;
    this.state = BODY;
    this.resetKeyState();
  }

  private moduleOfParts(): string {
    return T.moduleName(this.walker.moduleId).name;
  }

  private resetKeyState(): void {
    this.expireAt = null;
    this.idle = null;
    this.freq = null;
    this.r.key = undefined;
  }
}
