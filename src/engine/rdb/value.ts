/**
 * Values of every RDB type, read from a Reader positioned at the value (after the key):
 * skipValue() only moves past it (payload mode: the bytes are sliced, not looked at), decodeValue()
 * appends its elements to a chunk (chunk.ts). Layouts: REPLICATION-FACTS.md B "Value types".
 */
import type { StreamEntryRecord, StreamMeta } from '../entry.js';
import type { RdbChunk } from './chunk.js';
import { ListpackIter, walkIntset, walkListpack, walkZiplist, walkZipmap, type BlobCtx } from './compact.js';
import { RdbError } from './errors.js';
import { doubleString, type Reader } from './reader.js';
import { readStreamNode, readStreamTail, skipStreamNode } from './stream.js';
import * as T from './types.js';

/** Module value opcodes (RDB_MODULE_OPCODE_*): the self-describing stream of a MODULE_2 value. */
const MOD_EOF = 0;
const MOD_SINT = 1;
const MOD_UINT = 2;
const MOD_FLOAT = 3;
const MOD_DOUBLE = 4;
const MOD_STRING = 5;

/** Skips a module value's (or MODULE_AUX body's) opcode stream up to its EOF opcode. */
export function skipModuleOpcodes(r: Reader): void {
  for (;;) {
    const op = r.len('module opcode');
    switch (op) {
      case MOD_EOF:
        return;
      case MOD_SINT:
      case MOD_UINT:
        r.len('module integer');
        break;
      case MOD_FLOAT:
        r.skip(4, 'module float');
        break;
      case MOD_DOUBLE:
        r.skip(8, 'module double');
        break;
      case MOD_STRING:
        r.skipString('module string');
        break;
      default:
        r.fail(`module opcode ${op} (unknown)`, r.pos - 1);
    }
  }
}

/** Reads a MODULE_2 value's 64-bit module id (a length field). */
export function readModuleId(r: Reader): bigint {
  const p = r.pos;
  r.ensure(1, 'module id');
  if (r.buf[p] === 0x81) {
    r.ensure(9, 'module id');
    r.pos = p + 9;
    return r.buf.readBigUInt64BE(p + 1);
  }
  return BigInt(r.len('module id'));
}

function unknownType(r: Reader, type: number): never {
  if (type === T.RDB_TYPE_MODULE_PRE_GA) r.fail('value of type 6 (MODULE pre-GA, Redis 4.0 RC): not supported');
  return r.fail(`value of unknown RDB type ${type} (written by a newer Redis/Valkey? ferry supports types 0-25)`);
}

/** Moves the reader past a value of RDB type `type` without decoding it. */
export function skipValue(r: Reader, type: number): void {
  switch (type) {
    case T.RDB_TYPE_STRING:
      return r.skipString('value');
    case T.RDB_TYPE_LIST:
    case T.RDB_TYPE_SET:
    case T.RDB_TYPE_LIST_QUICKLIST:
      for (let n = r.len('element count'); n > 0; n--) r.skipString('element');
      return;
    case T.RDB_TYPE_ZSET:
      for (let n = r.len('element count'); n > 0; n--) {
        r.skipString('zset member');
        r.skipScoreText('zset score');
      }
      return;
    case T.RDB_TYPE_ZSET_2:
      for (let n = r.len('element count'); n > 0; n--) {
        r.skipString('zset member');
        r.skip(8, 'zset score');
      }
      return;
    case T.RDB_TYPE_HASH:
      for (let n = r.len('field count'); n > 0; n--) {
        r.skipString('hash field');
        r.skipString('hash value');
      }
      return;
    case T.RDB_TYPE_LIST_QUICKLIST_2:
      for (let n = r.len('quicklist node count'); n > 0; n--) {
        r.len('quicklist container');
        r.skipString('quicklist node');
      }
      return;
    case T.RDB_TYPE_HASH_METADATA_PRE_GA:
    case T.RDB_TYPE_HASH_METADATA:
      if (type === T.RDB_TYPE_HASH_METADATA) r.skip(8, 'hash min expire');
      for (let n = r.len('field count'); n > 0; n--) {
        r.len('hash field TTL');
        r.skipString('hash field');
        r.skipString('hash value');
      }
      return;
    case T.RDB_TYPE_HASH_LISTPACK_EX:
      r.skip(8, 'hash min expire');
      return r.skipString('hash listpack');
    case T.RDB_TYPE_VALKEY_HASH_2:
      for (let n = r.len('field count'); n > 0; n--) {
        r.skipString('hash field');
        r.skipString('hash value');
        r.skip(8, 'hash field expire');
      }
      return;
    case T.RDB_TYPE_STREAM_LISTPACKS:
    case T.RDB_TYPE_STREAM_LISTPACKS_2:
    case T.RDB_TYPE_STREAM_LISTPACKS_3:
      for (let n = r.len('stream node count'); n > 0; n--) skipStreamNode(r);
      return readStreamTail(r, type, null);
    case T.RDB_TYPE_MODULE_2:
      readModuleId(r);
      return skipModuleOpcodes(r);
    default:
      if (isBlobType(type)) return r.skipString('value');
      unknownType(r, type);
  }
}

