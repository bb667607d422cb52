/**
 * The slow path for values that do not fit in the bytes buffered so far: a resumable walker that
 * reads a value one small unit at a time (one element, one quicklist/stream node, one blob, one
 * piece of a raw string), so a 1 GB list never has to be buffered whole.
 *
 * Contract with the parser: step() reads ONE unit. It changes the walker's state and appends to
 * the sink only after all of the unit's reads succeeded, so when a read throws NEED_MORE the parser
 * rewinds the reader to the unit's start and calls step() again later with more bytes.
 * With `emit` false the walker only skips (payload mode, measuring the value); with `emit` true it
 * appends decoded elements to `sink`, which the parser flushes as chunk records.
 *
 * NOTE: what is held whole: one element, one compact blob (ziplist/listpack/intset/zipmap: bounded
 * by the server's *-max-listpack-* settings), one LZF-compressed string, and a stream's tail
 * (metadata + consumer groups with their PELs).
 */
import type { StreamMeta } from '../entry.js';
import { newChunk, type RdbChunk } from './chunk.js';
import { NEED_MORE } from './errors.js';
import { lzfDecompress } from './lzf.js';
import { checkLzfRatio, doubleString, type Reader } from './reader.js';
import { readStreamNode, readStreamTail, skipStreamNode } from './stream.js';
import * as T from './types.js';
import { decodeBlob, decodeQuicklist2Node, isBlobType, readHash2Field, readModuleId, skipValue } from './value.js';

/** Largest piece of a raw string emitted at once. */
const STRING_PIECE = 1 << 20;

const P_HEAD = 0;
const P_ELEMS = 1;
const P_RAW = 2;
const P_LZF = 3;
const P_TAIL = 4;
const P_BLOB = 5;
const P_DONE = 6;
/** A big LZF-compressed string, inflated piece by piece (see lzfPieces()). */
const P_LZF_STREAM = 7;
/** LZF back references reach at most this far back. */
const LZF_WINDOW = 8192;

/** See the module comment. */
export class ValueWalker {
  type = 0;
  emit = false;
  /** Where decoded elements go (the parser swaps in a fresh chunk after flushing). */
  sink: RdbChunk = newChunk();
  /** Bytes of stream entries appended to the sink since it was last flushed (flush heuristics). */
  sinkBytes = 0;
  private markCount = 0;
  private markTtl = 0;
  private markEntries = 0;
  /** MODULE_2 values: the module type id read from the head. */
  moduleId = 0n;
  private phase = P_HEAD;
  private remaining = 0;
  private minExpire = 0;
  private clen = 0;
  private ulen = 0;
  private lzOut: Buffer = Buffer.alloc(0);
  private lzPos = 0;
  private lzEmitFrom = 0;
  private lzProduced = 0;

  /** Starts walking a value of RDB type `type` (the reader is at its first byte). */
  start(type: number, emit: boolean): void {
    this.type = type;
    this.emit = emit;
    this.phase = P_HEAD;
    this.remaining = 0;
  }

  /** Reads one unit; true when the value is complete. See rollback(). */
  step(r: Reader): boolean {
    const sink = this.sink;
    this.markCount = sink.count;
    this.markTtl = sink.fieldExpireAt?.length ?? 0;
    this.markEntries = sink.streamEntries?.length ?? 0;
    switch (this.phase) {
      case P_HEAD:
        this.head(r);
        break;
      case P_ELEMS:
        if (this.type === T.RDB_TYPE_MODULE_2) {
          if (this.moduleOpcode(r)) this.phase = P_DONE;
          break;
        }
        this.element(r);
        if (--this.remaining === 0) this.phase = this.isStream() ? P_TAIL : P_DONE;
        break;
      case P_RAW:
        this.rawPiece(r);
        break;
      case P_LZF_STREAM:
        if (this.emit) this.lzfPieces(r);
        else this.skipCompressed(r);
        break;
      case P_LZF: {
        r.ensure(this.clen, 'LZF compressed string');
        if (this.emit) {
          const at = r.pos;
          const out = lzfDecompress(r.buf, at, at + this.clen, this.ulen, r.base + at, r);
          r.pos = at + this.clen;
          this.push(out);
        } else {
          r.pos += this.clen;
        }
        this.phase = P_DONE;
        break;
      }
      case P_BLOB:
        this.blob(r);
        this.phase = P_DONE;
        break;
      case P_TAIL: {
        if (this.emit) {
          const meta = {} as StreamMeta;
          readStreamTail(r, this.type, meta);
          this.sink.stream = meta;
        } else {
          readStreamTail(r, this.type, null);
        }
        this.phase = P_DONE;
        break;
      }
    }
    return this.phase === P_DONE;
  }

