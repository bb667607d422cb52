/**
 * Applies the replication command stream to the target, exactly once.
 *
 * Commands are grouped into batches; each batch goes to the target as ONE transaction:
 *
 *   MULTI  [SELECT n]  cmd…  [SELECT m]  cmd…  SELECT 0  SET <checkpoint key> <replid, offset, db>  EXEC
 *
 * so the target holds a batch together with the offset after it, or neither (checkpoint.ts). The
 * source's own MULTI/EXEC blocks are flattened into the batch they fall in (a batch never ends
 * inside one), so they stay atomic on the target. PING, REPLCONF and SELECT are not forwarded but
 * count in offsets; SELECT switches the db the following commands are written to (through
 * `--db-map`). Batches are pipelined; the offset applied to the target advances when each EXEC
 * reply arrives, and only then may it be acknowledged to the source.
 *
 * Commands are rewritten into the target's dialect first (dialect.ts, through stream-command.ts,
 * which the cluster applier shares): a 7.0+ source's `XGROUP SETID … ENTRIESREAD n` reaches a 6.2
 * target without the 7.0 argument; a hash-field TTL command reaches a target without field TTLs
 * only as a drop (--drop-field-ttl, counted) or stops the sync with a message naming that flag.
 *
 * NOTE: a command the target refuses when queueing it (unknown command, wrong arity, OOM) makes the
 * EXEC fail with EXECABORT. Nothing of that batch is applied and the checkpoint stays before it, so
 * the applier stops with an error naming the command and a later resume retries from there.
 */
import type { Arg } from '../resp/encoder.js';
import { RespError, type RespValue } from '../resp/decoder.js';
import { isWord } from '../replication/source-link.js';
import { CHECKPOINT_KEY, encodeCheckpoint, type Checkpoint } from '../checkpoint.js';
import { controlWord, StreamCommands } from './stream-command.js';
import type { Applier, ApplierOptions, CommandSink } from './target.js';

export interface StreamApplierOptions extends ApplierOptions {
  conn: CommandSink;
}

const BATCH_COMMANDS = 5000;
const BATCH_BYTES = 4 * 1024 * 1024;

/** See the file comment. */
export class StreamApplier implements Applier {
  /** Offset applied to the target (EXEC replied). */
  applied: number;
  /** Source db at `applied`. */
  appliedDb: number;
  /** Offset of the last command handed to `command()`. */
  received: number;
  replid: string;
  commandsApplied = 0;
  errors = 0;
  /** Refusal, scripts, filter and dialect of each command (stream-command.ts). */
  private readonly prep: StreamCommands;
  /**
   * Offset after the last command that changed the target (PING, REPLCONF, SELECT, MULTI/EXEC,
   * PUBLISH and filtered-out commands do not): the stream after it is data-neutral, so the target
   * holds exactly the data of the source at this offset too (see SyncEngine.rewindNeutralTail).
   */
  lastDataOffset: number;

  private srcDb: number;
  private open = false;
  private inTx = false;
  private txDb = -1;
  private batchCommands = 0;
  private batchBytes = 0;
  /** Commands of the open batch, for error messages: name per queued command. */
  private batchNames: Buffer[] = [];
  /** Offset and db covered by the last committed (sent) batch. */
  private committed: number;
  private committedDb: number;
  private stopped = false;
  private readonly onQueued: (v: RespValue) => void;
  private readonly key: string;

  constructor(private readonly opts: StreamApplierOptions) {
    this.prep = new StreamCommands(opts);
    this.applied = opts.offset;
    this.received = opts.offset;
    this.committed = opts.offset;
    this.committedDb = opts.db;
    this.appliedDb = opts.db;
    this.srcDb = opts.db;
    this.replid = opts.replid;
    this.lastDataOffset = opts.offset;
    this.onQueued = () => {};
    this.key = opts.checkpointKey ?? CHECKPOINT_KEY;
  }