/** Decodes a complete value into `out` (elements, fieldExpireAt, stream fields). */
export function decodeValue(r: Reader, type: number, out: RdbChunk): void {
  switch (type) {
    case T.RDB_TYPE_STRING:
      return r.stringInto(out, 'string value');
    case T.RDB_TYPE_LIST:
    case T.RDB_TYPE_SET:
      for (let n = r.len('element count'); n > 0; n--) r.stringInto(out, 'element');
      return;
    case T.RDB_TYPE_ZSET:
      for (let n = r.len('element count'); n > 0; n--) {
        r.stringInto(out, 'zset member');
        r.scoreTextInto(out, 'zset score');
      }
      return;
    case T.RDB_TYPE_ZSET_2:
      for (let n = r.len('element count'); n > 0; n--) {
        r.stringInto(out, 'zset member');
        out.addDouble(r.doubleLE('zset score'));
      }
      return;
    case T.RDB_TYPE_HASH:
      for (let n = r.len('field count'); n > 0; n--) {
        r.stringInto(out, 'hash field');
        r.stringInto(out, 'hash value');
      }
      return;
    case T.RDB_TYPE_LIST_QUICKLIST:
      for (let n = r.len('quicklist node count'); n > 0; n--) decodeBlob(r, type, out);
      return;
    case T.RDB_TYPE_LIST_QUICKLIST_2:
      for (let n = r.len('quicklist node count'); n > 0; n--) decodeQuicklist2Node(r, out);
      return;
    case T.RDB_TYPE_HASH_METADATA_PRE_GA:
    case T.RDB_TYPE_HASH_METADATA:
      return decodeHashMetadata(r, type, out);
    case T.RDB_TYPE_VALKEY_HASH_2: {
      const ttls: number[] = (out.fieldExpireAt ??= []);
      for (let n = r.len('field count'); n > 0; n--) ttls.push(readHash2Field(r, out));
      return;
    }
    case T.RDB_TYPE_HASH_LISTPACK_EX:
      r.skip(8, 'hash min expire');
      return decodeBlob(r, type, out);
    case T.RDB_TYPE_STREAM_LISTPACKS:
    case T.RDB_TYPE_STREAM_LISTPACKS_2:
    case T.RDB_TYPE_STREAM_LISTPACKS_3:
      return decodeStream(r, type, out);
    case T.RDB_TYPE_MODULE_2:
      return r.fail('module value: cannot decode (kept raw for RESTORE)');
    default:
      if (isBlobType(type)) return decodeBlob(r, type, out);
      unknownType(r, type);
  }
}

/** Types whose value is a single string blob (and quicklist 1 nodes). */
export function isBlobType(t: number): boolean {
  return (
    t === T.RDB_TYPE_HASH_ZIPMAP || t === T.RDB_TYPE_LIST_ZIPLIST || t === T.RDB_TYPE_SET_INTSET ||
    t === T.RDB_TYPE_ZSET_ZIPLIST || t === T.RDB_TYPE_HASH_ZIPLIST || t === T.RDB_TYPE_HASH_LISTPACK ||
    t === T.RDB_TYPE_ZSET_LISTPACK || t === T.RDB_TYPE_SET_LISTPACK || t === T.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA
  );
}

/**
 * Reads one compact blob (the whole value of a blob type, a quicklist 1 node, or the listpack of
 * a HASH_LISTPACK_EX after its min-expire field) and walks it in place into `out`.
 */
