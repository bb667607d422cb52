/**
 * Writes the keys of an RDB into the target (full sync). Two writers behind one interface:
 *
 * - `restore`: `RESTORE key <expireAt> <payload> ABSTTL [REPLACE] [IDLETIME s] [FREQ f]` with the
 *   raw DUMP payload: the target loads the compact encoding as is, no per-element work on either
 *   side. Used when the target's RDB version >= the source's (RESTORE refuses newer payloads).
 * - `commands`: type commands built from decoded chunks (SET/APPEND, RPUSH, SADD, ZADD, HSET, XADD +
 *   XSETID + XGROUP/XCLAIM), then PEXPIREAT; for older targets and for keys above the parser's
 *   payload limit. Each command carries at most CHUNK_ITEMS elements / CHUNK_BYTES bytes, far
 *   below any proto-max-bulk-len.
 *
 * Speed (DESIGN.md "Where the engine's speed comes from"): plain strings stored raw are batched into
 * one MSET per ~256 keys (their TTLs as PEXPIREAT right behind, same pipeline); the target is
 * single-threaded, so fewer, larger commands is what brings the engine close to native replication.
 * Keys whose TTL has already passed are skipped (a replica would load them and wait for the DEL).
 */
import type { ChunkEntry, Entry, FunctionEntry, KeyEntry } from '../entry.js';
import { FULL_DIALECT, type Dialect } from './dialect.js';
import { decimalLength, writeHeader, type Arg } from '../resp/encoder.js';
import { RespError, type RespValue } from '../resp/decoder.js';
import type { KeyFilter } from './filter.js';
import type { CommandSink } from './target.js';

/** Which writer the full sync uses. */
export type WriterMode = 'restore' | 'commands';

export interface KeyWriterOptions {
  mode: WriterMode;
  /** RESTORE … REPLACE (overwrite keys that exist on the target). */
  replace?: boolean;
  filter: KeyFilter;
  /** What the target's version understands (dialect.ts); default: everything. */
  dialect?: Dialect;
  /** --drop-field-ttl: hash fields keep their value and lose their TTL on a target without them. */
  dropFieldTtl?: boolean;
  /** Reports a problem that does not stop the sync (module value skipped, field TTLs, …). */
  warn(message: string): void;
  /** A write the target refused: the full sync cannot be trusted. */
  fail(err: Error): void;
  now?(): number;
}

/** Counters for progress and the final report. */
export interface KeyWriterStats {
  keys: number;
  expiredSkipped: number;
  filtered: number;
  restored: number;
  batchedStrings: number;
  commandKeys: number;
  functions: number;
  /** Hash fields written without their TTL (--drop-field-ttl). */
  fieldTtlsDropped: number;
  /**
   * Pending entries of consumer groups that XCLAIM could not recreate because their stream entry
   * was deleted or trimmed (counted as the replies arrive).
   */
  pendingSkipped: number;
}

/** The consumer group that makes an empty stream exist for a moment (see writeStreamChunk). */
const PLACEHOLDER_GROUP = '__ferry_placeholder__';
/**
 * The RESTORE writer's per-key switch: a value bigger than this in the RDB is not RESTOREd but
 * decoded and written as chunked commands (HSET/ZADD/SADD/RPUSH/SET+APPEND/XADD), so no key is
 * ever held whole and ferry's memory does not grow with the biggest key.
 *
 * NOTE (why a per-key switch and not a streamed RESTORE): a RESTORE payload is one bulk string whose
 * length comes first (`$<len>\r\n`), but an RDB value's length is only known once it has been read
 * to its end, so the payload would have to be held whole anyway; and the target refuses bulks above
 * its proto-max-bulk-len (512 MB by default: redis src/config.c `createLongLongConfig(
 * "proto-max-bulk-len", …, 512ll*1024*1024, …)`), so a 1 GB key cannot be RESTOREd at all. Chunked
 * commands need neither: each carries at most CHUNK_ITEMS elements / CHUNK_BYTES.
 *
 * NOTE (why 4 MiB): while a value is measured its bytes are held, and a value found bigger than the
 * limit is decoded and encoded from those bytes within one input piece: about 4-5x the limit of
 * transient memory (held bytes, their join, the decoded chunk, the commands) on top of ferry's
 * steady ~150 MB (node ~70 MB, the 16 MiB window, GC slack of up to ~64 MB of dead buffers). At
 * 4 MiB that stays under the 200 MB bound with room; at 16 MiB (the parser's default) the worst
 * case would not. Below the limit RESTORE is kept: for 8 MB hashes it cost the target 2.0-2.8 s of
 * CPU where HSETs cost 3.1 s (bench/README.md "Big keys"), and most keys are far below 4 MiB.
 */