  /** Undoes what the last step() appended (it ran out of input; the parser rewinds the reader). */
  rollback(): void {
    const sink = this.sink;
    sink.truncate(this.markCount);
    if (sink.fieldExpireAt) sink.fieldExpireAt.length = Math.min(sink.fieldExpireAt.length, this.markTtl);
    if (sink.streamEntries) sink.streamEntries.length = Math.min(sink.streamEntries.length, this.markEntries);
  }

  /** Bytes held by the sink (flush heuristics). */
  get pendingBytes(): number {
    return this.sink.byteLength + this.sinkBytes;
  }

  private isStream(): boolean {
    return this.type === T.RDB_TYPE_STREAM_LISTPACKS || this.type === T.RDB_TYPE_STREAM_LISTPACKS_2 || this.type === T.RDB_TYPE_STREAM_LISTPACKS_3;
  }

  /** Strings: the value (or a piece of it) as is, no copy. */
  private push(b: Buffer): void {
    this.sink.addView(b);
  }

  /** The value's header: a count, a string header, or a fixed prefix; picks the next phase. */
  private head(r: Reader): void {
    const t = this.type;
    switch (t) {
      case T.RDB_TYPE_STRING: {
        const n = r.lenOrEnc('string value');
        if (!r.isEnc) {
          if (n > r.maxLen) r.fail(`string value: length ${n} exceeds the limit ${r.maxLen}`);
          if (n <= STRING_PIECE) {
            // Small enough to wait for: one piece, like the fast path.
            const b = r.bytes(n, 'string value');
            if (this.emit) this.push(b);
            this.phase = P_DONE;
            return;
          }
          this.remaining = n;
          this.phase = n === 0 ? P_DONE : P_RAW;
          if (n === 0 && this.emit) this.push(Buffer.alloc(0));
          return;
        }
        if (n === 3) {
          const clen = r.byteLen('string value (LZF compressed length)');
          const ulen = r.byteLen('string value (LZF length)');
          checkLzfRatio(r, clen, ulen, 'string value');
          this.clen = clen;
          this.ulen = ulen;
          this.phase = P_LZF;
          if (ulen > STRING_PIECE) {
            // Never hold a big string whole: inflate it in pieces with an 8 KiB window.
            this.phase = P_LZF_STREAM;
            this.lzOut = Buffer.allocUnsafe(LZF_WINDOW + STRING_PIECE);
            this.lzPos = 0;
            this.lzEmitFrom = 0;
            this.lzProduced = 0;
          }
          return;
        }
        // int-encoded: a few bytes, read it whole.
        r.pos -= 1;
        if (this.emit) r.stringInto(this.sink, 'string value');
        else r.skipString('string value');
        this.phase = P_DONE;
        return;
      }
      case T.RDB_TYPE_HASH_LISTPACK_EX:
        r.skip(8, 'hash min expire');
        this.phase = P_BLOB;
        return;
      case T.RDB_TYPE_HASH_METADATA: {
        const minExpire = r.int64LE('hash min expire');
        const n = r.len('field count');
        this.minExpire = minExpire;
        return this.elements(n);
      }
      case T.RDB_TYPE_MODULE_2:
        this.moduleId = readModuleId(r);
        this.phase = P_ELEMS;
        this.remaining = Infinity;
        return;
      default:
        if (T.VALUE_TYPE[t] === undefined) skipValue(r, t); // throws the unknown-type error
        if (isBlobType(t)) {
          this.phase = P_BLOB;
          return;
        }
        return this.elements(r.len(this.isStream() ? 'stream node count' : 'element count'));
    }
  }

