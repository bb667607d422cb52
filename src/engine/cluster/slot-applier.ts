/**
 * Applies the replication stream to a cluster target, exactly once, with per-slot checkpoints.
 *
 * A cluster runs a MULTI/EXEC only when every key in it has the same slot (redis src/cluster.c
 * getNodeByQuery: CROSSSLOT), so the single-server design — one transaction per batch with one
 * checkpoint key — cannot work. Instead:
 *
 * - The stream is cut into batches as on one server (at most 5000 commands / 4 MiB, closed at the
 *   end of each socket read, never inside a source MULTI/EXEC). A batch's commands are grouped by
 *   slot, and each slot's group goes to its master as ONE transaction that also writes that slot's
 *   checkpoint key (a key in the same slot, `__ferry:sync:slot:{tag}:<link>`, slots.ts slotTags):
 *
 *     MULTI  cmd…  SET __ferry:sync:slot:{tag}:<link> <offset after the slot's last cmd>  EXEC
 *
 *   so for every slot the target holds the slot's commands up to an offset together with that
 *   offset, or neither.
 * - One transaction per slot is in flight at a time; what arrives for the slot meanwhile waits and
 *   goes in the next one (several batches, the checkpoint of the last). Per-slot order is kept
 *   through redirects (router.ts resends a transaction as a whole).
 * - The applied offset is the end of the last batch whose transactions have all answered. It is
 *   ACKed to the source, and written to the link's checkpoint key (`__ferry:sync:checkpoint`, the
 *   same JSON as on one server) now and then: PSYNC resumes from it.
 * - Resume: ferry reads the link's checkpoint and every slot checkpoint, PSYNCs from the
 *   checkpoint + 1, and skips each command whose offset is at or before its slot's checkpoint (it
 *   was applied); every other command is applied. So a SIGKILL at any moment, then a resume,
 *   applies every command exactly once.
 * - Keyless global commands (FLUSHALL, FLUSHDB, FUNCTION, SCRIPT) are barriers: every earlier slot
 *   transaction answers first, then the command goes to every master; a FLUSHALL/FLUSHDB goes to the
 *   master holding the link's checkpoint last, in one transaction with the checkpoint's new offset
 *   (the flush cannot wipe the checkpoint behind ferry's back). Commands after it wait.
 * - The source's own MULTI/EXEC stays atomic when its keys share a slot; when they do not, it is
 *   applied as one transaction per slot, counted (`crossSlotTransactions`) and warned about.
 */
import { controlWord, StreamCommands } from '../apply/stream-command.js';
import type { Applier, ApplierOptions } from '../apply/target.js';
import { encodeCheckpoint, type Checkpoint } from '../checkpoint.js';
import { isWord } from '../replication/source-link.js';
import { RespError, type RespValue } from '../resp/decoder.js';
import type { Arg } from '../resp/encoder.js';
import { BrokenError, type SlotRouter } from './router.js';
import { keySlot } from './slots.js';

export interface SlotApplierOptions extends ApplierOptions {
  router: SlotRouter;
  /** Slot checkpoint key names (index = slot) and the link's checkpoint key. */
  slotKeys: string[];
  /** Set to 1 for each slot whose checkpoint key the applier writes (cluster-target.ts removeCheckpoint). */
  slotKeyWritten: Uint8Array;
  checkpointKey: string;
  /** Resume: the slot checkpoints the target holds (0 = none); a command at or before its slot's is skipped. */
  skip: Float64Array | null;
  stats: ClusterApplyStats;
  /** Cap on bytes waiting in the applier (source paused above it). */
  windowBytes: number;
}

/** Counters for the report. */
export interface ClusterApplyStats {
  /** Source transactions whose keys spanned slots (applied as one transaction per slot). */
  crossSlotTransactions: number;
  /** Multi-key commands split into one command per slot (MSET, DEL, UNLINK, EXISTS, TOUCH). */
  splitCommands: number;
  /** Commands skipped on resume because their slot's checkpoint was past them. */
  skippedOnResume: number;
  /** Slot transactions sent. */
  slotTransactions: number;
  /** Keyless commands applied on every master. */
  barriers: number;
}

const BATCH_COMMANDS = 5000;
const BATCH_BYTES = 4 * 1024 * 1024;