export function decodeBlob(r: Reader, type: number, out: RdbChunk): void {
  const b = r.blob(blobName(type));
  const from = r.blobFrom;
  const to = r.blobTo;
  const ctx = r.ctx();
  switch (type) {
    case T.RDB_TYPE_HASH_LISTPACK:
    case T.RDB_TYPE_ZSET_LISTPACK:
    case T.RDB_TYPE_SET_LISTPACK:
      return walkListpack(b, from, to, out, ctx);
    case T.RDB_TYPE_SET_INTSET:
      return walkIntset(b, from, to, out, ctx);
    case T.RDB_TYPE_HASH_ZIPMAP:
      return walkZipmap(b, from, to, out, ctx);
    case T.RDB_TYPE_HASH_LISTPACK_EX:
    case T.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA:
      return splitTriples(b, from, to, ctx, out);
    default:
      return walkZiplist(b, from, to, out, ctx);
  }
}

/** What a blob is called in error messages. */
function blobName(type: number): string {
  if (type === T.RDB_TYPE_LIST_QUICKLIST) return 'quicklist ziplist';
  if (type === T.RDB_TYPE_HASH_LISTPACK_EX || type === T.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA) return 'hash listpack';
  if (type === T.RDB_TYPE_SET_INTSET) return 'intset';
  if (type === T.RDB_TYPE_HASH_ZIPMAP) return 'zipmap';
  return type === T.RDB_TYPE_HASH_LISTPACK || type === T.RDB_TYPE_ZSET_LISTPACK || type === T.RDB_TYPE_SET_LISTPACK ? 'listpack' : 'ziplist';
}

/** LIST_QUICKLIST_2 node: len container (1 PLAIN = one raw element, 2 PACKED = listpack) + string. */
export function decodeQuicklist2Node(r: Reader, out: RdbChunk): void {
  const at = r.pos;
  const container = r.len('quicklist container');
  if (container === 1) return r.stringInto(out, 'quicklist node');
  const b = r.blob('quicklist node');
  if (container === 2) walkListpack(b, r.blobFrom, r.blobTo, out, r.ctx());
  else r.fail(`quicklist container type ${container}`, at);
}

/** One field of Valkey's HASH_2: field, value, int64 LE expire-at ms (-1 none); returns it, 0 for none. */
export function readHash2Field(r: Reader, out: RdbChunk): number {
  r.stringInto(out, 'hash field');
  r.stringInto(out, 'hash value');
  const at = r.int64LE('hash field expire');
  return at < 0 ? 0 : at;
}

/** Types 22/24: (24: int64 LE minExpire) len; per field: len ttl, field, value. */
function decodeHashMetadata(r: Reader, type: number, out: RdbChunk): void {
  const minExpire = type === T.RDB_TYPE_HASH_METADATA ? r.int64LE('hash min expire') : 0;
  const ttls: number[] = (out.fieldExpireAt ??= []);
  for (let n = r.len('field count'); n > 0; n--) {
    const ttl = r.len('hash field TTL');
    r.stringInto(out, 'hash field');
    r.stringInto(out, 'hash value');
    ttls.push(ttl === 0 ? 0 : type === T.RDB_TYPE_HASH_METADATA ? ttl + minExpire - 1 : ttl);
  }
}

const triples = new ListpackIter();

/** Types 23/25: a listpack of (field, value, ttl ms absolute, 0 = none) triples. */
export function splitTriples(b: Buffer, from: number, to: number, ctx: BlobCtx, out: RdbChunk): void {
  const it = triples.reset(b, from, to, ctx);
  const ttls: number[] = (out.fieldExpireAt ??= []);
  for (;;) {
    if (!it.next()) return;
    it.addTo(out);
    if (!it.next()) break;
    it.addTo(out);
    if (!it.next()) break;
    ttls.push(it.int('hash field TTL'));
  }
  throw new RdbError('hash listpack with TTLs: element count is not a multiple of 3', ctx.at, ctx.key ?? ctx.reader?.key);
}

function decodeStream(r: Reader, type: number, out: RdbChunk): void {
  const entries: StreamEntryRecord[] = (out.streamEntries ??= []);
  for (let n = r.len('stream node count'); n > 0; n--) readStreamNode(r, entries);
  const meta = {} as StreamMeta;
  readStreamTail(r, type, meta);
  out.stream = meta;
}
