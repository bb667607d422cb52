/**
 * Empty keys: old RDB files (and Redis' own test assets) hold lists, sets, zsets and hashes with
 * no element. Redis skips them when it loads such a file (rdb.c at 7.0.15: rdbLoadObject jumps
 * to `emptykey` for a length of 0, an empty ziplist/listpack/quicklist; rdbLoadRio then logs
 * "rdbLoadObject skipping empty key" and counts them), and RESTORE of one fails. The parser does
 * the same and counts them (`RdbParser.emptyKeysSkipped`, shown by `ferry rdb inspect`).
 * A stream with no entry is a real key (it may hold groups): never skipped.
 */
import type { Reader } from './reader.js';
import * as T from './types.js';

/**
 * With the reader on a value of RDB type `type`: the offset just after it when it is an empty
 * collection, else -1. Reads only the header (a length byte, or a short string and the blob's
 * count); throws the reader's NEED_MORE when those bytes have not arrived.
 */
export function emptyValueEnd(r: Reader, type: number): number {
  const p = r.pos;
  switch (type) {
    case T.RDB_TYPE_LIST:
    case T.RDB_TYPE_SET:
    case T.RDB_TYPE_ZSET:
    case T.RDB_TYPE_HASH:
    case T.RDB_TYPE_ZSET_2:
    case T.RDB_TYPE_VALKEY_HASH_2:
      r.ensure(1, 'value length');
      return r.buf[p] === 0 ? p + 1 : -1; // a 6-bit length 0: how Redis writes 0
    case T.RDB_TYPE_LIST_QUICKLIST:
    case T.RDB_TYPE_LIST_QUICKLIST_2:
      return emptyQuicklistEnd(r, type === T.RDB_TYPE_LIST_QUICKLIST_2);
    case T.RDB_TYPE_HASH_METADATA:
      // int64 minExpire, then the field count.
      r.ensure(9, 'hash metadata length');
      return r.buf[p + 8] === 0 ? p + 9 : -1;
    case T.RDB_TYPE_HASH_ZIPMAP:
    case T.RDB_TYPE_LIST_ZIPLIST:
    case T.RDB_TYPE_SET_INTSET:
    case T.RDB_TYPE_ZSET_ZIPLIST:
    case T.RDB_TYPE_HASH_ZIPLIST:
    case T.RDB_TYPE_HASH_LISTPACK:
    case T.RDB_TYPE_ZSET_LISTPACK:
    case T.RDB_TYPE_SET_LISTPACK:
    case T.RDB_TYPE_HASH_LISTPACK_EX:
      return emptyBlobEnd(r, type, type === T.RDB_TYPE_HASH_LISTPACK_EX ? p + 8 : p);
    default:
      return -1;
  }
}

/**
 * A quicklist with no node, or whose every node is an empty ziplist (v1) / listpack (v2): Redis
 * skips such a list too (rdb.c: "if (quicklistCount(o->ptr) == 0) goto emptykey", its asset
 * corrupt_empty_keys.rdb has one). Walks nodes only while they are empty.
 */
function emptyQuicklistEnd(r: Reader, v2: boolean): number {
  r.ensure(1, 'quicklist length');
  const first = r.buf[r.pos];
  if (first === 0) return r.pos + 1;
  if (first >= 0x40) return -1; // 64 nodes or more: not worth walking, certainly not all empty
  let at = r.pos + 1;
  for (let i = 0; i < first; i++) {
    if (v2) {
      r.ensure(at - r.pos + 1, 'quicklist node container');
      if (r.buf[at] !== 2) return -1; // 1 = PLAIN: one element
      at++;
    }
    const end = emptyBlobEnd(r, v2 ? T.RDB_TYPE_HASH_LISTPACK : T.RDB_TYPE_LIST_ZIPLIST, at);
    if (end < 0) return -1;
    at = end;
  }
  return at;
}

/** An encoded blob stored as a short raw string (an empty one is 2 to 11 bytes, never LZF). */
function emptyBlobEnd(r: Reader, type: number, at: number): number {
  r.ensure(at - r.pos + 1, 'blob length');
  const n = r.buf[at];
  if (n >= 0x40) return -1; // longer than 63 bytes, or an encoded/LZF string: not empty
  r.ensure(at - r.pos + 1 + n, 'blob header');
  const b = at + 1;
  const buf = r.buf;
  let empty: boolean;
  switch (type) {
    case T.RDB_TYPE_HASH_ZIPMAP:
      empty = n >= 1 && buf[b] === 0; // zmlen
      break;
    case T.RDB_TYPE_SET_INTSET:
      empty = n >= 8 && buf.readUInt32LE(b + 4) === 0; // encoding, length
      break;
    case T.RDB_TYPE_LIST_ZIPLIST:
    case T.RDB_TYPE_ZSET_ZIPLIST:
    case T.RDB_TYPE_HASH_ZIPLIST:
      empty = n >= 11 && buf.readUInt16LE(b + 8) === 0; // zlbytes, zltail, zllen
      break;
    default:
      empty = n >= 7 && buf.readUInt16LE(b + 4) === 0; // listpack: total bytes, count
  }
  return empty ? b + n : -1;
}
