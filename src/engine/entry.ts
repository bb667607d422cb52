/**
 * The one record type that flows from the readers (RDB parser, command stream) to the writers
 * (STYLE.md #5). A big key never travels whole: its elements come in `chunk` records.
 */

export type ValueType = 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'module';

/** One key from an RDB. */
export interface KeyEntry {
  kind: 'key';
  db: number;
  key: Buffer;
  type: ValueType;
  /** RDB type byte (e.g. 0 string, 16 hash listpack, 21 stream v3). */
  rdbType: number;
  /** Absolute expiry in unix ms, or null. */
  expireAt: number | null;
  /**
   * The DUMP/RESTORE payload (type byte + value + RDB version LE16 + CRC64), present when the
   * parser ran with payloads enabled and the value was not larger than its payload limit.
   */
  payload?: Buffer;
  /** Set when the value is streamed in `chunk` records after this one (big keys, decode mode). */
  chunked?: boolean;
}

/** Decoded elements of the key last announced by a `key` record with `chunked: true`. */
export interface ChunkEntry {
  kind: 'chunk';
  /** list/set: members; hash: [field, value, ...]; zset: [member, score-as-string, ...]. */
  items: Buffer[];
  /** hash with per-field TTLs: field -> absolute ms. */
  fieldExpireAt?: Map<string, number>;
  last: boolean;
}

/** A command from the replication stream, with the db it applies to and its stream offset. */
export interface CommandEntry {
  kind: 'command';
  db: number;
  argv: Buffer[];
  /** Replication offset after this command's bytes. */
  offset: number;
}

export type Entry = KeyEntry | ChunkEntry | CommandEntry;