export const RESTORE_LIMIT = 4 * 1024 * 1024;

const MSET_KEYS = 1024;
const MSET_BYTES = 512 * 1024;
const CHUNK_ITEMS = 1024;
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Elements at least this big are sent as their own Buffers, not copied (the encoder's BIG_ARG). */
const BIG_ITEM = 64 * 1024;
const RPUSH = Buffer.from('RPUSH');
const SADD = Buffer.from('SADD');
const HSET = Buffer.from('HSET');
const ZADD = Buffer.from('ZADD');

/** Bytes of `*<argc>\r\n$<len>\r\n<cmd>\r\n$<len>\r\n<key>\r\n` without the argc line. */
function commandHeadLength(cmd: Buffer, key: Buffer): number {
  return 1 + decimalLength(cmd.length) + 2 + cmd.length + 2 + 1 + decimalLength(key.length) + 2 + key.length + 2;
}

/** Writes `*<argc>\r\n` + cmd + key as bulk strings at out[p]; returns the end. */
function writeCommandHead(out: Buffer, p: number, argc: number, cmd: Buffer, key: Buffer): number {
  p = writeHeader(out, p, 0x2a, argc);
  for (const b of [cmd, key]) {
    p = writeHeader(out, p, 0x24, b.length);
    p += b.copy(out, p);
    out[p++] = 13;
    out[p++] = 10;
  }
  return p;
}

/** Writes chunk element i as a bulk string at out[p]; returns the end. */
function writeBulk(out: Buffer, p: number, i: number, itemLength: (i: number) => number, writeItem: (i: number, dst: Uint8Array, off: number) => number): number {
  p = writeHeader(out, p, 0x24, itemLength(i));
  p = writeItem(i, out, p);
  out[p++] = 13;
  out[p++] = 10;
  return p;
}

/** Encoded size of an MSET pair `$<klen>\r\n<key>\r\n$<vlen>\r\n<value>\r\n`. */
export function stringPairLength(klen: number, vlen: number): number {
  return 1 + decimalLength(klen) + 2 + klen + 2 + 1 + decimalLength(vlen) + 2 + vlen + 2;
}

/**
 * Writes a plain-string key's MSET pair at out[p] (its key and value `klen` and `vlen` bytes long,
 * as the caller read them); returns the end.
 * NOTE: through writeKey/writeValue (RdbKeyEntry) no Buffer view is made per key or value: with
 * two views per key the views were the largest cost of a full sync of small strings (profile).
 */
export function writeStringPair(out: Buffer, p: number, e: KeyEntry, klen: number, vlen: number): number {
  p = writeHeader(out, p, 0x24, klen);
  p = e.writeKey ? e.writeKey(out, p) : p + e.key.copy(out, p);
  out[p++] = 13;
  out[p++] = 10;
  p = writeHeader(out, p, 0x24, vlen);
  p = e.writeValue ? e.writeValue(out, p) : p + e.value!.copy(out, p);
  out[p++] = 13;
  out[p++] = 10;
  return p;
}

/** `MSET k1 v1 k2 v2 …` for plain-string keys, encoded straight from the parser's input. */
function encodeMset(entries: readonly KeyEntry[], argBytes: number): Buffer {
  const argc = 1 + 2 * entries.length;
  const out = Buffer.allocUnsafe(1 + decimalLength(argc) + 2 + 10 + argBytes); // 10: $4\r\nMSET\r\n
  let p = writeHeader(out, 0, 0x2a, argc);
  p += out.write('$4\r\nMSET\r\n', p, 'latin1');
  for (const e of entries) p = writeStringPair(out, p, e, e.keyLength ?? e.key.length, e.valueLength ?? e.value!.length);
  if (p !== out.length) throw new Error(`MSET encoding: wrote ${p} bytes, expected ${out.length}`);
  return out;
}

/** See the file comment. */
export class KeyWriter {
  readonly stats: KeyWriterStats = { keys: 0, expiredSkipped: 0, filtered: 0, restored: 0, batchedStrings: 0, commandKeys: 0, functions: 0, fieldTtlsDropped: 0, pendingSkipped: 0 };
  private db = -1;
  /** Plain strings waiting for the next MSET, and its encoded size so far (without the header). */
  private mset: KeyEntry[] = [];
  private msetBytes = 0;
  private expires: Array<[Buffer, number]> = [];
  /** The chunked key in progress, or null when its chunks are being skipped. */
  private current: KeyEntry | null = null;
  private skippingChunks = false;
  private wroteFirstPiece = false;
  private readonly onReply: (v: RespValue) => void;
  private readonly onClaim: (v: RespValue) => void;
  private readonly dialect: Dialect;

  constructor(
    private readonly conn: CommandSink,
    private readonly opts: KeyWriterOptions,
  ) {
    this.onReply = (v) => {
      if (v instanceof RespError) this.opts.fail(new Error(refusalMessage(v.message)));
    };
    this.dialect = opts.dialect ?? FULL_DIALECT;
    // XCLAIM … FORCE JUSTID creates a PEL entry only when the entry exists in the stream
    // (t_stream.c xclaimCommand: "Item must exist for us to create a NACK for it"): an empty
    // reply is a pending entry whose stream entry is gone, which no command can recreate.
    this.onClaim = (v) => {
      if (Array.isArray(v) && v.length === 0) this.stats.pendingSkipped++;
      else this.onReply(v);
    };
  }

  /** Handles one record from the RDB parser. */
  write(e: Entry): void {
    if (e.kind === 'key') this.writeKey(e);
    else if (e.kind === 'chunk') this.writeChunk(e);
    else if (e.kind === 'function') this.writeFunction(e);
  }

  /** Sends whatever is batched. Call at the end of the RDB (and before waiting for replies). */
  finish(): void {
    this.flushStrings();
  }

  private writeKey(e: KeyEntry): void {
    this.current = null;
    this.skippingChunks = false;
    // NOTE: the clock is read only for keys with a TTL, and the key filter (which needs the key as
    // a Buffer) only when one is set: this runs once per key of the full sync.
    if (e.expireAt !== null && e.expireAt <= (this.opts.now?.() ?? Date.now())) {
      this.stats.expiredSkipped++;
      this.skippingChunks = !!e.chunked;
      return;
    }
    if (!this.opts.filter.passAll && !this.opts.filter.keyPasses(e.key)) {
      this.stats.filtered++;
      this.skippingChunks = !!e.chunked;
      return;
    }
    this.stats.keys++;
    this.select(this.opts.filter.mapDb(e.db));
    if (e.chunked) {
      this.current = e;
      this.wroteFirstPiece = false;
      this.stats.commandKeys++;
      if (this.opts.replace) this.send(['DEL', e.key]);
      return;
    }
    if (e.type === 'string') {
      const vlen = e.valueLength ?? e.value?.length ?? -1;
      if (vlen >= 0) return this.batchString(e, vlen);
    }
    const payload = e.payload;
    if (!payload) {
      this.opts.warn(`key '${printable(e.key)}' (${e.type}) came without a payload or chunks; skipped`);
      return;
    }
    const args: Arg[] = ['RESTORE', e.key, e.expireAt ?? 0, payload];
    if (this.opts.replace) args.push('REPLACE');
    if (e.expireAt !== null) args.push('ABSTTL');
    if (e.idle != null) args.push('IDLETIME', e.idle);
    else if (e.freq != null) args.push('FREQ', e.freq);
    this.send(args);
    this.stats.restored++;
  }

  private batchString(e: KeyEntry, vlen: number): void {
    this.mset.push(e);
    this.msetBytes += stringPairLength(e.keyLength ?? e.key.length, vlen);
    // NOTE: a sink that takes strings writes their TTLs too when the target has SET … PXAT.
    if (e.expireAt !== null && !(this.conn.sendStrings && this.dialect.setPxat)) this.expires.push([e.key, e.expireAt]);
    this.stats.batchedStrings++;
    if (this.mset.length >= MSET_KEYS || this.msetBytes >= MSET_BYTES) this.flushStrings();
  }

  private flushStrings(): void {
    if (this.mset.length === 0) return;
    // A sink that routes strings itself (the cluster router gathers them per slot) takes the keys
    // (and their TTLs, as SET … PXAT, where the target has it).
    if (this.conn.sendStrings) this.conn.sendStrings(this.mset, this.dialect.setPxat, this.onReply);
    else this.conn.sendRaw(encodeMset(this.mset, this.msetBytes), this.onReply);
    for (const [k, at] of this.expires) this.conn.send(['PEXPIREAT', k, at], this.onReply);
    this.mset = [];
    this.msetBytes = 0;
    this.expires = [];
  }

  private select(db: number): void {
    if (db === this.db) return;
    this.flushStrings();
    this.send(['SELECT', db]);
    this.db = db;
  }

  private send(args: Arg[]): void {
    this.flushStrings();
    this.conn.send(args, this.onReply);
  }

  private writeChunk(c: ChunkEntry): void {
    if (this.skippingChunks) return;
    const e = this.current;
    if (!e) return;
    const key = e.key;
    switch (e.type) {
      case 'string':
        for (const piece of c.items) {
          this.send(this.wroteFirstPiece ? ['APPEND', key, piece] : ['SET', key, piece]);
          this.wroteFirstPiece = true;
        }
        if (c.last && !this.wroteFirstPiece) this.send(['SET', key, '']);
        break;
      case 'list':
        this.sendChunk(RPUSH, key, c, 1, false);
        break;
      case 'set':
        this.sendChunk(SADD, key, c, 1, false);
        break;
      case 'hash':
        this.sendChunk(HSET, key, c, 2, false);
        if (c.fieldExpireAt?.some((t) => t > 0)) this.writeFieldTtls(key, c);
        break;
      case 'zset':
        // Chunks hold [member, score, …]; ZADD takes score member.
        this.sendChunk(ZADD, key, c, 2, true);
        break;
      case 'stream':
        this.writeStreamChunk(key, c);
        break;
      default:
        if (c.last) this.opts.warn(`key '${printable(key)}' holds a module value that cannot be rewritten as commands; skipped`);
        return;
    }
    if (c.last) {
      if (e.expireAt !== null) this.send(['PEXPIREAT', key, e.expireAt]);
      this.current = null;
    }
  }

  /**
   * Sends a chunk's elements as `CMD key items…` commands of at most CHUNK_ITEMS items /
   * CHUNK_BYTES bytes (`group` items per element: 2 for field/value and member/score pairs; `swap`
   * writes each pair in reverse order). Encoded straight from the chunk's packed bytes
   * (count/itemLength/writeItem): no Buffer view per element and no argument array.
   * NOTE: a big key is mostly this loop. Through `items` (a Buffer view per element, ~100 bytes of
   * heap each) one input piece that completes a big key's measuring (payload mode decodes the
   * RESTORE_LIMIT bytes it held in one go) made over a million views at once: the 3M-field hash +
   * 2M zset peaked at 352 MB with the RESTORE writer; encoded from the packed bytes, 140-176 MB.
   * Ferry CPU for 50 hashes of 100k fields as commands: 2.0 -> 1.5 s.
   */
  private sendChunk(cmd: Buffer, key: Buffer, c: ChunkEntry, group: number, swap: boolean): void {
    const n = c.count ?? c.items.length;
    const itemLength = c.itemLength?.bind(c);
    const writeItem = c.writeItem?.bind(c);
    if (!itemLength || !writeItem) return this.sendItems(cmd, key, c.items, 0, n, group, swap);
    const head = commandHeadLength(cmd, key);
    for (let from = 0; from < n; ) {
      let to = from;
      let bytes = 0;
      let size = 0;
      let big = false;
      while (to < n && to - from < CHUNK_ITEMS && bytes < CHUNK_BYTES) {
        for (let j = 0; j < group; j++) {
          const len = itemLength(to + j);
          if (len >= BIG_ITEM) big = true;
          bytes += len;
          size += 1 + decimalLength(len) + 2 + len + 2;
        }
        to += group;
      }
      if (big) {
        // Elements this big travel as their own Buffers (the encoder does not copy them).
        this.sendItems(cmd, key, c.items, from, to, group, swap);
      } else {
        const [a, b] = [from, to];
        const total = 1 + decimalLength(2 + b - a) + 2 + head + size;
        this.flushStrings();
        this.conn.sendWith(total, (out, p) => {
          p = writeCommandHead(out, p, 2 + b - a, cmd, key);
          for (let i = a; i < b; i += group) {
            if (swap) {
              p = writeBulk(out, p, i + 1, itemLength, writeItem);
              p = writeBulk(out, p, i, itemLength, writeItem);
            } else {
              for (let j = 0; j < group; j++) p = writeBulk(out, p, i + j, itemLength, writeItem);
            }
          }
          return p;
        }, this.onReply);
      }
      from = to;
    }
  }

  /** sendChunk through Buffers: items[from, to) in commands of CHUNK_ITEMS / CHUNK_BYTES. */
  private sendItems(cmd: Buffer, key: Buffer, items: Buffer[], from: number, to: number, group: number, swap: boolean): void {
    let args: Arg[] = [cmd, key];
    let bytes = 0;
    for (let i = from; i < to; i += group) {
      if (swap) args.push(items[i + 1], items[i]);
      else for (let j = 0; j < group; j++) args.push(items[i + j]);
      for (let j = 0; j < group; j++) bytes += items[i + j].length;
      if (args.length - 2 >= CHUNK_ITEMS || bytes >= CHUNK_BYTES) {
        this.send(args);
        args = [cmd, key];
        bytes = 0;
      }
    }
    if (args.length > 2) this.send(args);
  }

  private writeFieldTtls(key: Buffer, c: ChunkEntry): void {
    const ttls = c.fieldExpireAt ?? [];
    if (!this.dialect.fieldTtl) {
      // Preflight refused this pair unless --drop-field-ttl; a field TTL set since then stops the sync.
      if (!this.opts.dropFieldTtl) {
        this.opts.fail(new Error(`key '${printable(key)}' has hash fields with a TTL, which the target (${this.dialect.name}) cannot hold; run again with --drop-field-ttl to copy them without their TTL, or use a Redis 7.4+ target`));
        return;
      }
      for (const t of ttls) if (t > 0) this.stats.fieldTtlsDropped++;
      return;
    }
    for (let i = 0; i < ttls.length; i++) {
      if (ttls[i] > 0) this.send(['HPEXPIREAT', key, ttls[i], 'FIELDS', 1, c.items[2 * i]]);
    }
  }

  private writeStreamChunk(key: Buffer, c: ChunkEntry): void {
    for (const entry of c.streamEntries ?? []) {
      this.send(['XADD', key, entry.id, ...entry.fields]);
      this.wroteFirstPiece = true;
    }
    const meta = c.stream;
    if (!c.last || !meta) return;
    if (!this.wroteFirstPiece) {
      // An empty stream still exists as a key. NOTE: created with a placeholder group, not a
      // placeholder entry: an XDEL would leave max-deleted-entry-id at 0-1, and XSETID cannot set
      // it back to 0-0 (t_stream.c at 7.0.15 ignores MAXDELETEDID 0-0). MKSTREAM exists since 5.0.
      this.send(['XGROUP', 'CREATE', key, PLACEHOLDER_GROUP, '0', 'MKSTREAM']);
      this.send(['XGROUP', 'DESTROY', key, PLACEHOLDER_GROUP]);
    }
    // NOTE: the 7.0 stream metadata (entries added, max deleted ID, a group's entries read) only
    // where the target has it (dialect.ts): 6.2 answers these arguments with a syntax error.
    const d = this.dialect;
    this.send(d.streamMeta ? ['XSETID', key, meta.lastId, 'ENTRIESADDED', meta.entriesAdded, 'MAXDELETEDID', meta.maxDeletedId] : ['XSETID', key, meta.lastId]);
    for (const g of meta.groups) {
      this.send(d.streamMeta ? ['XGROUP', 'CREATE', key, g.name, g.lastId, 'ENTRIESREAD', g.entriesRead] : ['XGROUP', 'CREATE', key, g.name, g.lastId]);
      const owner = new Map<string, Buffer>();
      for (const cons of g.consumers) {
        // Without CREATECONSUMER (before 6.2) a consumer comes into being with its first XCLAIM.
        if (d.createConsumer) this.send(['XGROUP', 'CREATECONSUMER', key, g.name, cons.name]);
        for (const id of cons.pending) owner.set(id, cons.name);
      }
      for (const p of g.pending) {
        const cons = owner.get(p.id);
        if (!cons) continue;
        this.flushStrings();
        this.conn.send(['XCLAIM', key, g.name, cons, 0, p.id, 'TIME', p.deliveryTime, 'RETRYCOUNT', p.deliveryCount, 'FORCE', 'JUSTID'], this.onClaim);
      }
    }
  }

  private writeFunction(f: FunctionEntry): void {
    if (!this.dialect.functions) {
      this.opts.fail(new Error(`the source holds function libraries and the target (${this.dialect.name}) has no FUNCTION command; use a Redis 7.0+ target`));
      return;
    }
    this.stats.functions++;
    this.send(['FUNCTION', 'LOAD', 'REPLACE', f.code]);
  }
}

function refusalMessage(msg: string): string {
  if (/BUSYKEY/.test(msg)) return `the target already holds a key the source has (${msg}); empty the target or use --replace`;
  if (/payload version or checksum/i.test(msg)) return `the target refused a RESTORE payload (${msg}); use --writer commands`;
  // TargetConn answers every pending command with this when the connection itself is lost.
  const lost = /^ERR ferry: (.*)$/.exec(msg);
  if (lost) return `lost the target during the full sync (${lost[1]}); check that it is up, then run again`;
  return `the target refused a write during the full sync: ${msg}`;
}

/** A key for messages, cut and escaped. */
export function printable(key: Buffer): string {
  const s = key.subarray(0, 80).toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return key.length > 80 ? `${s}...` : s;
}