/** One batch: a range of the stream, done when every slot transaction holding part of it answered. */
interface Batch {
  end: number;
  sealed: boolean;
  outstanding: number;
}

/** A slot's commands of one batch. */
interface Unit {
  cmds: Arg[][];
  bytes: number;
  batch: Batch;
  /** Offset after the unit's last command: what the slot checkpoint says once it is applied. */
  last: number;
}

/** What waits for one slot. */
interface SlotWork {
  slot: number;
  open: Arg[][];
  openBytes: number;
  /** Offset after the last open command. */
  openLast: number;
  sealed: Unit[];
  inflight: boolean;
}

type Queued = [Buffer[], number] | 'flush';

/** See the file comment. */
export class SlotApplier implements Applier {
  received: number;
  replid: string;
  commandsApplied = 0;
  errors = 0;
  lastDataOffset: number;
  readonly appliedDb = 0;
  /** Bytes of commands accepted and not yet answered (plus what waits behind a barrier). */
  queuedBytes = 0;

  private appliedOffset: number;
  /** Held back until the engine says the full sync is applied (applied = -1, see Applier). */
  private fullSyncPending = false;
  private srcDb: number;
  private inTx = false;
  private txSlots = new Set<number>();
  private batches: Batch[] = [];
  private current: Batch;
  private batchCommands = 0;
  private batchBytes = 0;
  private dirty: SlotWork[] = [];
  private works = new Map<number, SlotWork>();
  private sealedEnd: number;
  private sealedDb: number;
  private blocked = false;
  private backlog: Queued[] = [];
  private stopped = false;
  private skip: Float64Array | null;
  private skipMax = 0;
  private writingCheckpoint = false;
  private checkpointWritten: number;
  private warnedCrossSlot = false;
  private queueWaiters: Array<{ limit: number; resolve(): void }> = [];
  /** Refusal, scripts, filter and dialect of each command (stream-command.ts). */
  private readonly prep: StreamCommands;
  private idleWaiters: Array<() => void> = [];
  /** Barriers waiting for every earlier batch to answer (they check again on each wake). */
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly opts: SlotApplierOptions) {
    this.prep = new StreamCommands(opts);
    this.appliedOffset = opts.offset;
    this.lastDataOffset = opts.offset;
    this.received = opts.offset;
    this.sealedEnd = opts.offset;
    this.sealedDb = opts.db;
    this.srcDb = opts.db;
    this.replid = opts.replid;
    this.checkpointWritten = opts.offset;
    this.skip = opts.skip;
    if (this.skip) for (const v of this.skip) this.skipMax = Math.max(this.skipMax, v);
    this.current = this.newBatch();
  }

  /** Scripts the source assumes this replica knows (script-cache.ts). */
  get scripts(): StreamCommands['scripts'] {
    return this.prep.scripts;
  }

  /** Commands not applied because the target cannot hold what they set (see translateCommand). */
  get dropped(): StreamCommands['dropped'] {
    return this.prep.dropped;
  }

  /** See Applier: -1 holds every write back until the full sync is applied. */
  get applied(): number {
    return this.fullSyncPending ? -1 : this.appliedOffset;
  }

  set applied(v: number) {
    if (v === -1) {
      this.fullSyncPending = true;
      this.blocked = true;
      return;
    }
    const wasPending = this.fullSyncPending;
    this.fullSyncPending = false;
    this.appliedOffset = Math.max(this.appliedOffset, v);
    if (wasPending) this.unblock();
  }

  command(argv: Buffer[], offset: number): void {
    if (this.stopped) return;
    if (this.blocked) {
      this.backlog.push([argv, offset]);
      this.queuedBytes += sizeOf(argv);
      return;
    }
    this.received = offset;
    if (offset > this.skipMax) this.skip = null;
    const name = argv[0];
    switch (controlWord(name)) {
      case 'select':
        this.srcDb = Number(argv[1]?.toString());
        return;
      case 'skip':
        return;
      case 'multi':
        if (this.batchCommands > 0) this.seal();
        this.inTx = true;
        this.txSlots.clear();
        return;
      case 'exec':
        this.inTx = false;
        if (this.txSlots.size > 1) this.countCrossSlot();
        if (this.batchCommands >= BATCH_COMMANDS || this.batchBytes >= BATCH_BYTES) this.seal();
        return;
    }
    const args = this.prep.prepare(argv);
    if (args === null) return;
    if (!Array.isArray(args)) return this.fail(args.refuse);
    if (isWord(name, 'SWAPDB') || isWord(name, 'MOVE') || (isWord(name, 'COPY') && args.some((a, i) => i > 2 && isWord(a, 'DB')))) {
      return this.fail(`the source ran ${name.toString().toUpperCase()} (offset ${offset}), which moves keys between dbs, and a cluster has only db 0`);
    }
    const db = this.opts.filter.mapDb(this.srcDb);
    if (db !== 0) {
      return this.fail(`the source writes to db ${this.srcDb} (${name.toString().toUpperCase()} at offset ${offset}), and a cluster has only db 0; map it with --db-map ${this.srcDb}:0 or leave its keys out with --include/--exclude`);
    }
    if (!isWord(name, 'PUBLISH')) this.lastDataOffset = offset;
    const route = this.opts.router.plan(args);
    switch (route.kind) {
      case 'slot':
        this.add(route.slot, route.args as Arg[], offset);
        break;
      case 'split':
        for (const p of route.parts) this.add(p.slot, p.args, offset);
        this.opts.stats.splitCommands++;
        break;
      case 'any':
        this.opts.router.sendAny(args);
        break;
      case 'all':
        this.barrier(args, offset);
        return;
      case 'error':
        return this.fail(`cannot apply ${name.toString().toUpperCase()} (offset ${offset}) to the cluster target: ${route.message}`);
    }
    this.commandsApplied++;
    if (!this.inTx && (this.batchCommands >= BATCH_COMMANDS || this.batchBytes >= BATCH_BYTES)) this.seal();
  }

  flush(): void {
    if (this.stopped || this.inTx) return;
    if (this.blocked) {
      this.backlog.push('flush');
      return;
    }
    if (this.received > this.sealedEnd || this.dirty.length) this.seal();
  }

  abandonPartial(): void {
    if (this.blocked) {
      // What waits behind a barrier is dropped: the applied offset stays at or before the barrier,
      // so the next PSYNC asks for it again.
      for (const q of this.backlog) if (q !== 'flush') this.queuedBytes -= sizeOf(q[0]);
      this.backlog = [];
      return;
    }
    if (this.inTx) {
      for (const w of this.dirty) {
        this.queuedBytes -= w.openBytes;
        w.open = [];
        w.openBytes = 0;
      }
      this.dirty = [];
      this.inTx = false;
      this.batchCommands = 0;
      this.batchBytes = 0;
      this.received = this.sealedEnd;
      this.srcDb = this.sealedDb;
      return;
    }
    this.flush();
  }

  /**
   * Stops: nothing more is sent (transactions in flight still answer). What was not sent is
   * dropped; the owner re-reads the slot checkpoints before the next PSYNC.
   */
  stop(): void {
    this.stopped = true;
    this.backlog = [];
    this.wakeIdle();
  }

  /** True when nothing is in flight or waiting (or the applier is stopped and its transactions answered). */
  get idle(): boolean {
    for (const w of this.works.values()) if (w.inflight) return false;
    if (this.stopped) return true;
    return !this.blocked && this.batches.length === 1 && this.dirty.length === 0;
  }

  /** Resolves when `idle`. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Resolves once fewer than `limit` bytes wait in the applier. */
  waitQueue(limit: number): Promise<void> {
    if (this.queuedBytes < limit || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.queueWaiters.push({ limit, resolve }));
  }

  private fail(message: string): void {
    if (this.stopped) return;
    this.stop();
    this.opts.fail(new Error(message));
  }

  private countCrossSlot(): void {
    this.opts.stats.crossSlotTransactions++;
    if (this.warnedCrossSlot) return;
    this.warnedCrossSlot = true;
    this.opts.warn('a source MULTI/EXEC has keys in several slots of the target cluster: it is applied as one transaction per slot, so other clients of the target may see part of it (counted as crossSlotTransactions in the report)');
  }

  private newBatch(): Batch {
    const b: Batch = { end: -1, sealed: false, outstanding: 0 };
    this.batches.push(b);
    return b;
  }

  private work(slot: number): SlotWork {
    let w = this.works.get(slot);
    if (!w) this.works.set(slot, (w = { slot, open: [], openBytes: 0, openLast: 0, sealed: [], inflight: false }));
    return w;
  }

  private add(slot: number, args: Arg[], offset: number): void {
    if (this.skip && offset <= this.skip[slot]) {
      this.opts.stats.skippedOnResume++;
      return;
    }
    if (this.inTx) this.txSlots.add(slot);
    const w = this.work(slot);
    if (w.open.length === 0) this.dirty.push(w);
    const n = sizeOf(args);
    w.open.push(args);
    w.openBytes += n;
    w.openLast = offset;
    this.queuedBytes += n;
    this.batchCommands++;
    this.batchBytes += n;
  }

  /** Ends the current batch at `received`: each slot's part becomes a unit and is sent when it can. */
  private seal(): void {
    const batch = this.current;
    batch.end = this.received;
    batch.sealed = true;
    const dirty = this.dirty;
    this.dirty = [];
    for (const w of dirty) {
      w.sealed.push({ cmds: w.open, bytes: w.openBytes, batch, last: w.openLast });
      batch.outstanding++;
      w.open = [];
      w.openBytes = 0;
    }
    this.sealedEnd = batch.end;
    this.sealedDb = this.srcDb;
    this.batchCommands = 0;
    this.batchBytes = 0;
    this.current = this.newBatch();
    for (const w of dirty) this.trySend(w);
    this.advance();
  }

  /** Sends a slot's sealed units as one transaction, unless one is in flight. */
  private trySend(w: SlotWork): void {
    if (w.inflight || w.sealed.length === 0 || this.stopped) return;
    const units = w.sealed;
    w.sealed = [];
    const cmds: Arg[][] = [];
    for (const u of units) for (const c of u.cmds) cmds.push(c);
    // NOTE: the offset of the slot's last command, not the batch end: every command of the slot up
    // to it is in this transaction, and it never claims a stream tail that changed nothing (a
    // failover may rewind the engine over such a tail, sync.ts rewindNeutralTail).
    const cp = units[units.length - 1].last;
    cmds.push(['SET', this.opts.slotKeys[w.slot], cp]);
    this.opts.slotKeyWritten[w.slot] = 1;
    w.inflight = true;
    this.opts.stats.slotTransactions++;
    this.opts.router.sendTx(w.slot, cmds, (err, replies) => this.onTx(w, units, err, replies));
  }

  private onTx(w: SlotWork, units: Unit[], err: Error | null, replies?: RespValue[]): void {
    w.inflight = false;
    let bytes = 0;
    for (const u of units) bytes += u.bytes;
    this.queuedBytes -= bytes;
    if (err) {
      if (err instanceof BrokenError || this.stopped) this.stop();
      else this.fail(`the target refused a transaction of ${units.reduce((n, u) => n + u.cmds.length, 0)} stream commands for slot ${w.slot} (${err.message}); nothing of it was applied`);
      this.wakeIdle();
      return;
    }
    // Errors of commands the target ran (e.g. WRONGTYPE): the source ran them fine, so the copies differ.
    for (const r of replies ?? []) {
      if (r instanceof RespError) {
        this.errors++;
        if (this.errors <= 5) this.opts.warn(`the target returned an error for a replicated command: ${r.message}`);
      }
    }
    for (const u of units) u.batch.outstanding--;
    this.trySend(w);
    this.advance();
    this.wakeQueue();
  }

  /** Moves the applied offset over every finished batch. */
  private advance(): void {
    let moved = false;
    while (this.batches.length > 1) {
      const head = this.batches[0];
      if (!head.sealed || head.outstanding > 0) break;
      this.batches.shift();
      if (head.end > this.appliedOffset) {
        this.appliedOffset = head.end;
        moved = true;
      }
    }
    if (moved && !this.fullSyncPending) {
      this.opts.onApplied?.(this.checkpoint(this.appliedOffset));
      this.writeCheckpoint();
    }
    this.wakeIdle();
  }

  private checkpoint(offset: number): Checkpoint {
    return { replid: this.replid, offset, db: 0, phase: 'stream' };
  }

  /** Writes the applied offset to the link's checkpoint key (one write in flight at a time). */
  private writeCheckpoint(): void {
    if (this.writingCheckpoint || this.appliedOffset <= this.checkpointWritten || this.stopped) return;
    const at = this.appliedOffset;
    this.writingCheckpoint = true;
    this.opts.router.send(['SET', this.opts.checkpointKey, encodeCheckpoint(this.checkpoint(at))], (r) => {
      this.writingCheckpoint = false;
      if (r instanceof RespError) {
        if (!/^ERR ferry: /.test(r.message)) this.opts.warn(`the target refused the checkpoint write: ${r.message}`);
        return;
      }
      this.checkpointWritten = at;
      this.writeCheckpoint();
    });
  }

  /** A keyless global command: see the file comment. */
  private barrier(args: Buffer[], offset: number): void {
    const name = args[0].toString().toUpperCase();
    const flush = name === 'FLUSHALL' || name === 'FLUSHDB';
    if (this.inTx) this.countCrossSlot();
    this.seal();
    this.blocked = true;
    this.opts.stats.barriers++;
    const run = (): void => {
      if (this.stopped) return;
      const router = this.opts.router;
      const cpSlot = keySlot(this.opts.checkpointKey);
      const cpOwner = flush ? router.ownerOf(cpSlot) ?? undefined : undefined;
      router.broadcast(args, (replies) => {
        for (const r of replies) if (r instanceof RespError && !/^ERR ferry: /.test(r.message)) this.opts.warn(`the target returned an error for ${name}: ${r.message}`);
        if (this.stopped) return;
        const finish = (err: Error | null): void => {
          if (err) {
            if (err instanceof BrokenError || this.stopped) this.stop();
            else this.fail(`the target refused ${name} with the checkpoint (${err.message})`);
            return;
          }
          this.received = offset;
          this.sealedEnd = offset;
          this.appliedOffset = offset;
          this.checkpointWritten = flush ? offset : this.checkpointWritten;
          // After a flush nothing of the stream after it is on the target: no skipping any more.
          if (flush) this.skip = null;
          this.opts.onApplied?.(this.checkpoint(offset));
          this.writeCheckpoint();
          this.unblock();
        };
        if (!flush) return finish(null);
        router.sendTx(cpSlot, [args, ['SET', this.opts.checkpointKey, encodeCheckpoint(this.checkpoint(offset))]], (err) => finish(err));
      }, cpOwner);
    };
    this.whenDrained(run);
  }

  /** Runs `fn` once every batch so far has answered. */
  private whenDrained(fn: () => void): void {
    const check = (): void => {
      if (this.stopped) return;
      if (this.batches.length === 1 && this.dirty.length === 0 && ![...this.works.values()].some((w) => w.inflight || w.sealed.length)) fn();
      else this.drainWaiters.push(check);
    };
    check();
  }

  /** Applies what waited behind a barrier or the full sync, in order, until the next barrier. */
  private unblock(): void {
    this.blocked = false;
    const items = this.backlog;
    this.backlog = [];
    for (let i = 0; i < items.length; i++) {
      if (this.blocked || this.stopped) {
        if (!this.stopped) this.backlog = items.slice(i).concat(this.backlog);
        return;
      }
      const it = items[i];
      if (it === 'flush') this.flush();
      else {
        this.queuedBytes -= sizeOf(it[0]);
        this.command(it[0], it[1]);
      }
    }
    this.wakeIdle();
  }

  private wakeIdle(): void {
    if (this.drainWaiters.length) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
    if (this.idleWaiters.length && this.idle) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  private wakeQueue(): void {
    if (this.queueWaiters.length === 0) return;
    const left: typeof this.queueWaiters = [];
    for (const w of this.queueWaiters) (this.queuedBytes < w.limit ? w.resolve() : left.push(w));
    this.queueWaiters = left;
  }
}

/** Approximate encoded size of a command. */
function sizeOf(args: readonly Arg[]): number {
  let n = 16;
  for (const a of args) n += 16 + (typeof a === 'string' ? a.length : typeof a === 'number' ? 20 : a.length);
  return n;
}
