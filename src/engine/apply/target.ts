/**
 * What the engine (sync.ts) needs from "the target", so that one server (standalone-target.ts: one
 * pipelined TargetConn, one checkpoint key) and a Redis Cluster (cluster/cluster-target.ts: a slot
 * router over one TargetConn per master, per-slot checkpoints) are interchangeable:
 *
 *   readCheckpoint / isEmpty           where a resume starts, and whether the target is ferry's
 *   beginFullSync → CommandSink        [flush] + "rdb" marker; the KeyWriter writes into the sink
 *   endFullSync                        the "stream" checkpoint, acknowledged after every key
 *   createApplier                      the stream applier (exactly-once transactions)
 *   full / waitForWindow / whenIdle    the window of unanswered bytes (backpressure)
 *   settle                             after a link ends: everything sent answered, position exact
 */
import type { Checkpoint } from '../checkpoint.js';
import type { KeyEntry } from '../entry.js';
import type { Arg } from '../resp/encoder.js';
import type { RespError, RespValue } from '../resp/decoder.js';
import type { Dialect } from './dialect.js';
import type { ScriptCache } from './script-cache.js';
import type { KeyFilter } from './filter.js';

/** Called with each reply of a command sent with a callback. */
export type ReplyHandler = (reply: RespValue) => void;

/** Where the full-sync writer and the stream applier queue commands (TargetConn, the slot router). */
export interface CommandSink {
  /** Queues a command; `onReply` gets its reply (errors included). Returns its encoded size. */
  send(args: readonly Arg[], onReply?: ReplyHandler): number;
  /** Queues bytes that are already one RESP command. */
  sendRaw(bytes: Buffer, onReply?: ReplyHandler): void;
  /** Queues one command of `n` bytes that `fill` encodes in place (returns the end offset). */
  sendWith(n: number, fill: (buf: Buffer, off: number) => number, onReply?: ReplyHandler): void;
  /**
   * Optional: plain-string keys of the full sync (raw or int-encoded values, key-writer.ts), to be
   * written as by one MSET, `onReply` answered once; with `ttls`, the keys with a TTL (`expireAt`)
   * as `SET key value PXAT ms` (Redis 6.2+), else their TTLs are the caller's (PEXPIREAT after).
   * Without it the KeyWriter encodes the MSET and the PEXPIREATs itself; the cluster router takes
   * the keys to gather them per slot.
   */
  sendStrings?(entries: readonly KeyEntry[], ttls: boolean, onReply?: ReplyHandler): void;
}

/** The stream applier as the engine drives it (stream-applier.ts, cluster/slot-applier.ts). */
export interface Applier {
  /** Offset applied to the target (its transaction acknowledged). */
  applied: number;
  /** Source db at `applied`. */
  readonly appliedDb: number;
  /** Offset of the last command handed to `command()`. */
  readonly received: number;
  readonly replid: string;
  commandsApplied: number;
  /** Commands dropped for the target's dialect (dialect.ts): hash-field TTLs, consumers. */
  readonly dropped: { fieldTtl: number; consumer: number };
  /** The scripts a replica would know (script-cache.ts): an EVALSHA of one is sent as EVAL. */
  readonly scripts: ScriptCache;
  /** Offset after the last command that changed data (a failover's neutral tail is after it). */
  readonly lastDataOffset: number;
  /** One stream command; `offset` is the replication offset after it. */
  command(argv: Buffer[], offset: number): void;
  /** End of a socket read: close the batch unless inside a source transaction. */
  flush(): void;
  /** The link dropped: drop a half-received source transaction, send complete commands. */
  abandonPartial(): void;
  /** Stops accepting commands (after a fatal error). */
  stop(): void;
}

export interface ApplierOptions {
  filter: KeyFilter;
  replid: string;
  /** Offset already applied (the FULLRESYNC offset after the RDB, or the checkpoint's). */
  offset: number;
  /** Source db at `offset`. */
  db: number;
  /** A batch failed as a whole: the sync must stop. */
  fail(err: Error): void;
  /** A command inside an applied batch returned an error (the target diverges). */
  warn(message: string): void;
  /** Called after each applied batch. */
  onApplied?(cp: Checkpoint): void;
  /** The target's dialect: commands it lacks are rewritten or refused (dialect.ts). */
  dialect?: Dialect;
  /** --drop-field-ttl: copy hash fields without their TTL to a target that cannot hold one. */
  dropFieldTtl?: boolean;
  /** A command this target must not apply: the applier stops before it with this message. */
  refuse?(argv: Buffer[]): string | null;
  /** The checkpoint key (default `__ferry:sync:checkpoint`; one per link when a cluster source shares the target). */
  checkpointKey?: string;
}

/** See the file comment. */
export interface EngineTarget {
  readonly kind: 'standalone' | 'cluster';
  /** Connects (and, for a cluster, discovers its masters and slots). */
  connect(): Promise<void>;
  /** Refuses (SafetyError) a source whose data this target cannot hold, e.g. dbs other than 0 for a cluster. */
  checkSource?(sourceKeyspace: string, filter: KeyFilter): void;
  /** A control command on one server of the target (INFO server for the writer choice). */
  call(args: readonly Arg[]): Promise<RespValue>;
  /** True when the target holds no key. */
  isEmpty(): Promise<boolean>;
  /** The checkpoint a previous run left in the target, or null. */
  readCheckpoint(): Promise<Checkpoint | null>;
  /** Starts a full sync: FLUSHALL when `flush`, then the 'rdb' marker. Returns the sink for the keys. */
  beginFullSync(cp: Checkpoint, flush: boolean): CommandSink;
  /** Every RDB key is sent: writes the 'stream' checkpoint after them; `done` once the target holds it. */
  endFullSync(cp: Checkpoint, done: (err: RespError | Error | null) => void): void;
  /** The stream applier, starting at `opts.offset`. */
  createApplier(opts: ApplierOptions): Applier;
  /** Deletes the checkpoint from the target (the sync is over). */
  removeCheckpoint(): Promise<void>;
  /** The window of unanswered bytes is used up: stop reading the source. */
  readonly full: boolean;
  /** Resolves once there is room in the window again. */
  waitForWindow(): Promise<void>;
  /** Resolves when every command sent so far has its reply. */
  whenIdle(): Promise<void>;
  /** After a source link ends and before the next PSYNC: everything sent answered, position exact. */
  settle(): Promise<void>;
  close(): void;
  /** Extra fields for the sync report (e.g. `cluster: {…}`). */
  report?(): Record<string, unknown>;
}
