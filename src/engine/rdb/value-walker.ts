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
import type { ChunkEntry, StreamMeta } from '../entry.js';
import { walkIntset, walkListpack, walkZiplist, walkZipmap } from './compact.js';
import { NEED_MORE } from './errors.js';
import { lzfDecompress } from './lzf.js';
import { checkLzfRatio, doubleText, type Reader } from './reader.js';
import { readStreamNode, readStreamTail, skipStreamNode } from './stream.js';
import * as T from './types.js';
import { decodeQuicklist2Node, decodeValue, readModuleId, skipValue } from './value.js';

/** Largest piece of a raw string emitted at once. */
const STRING_PIECE = 1 << 20;

const P_HEAD = 0;
const P_ELEMS = 1;
const P_RAW = 2;
const P_LZF = 3;
const P_TAIL = 4;
const P_BLOB = 5;
const P_DONE = 6;

/** See the module comment. */
export class ValueWalker {
  type = 0;
  emit = false;
  /** Where decoded elements go (the parser swaps in a fresh chunk after flushing). */
  sink: ChunkEntry = { kind: 'chunk', items: [], last: false };
  /** Bytes of element data appended to the sink since it was last flushed (flush heuristics). */
  sinkBytes = 0;
  /** MODULE_2 values: the module type id read from the head. */
  moduleId = 0n;
  private phase = P_HEAD;
  private remaining = 0;
  private minExpire = 0;
  private clen = 0;
  private ulen = 0;

  /** Starts walking a value of RDB type `type` (the reader is at its first byte). */
  start(type: number, emit: boolean): void {
    this.type = type;
    this.emit = emit;
    this.phase = P_HEAD;
    this.remaining = 0;
  }