  private elements(n: number): void {
    this.remaining = n;
    this.phase = n > 0 ? P_ELEMS : this.isStream() ? P_TAIL : P_DONE;
  }

  /** One element of a sequence type (or one quicklist/stream node, or one module opcode). */
  private element(r: Reader): void {
    const t = this.type;
    const out = this.sink;
    if (!this.emit) return skipElement(r, t);
    switch (t) {
      case T.RDB_TYPE_LIST:
      case T.RDB_TYPE_SET:
        return r.stringInto(out, 'element');
      case T.RDB_TYPE_ZSET:
        r.stringInto(out, 'zset member');
        return r.scoreTextInto(out, 'zset score');
      case T.RDB_TYPE_ZSET_2:
        r.stringInto(out, 'zset member');
        return out.addDouble(r.doubleLE('zset score'));
      case T.RDB_TYPE_HASH:
        r.stringInto(out, 'hash field');
        return r.stringInto(out, 'hash value');
      case T.RDB_TYPE_HASH_METADATA_PRE_GA:
      case T.RDB_TYPE_HASH_METADATA: {
        const ttl = r.len('hash field TTL');
        r.stringInto(out, 'hash field');
        r.stringInto(out, 'hash value');
        (out.fieldExpireAt ??= []).push(ttl === 0 ? 0 : t === T.RDB_TYPE_HASH_METADATA ? ttl + this.minExpire - 1 : ttl);
        return;
      }
      case T.RDB_TYPE_VALKEY_HASH_2:
        (out.fieldExpireAt ??= []).push(readHash2Field(r, out));
        return;
      case T.RDB_TYPE_LIST_QUICKLIST:
        return decodeBlob(r, t, out);
      case T.RDB_TYPE_LIST_QUICKLIST_2:
        return decodeQuicklist2Node(r, out);
      case T.RDB_TYPE_STREAM_LISTPACKS:
      case T.RDB_TYPE_STREAM_LISTPACKS_2:
      case T.RDB_TYPE_STREAM_LISTPACKS_3: {
        const before = r.pos;
        readStreamNode(r, (out.streamEntries ??= []));
        this.sinkBytes += r.pos - before;
        return;
      }
      case T.RDB_TYPE_MODULE_2:
        return skipElement(r, t);
    }
  }

  /** One module opcode (RDB_MODULE_OPCODE_*); true at the EOF opcode. */
  private moduleOpcode(r: Reader): boolean {
    const op = r.len('module opcode');
    if (op === 0) return true;
    if (op === 1 || op === 2) r.len('module integer');
    else if (op === 3) r.skip(4, 'module float');
    else if (op === 4) r.skip(8, 'module double');
    else if (op === 5) r.skipString('module string');
    else r.fail(`module opcode ${op} (unknown)`);
    return false;
  }

  /** Payload mode: consumes the compressed bytes of a big LZF string as they come. */
  private skipCompressed(r: Reader): void {
    const avail = r.end - r.pos;
    if (avail <= 0) {
      r.needAbs = r.base + r.pos + 1;
      throw NEED_MORE;
    }
    const k = Math.min(this.clen, avail);
    r.pos += k;
    this.clen -= k;
    if (this.clen === 0) this.phase = P_DONE;
  }

