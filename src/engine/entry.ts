/**
 * The one record type that flows from the readers (RDB parser, command stream) to the writers
 * (STYLE.md #5). A big key never travels whole: its elements come in `chunk` records.
 *
 * Sequence from the RDB parser (src/engine/rdb/parser.ts), in file order:
 *   key (chunked: false, payload set)              small key, payload mode: RESTORE it
 *   key (chunked: true) chunk* chunk(last: true)   decode mode, or a value above the payload limit
 *   function                                       a Redis 7+ function library (FUNCTION2 opcode)
 * Chunks always belong to the key record just before them; no other record comes in between.
 * Records reference the input chunks the parser was given (zero-copy): do not modify those Buffers.
 */

export type ValueType = 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'module';

/** One key from an RDB. */
export interface KeyEntry {
  kind: 'key';
  db: number;
  key: Buffer;
  type: ValueType;
  /** RDB type byte (e.g. 0 string, 16 hash listpack, 21 stream v3); src/engine/rdb/types.ts names them. */
  rdbType: number;
  /** Absolute expiry in unix ms, or null. Keys already expired are passed on: the writer decides. */
  expireAt: number | null;
  /** LRU idle time in seconds (RDB_OPCODE_IDLE), for RESTORE ... IDLETIME; null when absent. */
  idle?: number | null;
  /** LFU counter (RDB_OPCODE_FREQ), for RESTORE ... FREQ; null when absent. */
  freq?: number | null;
  /** Size of the value as stored in the RDB, in bytes (for progress and "biggest keys"). */
  size?: number;
  /**
   * The DUMP/RESTORE payload: RDB type byte + the value bytes exactly as in the RDB + RDB version
   * (u16 LE, the source file's version) + CRC64 (u64 LE) of everything before it. Byte-equal to
   * what `DUMP key` returns on the source. Present when the value was not larger than the parser's
   * payload limit (and not `chunked`). The parser builds it lazily on first read (one copy +
   * CRC64) and caches it, so a writer that uses `value` (e.g. MSET of plain strings) pays nothing.
   * NOTE: RESTORE refuses a payload whose version is newer than the target's RDB version.
   */
  readonly payload?: Buffer;
  /**
   * Strings (type 'string') in payload mode: the value itself when it is stored raw or int-encoded
   * in the RDB (zero-copy slice); undefined when it is LZF-compressed (use the payload, or the
   * decode helpers in src/engine/rdb/).
   */
  value?: Buffer;
  /** Module values: the module's 9-character type name and encoding version. */
  module?: { name: string; version: number };
  /** Set when the value follows in `chunk` records (decode mode, or bigger than the payload limit). */
  chunked?: boolean;
  /**
   * Fast paths of parser-made keys (RdbKeyEntry): the parser creates no Buffer per key; `key`,
   * `value` and `payload` are views/copies made on first access. A writer that composes its output
   * buffer itself can copy the bytes without them: keyLength + writeKey(dst, off) and
   * payloadLength (-1 when chunked) + writePayload(dst, off) (builds the CRC64 in place); both
   * return the offset after what they wrote.
   */
  readonly keyLength?: number;
  writeKey?(dst: Uint8Array, off: number): number;
  readonly payloadLength?: number;
  writePayload?(dst: Uint8Array, off: number): number;
  /** Same for `value`: its length (-1 when there is none) and writeValue(dst, off). */
  readonly valueLength?: number;
  writeValue?(dst: Uint8Array, off: number): number;
}

/** A stream entry: ID `ms-seq` and its field/value pairs. Deleted entries are not emitted. */
export interface StreamEntryRecord {
  id: string;
  /** field, value, field, value, ... */
  fields: Buffer[];
}

/** A pending entry of a consumer group. */
export interface StreamPending {
  id: string;
  /** Last delivery, unix ms. */
  deliveryTime: number;
  deliveryCount: number;
}

/** A consumer of a group. */
export interface StreamConsumer {
  name: Buffer;
  /** Unix ms of the last interaction. */
  seenTime: number;
  /** Unix ms of the last successful read (RDB stream v3; equals seenTime before). */
  activeTime: number;
  /** IDs of the group PEL entries owned by this consumer. */
  pending: string[];
}

/** A consumer group. */
export interface StreamGroup {
  name: Buffer;
  lastId: string;
  /** entries_read (RDB stream v2+); -1 when unknown or before v2. */
  entriesRead: number;
  pending: StreamPending[];
  consumers: StreamConsumer[];
}

/** Stream metadata, sent on the last chunk of a stream key (XSETID / XGROUP CREATE / XCLAIM). */
export interface StreamMeta {
  /** Number of (not deleted) entries. */
  length: number;
  lastId: string;
  /** v2+: first entry ID, largest deleted ID and entries ever added; v1: '0-0', '0-0', length. */
  firstId: string;
  maxDeletedId: string;
  entriesAdded: number;
  groups: StreamGroup[];
}

/** Decoded elements of the key last announced by a `key` record with `chunked: true`. */
export interface ChunkEntry {
  kind: 'chunk';
  /**
   * string: consecutive pieces of the value (concatenate them; one piece unless the value is huge);
   * list: elements in order; set: members (file order);
   * zset: [member, score, member, score, ...] with scores as text ZADD accepts ("1.5", "inf");
   * hash: [field, value, field, value, ...] (file order);
   * stream: empty (see streamEntries).
   */
  items: Buffer[];
  /**
   * hash with per-field TTLs (RDB types 22-25): one absolute unix-ms expiry per field/value pair of
   * `items` (fieldExpireAt[i] belongs to items[2i]); 0 = no TTL. Absent when no field in the chunk
   * has a TTL field in its encoding.
   */
  fieldExpireAt?: number[];
  /** stream: entries of this chunk, in ID order. */
  streamEntries?: StreamEntryRecord[];
  /** stream: metadata and consumer groups, on the last chunk only. */
  stream?: StreamMeta;
  last: boolean;
  /**
   * Fast paths of parser-made chunks (RdbChunk): elements are packed in a shared byte slab and
   * `items` creates one Buffer view per element on first access. count + itemLength(i) +
   * writeItem(i, dst, off) give the same elements without creating them.
   */
  readonly count?: number;
  itemLength?(i: number): number;
  writeItem?(i: number, dst: Uint8Array, off: number): number;
}

/** A function library from the RDB (Redis 7.0+, RDB_OPCODE_FUNCTION2). */
export interface FunctionEntry {
  kind: 'function';
  /** The library source (`#!lua name=mylib ...`), for `FUNCTION LOAD REPLACE`. */
  code: Buffer;
  /** A payload for `FUNCTION RESTORE` (opcode + string + RDB version u16 LE + CRC64 LE). */
  payload: Buffer;
}

/** A command from the replication stream, with the db it applies to and its stream offset. */
export interface CommandEntry {
  kind: 'command';
  db: number;
  argv: Buffer[];
  /** Replication offset after this command's bytes. */
  offset: number;
}

export type Entry = KeyEntry | ChunkEntry | FunctionEntry | CommandEntry;