  /** Reads one unit; true when the value is complete. */
  step(r: Reader): boolean {
    switch (this.phase) {
      case P_HEAD:
        this.head(r);
        break;
      case P_ELEMS:
        this.element(r);
        if (--this.remaining === 0) this.phase = this.isStream() ? P_TAIL : P_DONE;
        break;
      case P_RAW:
        this.rawPiece(r);
        break;
      case P_LZF: {
        r.ensure(this.clen, 'LZF compressed string');
        if (this.emit) {
          const at = r.pos;
          const out = lzfDecompress(r.buf, at, at + this.clen, this.ulen, r.base + at, r.key);
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

  private isStream(): boolean {
    return this.type === T.RDB_TYPE_STREAM_LISTPACKS || this.type === T.RDB_TYPE_STREAM_LISTPACKS_2 || this.type === T.RDB_TYPE_STREAM_LISTPACKS_3;
  }

  private push(b: Buffer): void {
    this.sink.items.push(b);
    this.sinkBytes += b.length + 16;
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
          return;
        }
        // int-encoded: a few bytes, read it whole.
        r.pos -= 1;
        if (this.emit) this.push(r.string('string value'));
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
    const emit = this.emit;
    switch (t) {
      case T.RDB_TYPE_LIST:
      case T.RDB_TYPE_SET:
        if (emit) this.push(r.string('element'));
        else r.skipString('element');
        return;
      case T.RDB_TYPE_ZSET:
        if (emit) {
          const m = r.string('zset member');
          const s = r.scoreText('zset score');
          this.push(m);
          this.push(s);
        } else {
          r.skipString('zset member');
          r.skipScoreText('zset score');
        }
        return;
      case T.RDB_TYPE_ZSET_2:
        if (emit) {
          const m = r.string('zset member');
          const s = doubleText(r.doubleLE('zset score'));
          this.push(m);
          this.push(s);
        } else {
          r.skipString('zset member');
          r.skip(8, 'zset score');
        }
        return;
      case T.RDB_TYPE_HASH:
        if (emit) {
          const f = r.string('hash field');
          const v = r.string('hash value');
          this.push(f);
          this.push(v);
        } else {
          r.skipString('hash field');
          r.skipString('hash value');
        }
        return;
      case T.RDB_TYPE_HASH_METADATA_PRE_GA:
      case T.RDB_TYPE_HASH_METADATA: {
        const ttl = r.len('hash field TTL');
        if (!emit) {
          r.skipString('hash field');
          r.skipString('hash value');
          return;
        }
        const f = r.string('hash field');
        const v = r.string('hash value');
        this.push(f);
        this.push(v);
        (this.sink.fieldExpireAt ??= []).push(ttl === 0 ? 0 : t === T.RDB_TYPE_HASH_METADATA ? ttl + this.minExpire - 1 : ttl);
        return;
      }
      case T.RDB_TYPE_LIST_QUICKLIST: {
        if (!emit) return r.skipString('quicklist node');
        const node = r.string('quicklist ziplist');
        const at = r.dataAt;
        return this.counted(() => walkZiplist(node, this.sink.items, { at, key: r.key }));
      }
      case T.RDB_TYPE_LIST_QUICKLIST_2:
        if (!emit) {
          r.len('quicklist container');
          return r.skipString('quicklist node');
        }
        return this.counted(() => decodeQuicklist2Node(r, this.sink.items));
      case T.RDB_TYPE_STREAM_LISTPACKS:
      case T.RDB_TYPE_STREAM_LISTPACKS_2:
      case T.RDB_TYPE_STREAM_LISTPACKS_3: {
        if (!emit) return skipStreamNode(r);
        const entries = (this.sink.streamEntries ??= []);
        const before = r.pos;
        readStreamNode(r, entries);
        this.sinkBytes += r.pos - before;
        return;
      }
      case T.RDB_TYPE_MODULE_2: {
        const op = r.len('module opcode');
        if (op === 0) {
          this.remaining = 1; // the caller's decrement ends the walk
          return;
        }
        if (op === 1 || op === 2) r.len('module integer');
        else if (op === 3) r.skip(4, 'module float');
        else if (op === 4) r.skip(8, 'module double');
        else if (op === 5) r.skipString('module string');
        else r.fail(`module opcode ${op} (unknown)`);
        this.remaining = Infinity;
        return;
      }
    }
  }

  /** Runs an appending decoder and accounts the bytes it appended. */
  private counted(fn: () => void): void {
    const items = this.sink.items;
    const before = items.length;
    fn();
    for (let i = before; i < items.length; i++) this.sinkBytes += items[i].length + 16;
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
    const t = this.type;
    if (!this.emit) return r.skipString('value');
    if (t === T.RDB_TYPE_HASH_LISTPACK_EX || t === T.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA) {
      // Reuse the whole-value decoder from the blob on (it expects the reader at the blob).
      const tmp: ChunkEntry = { kind: 'chunk', items: [], last: false };
      decodeValue(r, T.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA, tmp);
      for (const it of tmp.items) this.push(it);
      (this.sink.fieldExpireAt ??= []).push(...(tmp.fieldExpireAt ?? []));
      return;
    }
    const b = r.string('value');
    const ctx = { at: r.dataAt, key: r.key };
    this.counted(() => {
      const items = this.sink.items;
      if (t === T.RDB_TYPE_HASH_ZIPMAP) walkZipmap(b, items, ctx);
      else if (t === T.RDB_TYPE_SET_INTSET) walkIntset(b, items, ctx);
      else if (t === T.RDB_TYPE_HASH_LISTPACK || t === T.RDB_TYPE_ZSET_LISTPACK || t === T.RDB_TYPE_SET_LISTPACK) walkListpack(b, items, ctx);
      else walkZiplist(b, items, ctx);
    });
  }
}

/** Types whose value is a single string blob. */
export function isBlobType(t: number): boolean {
  return (
    t === T.RDB_TYPE_HASH_ZIPMAP || t === T.RDB_TYPE_LIST_ZIPLIST || t === T.RDB_TYPE_SET_INTSET ||
    t === T.RDB_TYPE_ZSET_ZIPLIST || t === T.RDB_TYPE_HASH_ZIPLIST || t === T.RDB_TYPE_HASH_LISTPACK ||
    t === T.RDB_TYPE_ZSET_LISTPACK || t === T.RDB_TYPE_SET_LISTPACK || t === T.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA
  );
}