  /**
   * Decode mode: inflates the buffered LZF instructions (a literal run or a back reference) of a
   * big string into lzOut and emits it in pieces of up to STRING_PIECE bytes; the last 8 KiB of
   * output stay in front of the next piece for back references. Stops (without error) at an
   * instruction that is not fully buffered; throws NEED_MORE only when it could do nothing.
   */
  private lzfPieces(r: Reader): void {
    const buf = r.buf;
    let ip = r.pos;
    const end = Math.min(r.end, r.pos + this.clen);
    let out = this.lzOut;
    let op = this.lzPos;
    const fail = (why: string): never => r.fail(`LZF data (${why})`, ip);
    for (;;) {
      if (ip >= end) break;
      const c = buf[ip];
      let need: number;
      if (c < 32) need = 2 + c;
      else need = (c >> 5) === 7 ? 3 : 2;
      if (ip + need > r.pos + this.clen) fail('instruction past the end of the compressed data');
      if (ip + need > end) break;
      if (op + 264 > out.length) {
        // Emit what is there; keep the window for back references in a fresh buffer.
        if (op > this.lzEmitFrom) this.push(out.subarray(this.lzEmitFrom, op));
        const fresh = Buffer.allocUnsafe(LZF_WINDOW + STRING_PIECE);
        const keep = Math.min(op, LZF_WINDOW);
        out.copy(fresh, 0, op - keep, op);
        out = fresh;
        op = keep;
        this.lzEmitFrom = keep;
      }
      const before = op;
      if (c < 32) {
        const n = c + 1;
        if (this.lzProduced + n > this.ulen) fail('literal run overflows the declared length');
        for (let i = 0; i < n; i++) out[op + i] = buf[ip + 1 + i];
        op += n;
      } else {
        let len = c >> 5;
        let p = ip + 1;
        if (len === 7) len += buf[p++];
        const back = ((c & 0x1f) << 8) + buf[p] + 1;
        if (back > this.lzProduced) fail('back reference before the start');
        len += 2;
        if (this.lzProduced + len > this.ulen) fail('back reference overflows the declared length');
        let ref = op - back;
        for (let i = 0; i < len; i++) out[op++] = out[ref++];
      }
      this.lzProduced += op - before;
      ip += need;
    }
    const consumed = ip - r.pos;
    if (consumed === 0 && this.clen > 0) {
      r.needAbs = r.base + r.pos + 3;
      throw NEED_MORE;
    }
    r.pos = ip;
    this.clen -= consumed;
    this.lzOut = out;
    this.lzPos = op;
    if (this.clen === 0) {
      if (this.lzProduced !== this.ulen) fail(`decompressed ${this.lzProduced} bytes, expected ${this.ulen}`);
      if (op > this.lzEmitFrom) this.push(out.subarray(this.lzEmitFrom, op));
      this.lzOut = Buffer.alloc(0);
      this.phase = P_DONE;
    }
  }

  /** One piece of a raw string value (never waits for the whole string). */
  private rawPiece(r: Reader): void {
    const avail = r.end - r.pos;
    if (avail <= 0) {
      r.needAbs = r.base + r.pos + 1;
      throw NEED_MORE;
    }
    const k = Math.min(this.remaining, avail, STRING_PIECE);
    if (this.emit) this.push(r.buf.subarray(r.pos, r.pos + k));
    r.pos += k;
    this.remaining -= k;
    if (this.remaining === 0) this.phase = P_DONE;
  }

  /** A value stored as one string blob (compact encodings). */
  private blob(r: Reader): void {
    if (this.emit) decodeBlob(r, this.type, this.sink);
    else r.skipString('value');
  }
}

/** Skips one element of a sequence type (payload mode: measuring, not decoding). */
function skipElement(r: Reader, t: number): void {
  switch (t) {
    case T.RDB_TYPE_LIST:
    case T.RDB_TYPE_SET:
    case T.RDB_TYPE_LIST_QUICKLIST:
      return r.skipString('element');
    case T.RDB_TYPE_ZSET:
      r.skipString('zset member');
      return r.skipScoreText('zset score');
    case T.RDB_TYPE_ZSET_2:
      r.skipString('zset member');
      return r.skip(8, 'zset score');
    case T.RDB_TYPE_HASH:
      r.skipString('hash field');
      return r.skipString('hash value');
    case T.RDB_TYPE_HASH_METADATA_PRE_GA:
    case T.RDB_TYPE_HASH_METADATA:
      r.len('hash field TTL');
      r.skipString('hash field');
      return r.skipString('hash value');
    case T.RDB_TYPE_VALKEY_HASH_2:
      r.skipString('hash field');
      r.skipString('hash value');
      return r.skip(8, 'hash field expire');
    case T.RDB_TYPE_LIST_QUICKLIST_2:
      r.len('quicklist container');
      return r.skipString('quicklist node');
    case T.RDB_TYPE_STREAM_LISTPACKS:
    case T.RDB_TYPE_STREAM_LISTPACKS_2:
    case T.RDB_TYPE_STREAM_LISTPACKS_3:
      return skipStreamNode(r);
  }
}