  /** Handles one stream command; `offset` is the replication offset after it. */
  command(argv: Buffer[], offset: number): void {
    if (this.stopped) return;
    this.received = offset;
    const name = argv[0];
    switch (controlWord(name)) {
      case 'select':
        this.srcDb = Number(argv[1]?.toString());
        return;
      case 'skip':
        return;
      case 'multi':
        if (this.batchCommands > 0) this.commit();
        this.inTx = true;
        return;
      case 'exec':
        this.inTx = false;
        if (this.batchCommands >= BATCH_COMMANDS || this.batchBytes >= BATCH_BYTES) this.commit();
        return;
    }
    const prepared = this.prep.prepare(argv);
    if (prepared === null) return;
    if (!Array.isArray(prepared)) {
      // Nothing of the open batch is committed: the checkpoint stays before it.
      this.stopped = true;
      this.opts.fail(new Error(prepared.refuse));
      return;
    }
    let args: Arg[] = prepared;
    if (!isWord(name, 'PUBLISH')) this.lastDataOffset = offset;
    this.ensureOpen();
    if (isWord(name, 'SWAPDB')) {
      // The checkpoint key must not travel to another db with db 0's keys: drop it first (it is
      // written again at the end of this same transaction).
      this.queue(['SELECT', 0]);
      this.queue(['DEL', this.key]);
      this.txDb = 0;
      args = ['SWAPDB', this.mapDbArg(argv[1]), this.mapDbArg(argv[2])];
    } else if (isWord(name, 'MOVE') && argv.length === 3) {
      args = ['MOVE', argv[1], this.mapDbArg(argv[2])];
    }
    const db = this.opts.filter.mapDb(this.srcDb);
    if (db !== this.txDb) {
      this.queue(['SELECT', db]);
      this.txDb = db;
    }
    this.batchBytes += this.queue(args);
    this.batchNames.push(name);
    this.batchCommands++;
    this.commandsApplied++;
    if (!this.inTx && (this.batchCommands >= BATCH_COMMANDS || this.batchBytes >= BATCH_BYTES)) this.commit();
  }

  /** Scripts the source assumes this replica knows (script-cache.ts). */
  get scripts(): StreamCommands['scripts'] {
    return this.prep.scripts;
  }

  /** EVALSHA sent as EVAL (the body was known). */
  get evalshaRewritten(): number {
    return this.prep.evalshaRewritten;
  }

  /** Commands not applied because the target cannot hold what they set (see translateCommand). */
  get dropped(): StreamCommands['dropped'] {
    return this.prep.dropped;
  }

  /** End of a socket read: close the batch unless inside a source transaction. */
  flush(): void {
    if (this.stopped || this.inTx) return;
    if (this.received > this.committed || this.open) this.commit();
  }

  /** True while a source MULTI is open (its EXEC not seen yet). */
  get inTransaction(): boolean {
    return this.inTx;
  }

  /**
   * The link dropped: abandon a half-received transaction (DISCARD: nothing of it reaches the
   * data), commit complete commands. After this, `received` equals what will be applied.
   */
  abandonPartial(): void {
    if (this.inTx) {
      if (this.open) this.opts.conn.send(['DISCARD'], this.onQueued);
      this.open = false;
      this.inTx = false;
      this.batchCommands = 0;
      this.batchBytes = 0;
      this.batchNames = [];
      this.received = this.committed;
      this.srcDb = this.committedDb;
      this.txDb = -1;
      return;
    }
    this.flush();
  }

  /** Stops accepting commands (after a fatal error). */
  stop(): void {
    this.stopped = true;
  }

  private ensureOpen(): void {
    if (this.open) return;
    this.opts.conn.send(['MULTI'], this.onQueued);
    this.open = true;
  }

  /** A db number argument of the source, mapped through --db-map. */
  private mapDbArg(b: Buffer | undefined): Arg {
    const n = Number(b?.toString());
    return Number.isInteger(n) ? this.opts.filter.mapDb(n) : (b ?? '');
  }

  private queue(args: Arg[]): number {
    return this.opts.conn.send(args, this.onQueued);
  }

  /** Closes the open batch with the checkpoint write and EXEC. */
  private commit(): void {
    this.ensureOpen();
    const cp: Checkpoint = { replid: this.replid, offset: this.received, db: this.srcDb, phase: 'stream' };
    if (this.txDb !== 0) this.queue(['SELECT', 0]);
    this.queue(['SET', this.key, encodeCheckpoint(cp)]);
    const names = this.batchNames;
    const count = this.batchCommands;
    this.opts.conn.send(['EXEC'], (reply) => this.onExec(reply, cp, names, count));
    this.committed = cp.offset;
    this.committedDb = cp.db;
    this.open = false;
    this.txDb = 0;
    this.batchCommands = 0;
    this.batchBytes = 0;
    this.batchNames = [];
  }

  private onExec(reply: RespValue, cp: Checkpoint, names: Buffer[], count: number): void {
    if (this.stopped) return;
    if (!Array.isArray(reply)) {
      this.stopped = true;
      const why = reply instanceof RespError ? reply.message : String(reply);
      this.opts.fail(new Error(`the target refused a batch of ${count} stream commands (${why}); nothing of it was applied — check that the target supports every command the source uses (${[...new Set(names.map((n) => n.toString().toUpperCase()))].slice(0, 8).join(', ')})`));
      return;
    }
    // Replies: [SELECT?] cmd… [SELECT 0] SET — errors here are commands the target executed with
    // an error (e.g. WRONGTYPE); the source applied them successfully, so the copies now differ.
    for (const r of reply) {
      if (r instanceof RespError) {
        this.errors++;
        if (this.errors <= 5) this.opts.warn(`the target returned an error for a replicated command: ${r.message}`);
      }
    }
    this.applied = cp.offset;
    this.appliedDb = cp.db;
    this.opts.onApplied?.(cp);
  }
}
