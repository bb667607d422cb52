/**
 * The embedded replica engine: source link → RDB parser → key writer, then the command stream →
 * stream applier, with offsets, acknowledgements of APPLIED offsets, backpressure, reconnects and
 * the exactly-once checkpoint (checkpoint.ts).
 *
 *   connect target ─ read checkpoint (target key, else state file)
 *   loop: connect source ─ PSYNC (replid offset+1 | ? -1)
 *     +FULLRESYNC: [FLUSHALL if ferry owns the target] → RDB → keys → checkpoint(phase stream)
 *     +CONTINUE:   stream from the checkpoint, no SELECT assumed (db comes from the checkpoint)
 *     stream: batches in MULTI/EXEC with the checkpoint; ACK = applied offset
 *     link lost: drop a half transaction, wait for the target, back off, PSYNC from applied offset
 *
 * Backpressure end to end: when the target connection's window of unanswered bytes is full, the
 * source socket is paused (TCP pushes back to the master), and resumed at half the window.
 */
import { Redis } from 'ioredis';
import { connectEndpoint, ferryClientName } from '../core/connect.js';
import type { Endpoint, TlsOptions } from '../core/endpoint.js';
import { tlsSocketOptions, toPublicUrl } from '../core/endpoint.js';
import { FerryError, ExitCode, SafetyError } from '../core/errors.js';
import type { FerryEvent } from '../core/events.js';
import { KeyFilter, type FilterOptions } from './apply/filter.js';
import { KeyWriter, type WriterMode } from './apply/key-writer.js';
import { StreamApplier } from './apply/stream-applier.js';
import { TargetConn } from './apply/target-conn.js';
import { chooseWriter, type WriterChoice } from './apply/writer-choice.js';
import { CHECKPOINT_KEY, decodeCheckpoint, encodeCheckpoint, readSyncState, writeFileAtomic, type Checkpoint, type SyncStateFile } from './checkpoint.js';
import { createRdbSink, type RdbSink } from './rdb-sink.js';
import { LinkError, SourceLink, type PsyncResult } from './replication/source-link.js';
import { RespError } from './resp/decoder.js';

export interface SyncOptions {
  from: Endpoint;
  to: Endpoint;
  /** CA / client certificate / key files for rediss:// endpoints (--tls-* flags). */
  tls?: TlsOptions;
  /** State file mirroring the checkpoint (optional: the target key alone makes resume work). */
  statePath?: string;
  filter?: FilterOptions;
  /** 'auto' (default) picks RESTORE when the target reads the source's RDB version. */
  writer?: WriterMode | 'auto';
  /** RESTORE … REPLACE: overwrite keys that already exist on the target. */
  replace?: boolean;
  /** FLUSHALL a non-empty target before the first full sync. */
  flushTarget?: boolean;
  /** Cap on unanswered bytes to the target (default 16 MiB). */
  windowBytes?: number;
  /** Close a source link silent this long (default 60 s). */
  silenceTimeoutMs?: number;
  /**
   * Delay before the first reconnect after a link that reached the stream (default 0: at once).
   * Later attempts, while reconnects keep failing, back off from 100 ms doubling up to 5 s.
   */
  firstReconnectDelayMs?: number;
  emit?(e: FerryEvent): void;
  /**
   * Asked when the master answers +FULLRESYNC while the target already holds data ferry put there:
   * may ferry FLUSHALL it and load again? `ferry run` says no once clients may write to the target
   * (repoint started): a flush would delete their writes, so the engine stops with an error instead.
   */
  canFlushTarget?(): boolean;
}

export type SyncPhase = 'starting' | 'connecting' | 'rdb' | 'stream' | 'stopped';

/** Final numbers of a sync run. */
export interface SyncReport {
  fullSyncs: number;
  partialSyncs: number;
  keys: number;
  expiredSkipped: number;
  filtered: number;
  rdbBytes: number;
  commandsApplied: number;
  appliedOffset: number;
  replid: string;
  writer: WriterMode;
  writerReason: string;
  reconnects: number;
  crossingCommands: string[];
}

const STEP = 'sync';

/** See the file comment. One engine per source → target pair. */
export class SyncEngine {
  phase: SyncPhase = 'starting';
  /** Writer decision (after start()). */
  choice!: WriterChoice;

  private conn!: TargetConn;
  private control!: Redis;
  private link: SourceLink | null = null;
  private applier: StreamApplier | null = null;
  private checkpoint: Checkpoint | null = null;
  private readonly filter: KeyFilter;
  private stopping = false;
  private removeCheckpointOnStop = false;
  private fatal: Error | null = null;
  private wakeLoop: (() => void) | null = null;
  private runPromise: Promise<SyncReport> | null = null;
  private lastStateWrite = 0;
  private ownsTarget = false;
  /** Whether the current link got to the stream phase (a working link: the next retry is immediate). */
  private linkReachedStream = false;

  private readonly report: SyncReport;
  private readonly emit: (e: FerryEvent) => void;

  constructor(private readonly opts: SyncOptions) {
    this.filter = new KeyFilter(opts.filter);
    this.emit = opts.emit ?? (() => {});
    this.report = {
      fullSyncs: 0, partialSyncs: 0, keys: 0, expiredSkipped: 0, filtered: 0, rdbBytes: 0, commandsApplied: 0,
      appliedOffset: 0, replid: '', writer: 'restore', writerReason: '', reconnects: 0, crossingCommands: [],
    };
  }

  /** Offset applied to the target (-1 before the first full sync completes). */
  get appliedOffset(): number {
    return this.applier ? this.applier.applied : -1;
  }

  get replid(): string {
    return this.applier?.replid ?? '';
  }

  /** A snapshot for drivers and UIs. */
  status(): { phase: SyncPhase; appliedOffset: number; receivedOffset: number; linkUp: boolean; rdbBytes: number; rdbTotal: number; keysApplied: number; checkpoint: Checkpoint | null } {
    const link = this.link;
    return {
      phase: this.phase,
      appliedOffset: this.appliedOffset,
      receivedOffset: this.applier ? this.applier.received : -1,
      linkUp: !!link && !link.closed && this.phase === 'stream',
      rdbBytes: link?.payloadBytes ?? 0,
      rdbTotal: link?.payloadTotal ?? -1,
      keysApplied: this.keyWriter?.stats.keys ?? 0,
      checkpoint: this.currentCheckpoint(),
    };
  }

  /** The source's master_repl_offset now. */
  async masterOffset(): Promise<number> {
    const info = await this.control.info('replication');
    const m = /master_repl_offset:(\d+)/.exec(info);
    if (!m) throw new FerryError('the source reports no master_repl_offset', ExitCode.stepFailed);
    return Number(m[1]);
  }

  /** Connects both sides and starts the replication loop in the background. */
  async start(): Promise<void> {
    const o = this.opts;
    // Probe both ends first: an unreachable server or a wrong password is a one-line usage error.
    for (const [e, role, flag] of [[o.from, 'source', '--from'], [o.to, 'target', '--to']] as const) {
      (await connectEndpoint(e, { role, flag, tls: o.tls })).disconnect();
    }
    this.control = new Redis({
      host: o.from.host, port: o.from.port, username: o.from.username, password: o.from.password,
      tls: o.from.tls ? tlsSocketOptions(o.tls) : undefined, lazyConnect: true, maxRetriesPerRequest: 2, connectionName: ferryClientName('engine'),
      retryStrategy: (n: number) => (n > 20 ? null : Math.min(n * 100, 1000)),
    });
    this.control.on('error', () => {});
    try {
      await this.control.connect();
    } catch (e) {
      throw new FerryError(`cannot connect to the source ${toPublicUrl(o.from)}: ${(e as Error).message}`, ExitCode.stepFailed);
    }
    this.conn = new TargetConn({
      endpoint: o.to,
      tls: o.to.tls ? tlsSocketOptions(o.tls) : undefined,
      windowBytes: o.windowBytes,
      onFatal: (err) => this.die(new FerryError(`target: ${err.message}`, ExitCode.stepFailed)),
    });
    try {
      await this.conn.connect();
    } catch (e) {
      throw new FerryError(`${(e as Error).message}`, ExitCode.stepFailed);
    }
    const [srcInfo, dstInfo] = [await this.control.info('server'), String(await this.conn.call(['INFO', 'server']))];
    this.choice = chooseWriter(srcInfo, dstInfo, o.writer);
    this.report.writer = this.choice.mode;
    this.report.writerReason = this.choice.reason;
    await this.loadCheckpoint();
    this.runPromise = this.loop();
    this.runPromise.catch(() => {});
  }

  /** Resolves when the loop ends (after stop() or a fatal error, which it rejects with). */
  done(): Promise<SyncReport> {
    if (!this.runPromise) throw new Error('start() first');
    return this.runPromise;
  }

  /**
   * Waits until the applied offset equals the source's master_repl_offset (nothing in flight).
   * `pollMs` between checks; rejects if the engine dies.
   */
  async waitCaughtUp(pollMs = 200, onProgress?: (applied: number, master: number) => void, timeoutMs = Infinity): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (Date.now() > deadline) throw new FerryError(`the target did not catch up with the source within ${timeoutMs} ms`, ExitCode.stepFailed);
      if (this.fatal) throw this.fatal;
      if (this.phase === 'stopped') throw new FerryError('the sync stopped before catching up', ExitCode.stepFailed);
      if (this.phase === 'stream' && this.applier) {
        const master = await this.masterOffset();
        const applied = this.applier.applied;
        onProgress?.(applied, master);
        if (applied >= master) return applied;
      }
      await sleep(pollMs);
    }
  }

  /** Resolves once the engine follows the stream (after +CONTINUE, or once a full sync is applied). */
  async waitStreaming(pollMs = 50): Promise<void> {
    for (;;) {
      if (this.fatal) throw this.fatal;
      if (this.phase === 'stopped') throw new FerryError('the sync stopped before following the stream', ExitCode.stepFailed);
      if (this.phase === 'stream' && this.appliedOffset >= 0) return;
      await sleep(pollMs);
    }
  }

  /**
   * Stops cleanly: no half transaction reaches the target, everything sent is applied, the state
   * file is written; with `removeCheckpoint` the reserved key is deleted from the target.
   */
  async stop(opts: { removeCheckpoint?: boolean } = {}): Promise<SyncReport> {
    this.stopping = true;
    this.removeCheckpointOnStop = !!opts.removeCheckpoint;
    this.link?.close(new LinkError('stopped by ferry'));
    this.wakeLoop?.();
    if (!this.runPromise) throw new Error('start() first');
    return this.runPromise;
  }

  private die(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    this.applier?.stop();
    this.link?.close(new LinkError(err.message, true));
    this.wakeLoop?.();
  }

  /** Reads the checkpoint: the target key wins over the state file (it is written atomically). */
  private async loadCheckpoint(): Promise<void> {
    const o = this.opts;
    await this.conn.call(['SELECT', 0]);
    const fromKey = decodeCheckpoint((await this.conn.call(['GET', CHECKPOINT_KEY])) as Buffer | null);
    const state = o.statePath ? readSyncState(o.statePath) : null;
    if (state && state.from !== toPublicUrl(o.from)) {
      throw new SafetyError(`the state file ${o.statePath} belongs to a sync from ${state.from}, not ${toPublicUrl(o.from)}; use another --state path`);
    }
    this.checkpoint = fromKey ?? state?.checkpoint ?? null;
    if (this.checkpoint) {
      this.ownsTarget = true;
      this.emit({ event: 'info', step: STEP, message: `resuming from offset ${this.checkpoint.offset} (${fromKey ? 'checkpoint in the target' : 'state file'})` });
      return;
    }
    const keyspace = String(await this.conn.call(['INFO', 'keyspace']));
    const nonEmpty = /^db\d+:keys=\d+/m.test(keyspace);
    if (nonEmpty && !o.flushTarget && !o.replace) {
      throw new SafetyError(`the target ${toPublicUrl(o.to)} is not empty; empty it, or pass --flush-target to let ferry FLUSHALL it (or --replace to overwrite keys)`);
    }
    this.ownsTarget = !!o.flushTarget || !nonEmpty;
  }

  private async loop(): Promise<SyncReport> {
    // Reconnect at once after a link that worked: every millisecond away is backlog the source
    // must still hold for +CONTINUE. Back off only while reconnects keep failing.
    const first = this.opts.firstReconnectDelayMs ?? 0;
    let failures = 0;
    try {
      while (!this.stopping && !this.fatal) {
        const cp = this.currentCheckpoint();
        this.phase = 'connecting';
        this.linkReachedStream = false;
        const err = await this.runLink(cp);
        if (this.stopping || this.fatal) break;
        if (err.fatal) throw new FerryError(err.message, ExitCode.stepFailed);
        this.report.reconnects++;
        failures = this.linkReachedStream ? 0 : failures + 1;
        const delay = failures === 0 ? first : Math.min(Math.max(first, 100) * 2 ** (failures - 1), 5000);
        this.emit({ event: 'warning', step: STEP, message: `source link lost (${err.message}); ${delay === 0 ? 'reconnecting now' : `reconnecting in ${delay} ms`}` });
        if (delay > 0) await this.sleepOrWake(delay);
      }
      if (this.fatal) throw this.fatal;
      await this.finishStop();
      return this.finalReport();
    } catch (e) {
      this.phase = 'stopped';
      await this.settleAfterError();
      throw e;
    } finally {
      this.phase = 'stopped';
      this.conn.close();
      this.control.disconnect();
    }
  }

  /** The checkpoint to PSYNC from: the applier's (this process) or the loaded one. */
  private currentCheckpoint(): Checkpoint | null {
    if (this.applier) return { replid: this.applier.replid, offset: this.applier.applied, db: this.applier.appliedDb, phase: 'stream' };
    if (this.checkpoint?.phase === 'stream') return this.checkpoint;
    return null;
  }

  /** One source connection, from PSYNC to its end. Resolves with why it ended. */
  private runLink(cp: Checkpoint | null): Promise<LinkError> {
    return new Promise<LinkError>((resolve) => {
      let rdb: RdbSink | null = null;
      let writer: KeyWriter | null = null;
      let ended = false;
      const link = new SourceLink({
        endpoint: this.opts.from,
        tls: this.opts.from.tls ? tlsSocketOptions(this.opts.tls) : undefined,
        silenceTimeoutMs: this.opts.silenceTimeoutMs,
        appliedOffset: () => Math.max(this.applier?.applied ?? 0, 0),
      });
      this.link = link;
      const backpressure = (): void => {
        if (this.conn.full && !link.isPaused) {
          link.pause();
          void this.conn.waitForWindow().then(() => link.resume());
        }
      };
      const onClose = (err: LinkError): void => {
        if (ended) return;
        ended = true;
        void this.afterLinkClosed().then(() => resolve(err), (e: Error) => resolve(new LinkError(e.message, true)));
      };
      link
        .connect()
        .then(() => {
          if (this.stopping) {
            link.close();
            return;
          }
          return link.psync(cp?.replid ?? null, cp?.offset ?? -1, {
            // Called synchronously before any payload or stream byte is handled.
            onPsync: (r) => {
              if (r.kind === 'full') {
                const full = this.beginFullSync(r);
                if (full) ({ rdb, writer } = full);
              }
              else this.beginContinue(r, cp!);
            },
            onRdbData: (chunk) => {
              rdb?.write(chunk);
              backpressure();
              this.maybeProgress(link);
            },
            onRdbEnd: (info) => {
              if (!rdb || !writer) return;
              rdb.end();
              writer?.finish();
              this.report.rdbBytes += info.bytes;
              const kw = writer!;
              this.report.keys += kw.stats.keys;
              this.report.expiredSkipped += kw.stats.expiredSkipped;
              this.report.filtered += kw.stats.filtered;
              this.startStreamAfterRdb(link, rdb);
            },
            onCommand: (argv, offset) => this.applier?.command(argv, offset),
            onBatchEnd: () => {
              this.applier?.flush();
              backpressure();
              this.maybeProgress(link);
            },
            onClose,
          });
        })
        .catch((e: Error) => onClose(e instanceof LinkError ? e : new LinkError(e.message)));
    });
  }

  private beginFullSync(r: PsyncResult): { rdb: RdbSink; writer: KeyWriter } | null {
    if (this.ownsTarget && this.opts.canFlushTarget && !this.opts.canFlushTarget()) {
      this.die(new FerryError(
        `the source's backlog no longer covers the engine's position (it answered +FULLRESYNC), and a new full sync would delete the writes clients made on the target since the repoint; raise repl-backlog-size on the source before a retry, or roll back`,
        ExitCode.stepFailed,
      ));
      return null;
    }
    this.report.fullSyncs++;
    this.phase = 'rdb';
    this.applier = null;
    this.emit({ event: 'info', step: STEP, message: `full sync from offset ${r.offset} (writer: ${this.choice.reason})` });
    // ASYNC: the old keyspace is freed in a background thread while the new one loads.
    if (this.ownsTarget) this.conn.send(['FLUSHALL', 'ASYNC']);
    this.ownsTarget = true;
    const cp: Checkpoint = { replid: r.replid, offset: r.offset, db: 0, phase: 'rdb' };
    this.conn.send(['SELECT', 0]);
    this.conn.send(['SET', CHECKPOINT_KEY, encodeCheckpoint(cp)]);
    this.writeState(cp, true);
    const writer = new KeyWriter(this.conn, {
      mode: this.choice.mode,
      replace: this.opts.replace,
      filter: this.filter,
      warn: (message) => this.emit({ event: 'warning', step: STEP, message }),
      fail: (err) => this.die(new FerryError(err.message, ExitCode.stepFailed)),
    });
    this.keyWriter = writer;
    const rdb = createRdbSink({
      mode: this.choice.mode === 'restore' ? 'payload' : 'decode',
      onEntry: (e) => writer.write(e),
      onWarning: (message) => this.emit({ event: 'warning', step: STEP, message }),
    });
    this.fullOffset = r.offset;
    this.fullReplid = r.replid;
    return { rdb, writer };
  }

  private fullOffset = 0;
  private fullReplid = '';
  /** The current (or last) full sync's writer: its count is the "keys applied" progress. */
  private keyWriter: KeyWriter | null = null;

  /** The RDB is received: once the target has applied it, the stream starts at its offset. */
  private startStreamAfterRdb(link: SourceLink, rdb: RdbSink): void {
    const db = Number(rdb.aux().get('repl-stream-db') ?? 0) || 0;
    const cp: Checkpoint = { replid: this.fullReplid, offset: this.fullOffset, db, phase: 'stream' };
    this.applier = this.makeApplier(cp, false);
    // NOTE: ACKs must not claim the FULLRESYNC offset before the target holds the whole RDB. The
    // checkpoint write is ordered after every key write on the same connection, so its reply
    // means "RDB applied"; until then the applied offset stays -1 (ACKed as 0).
    const applier = this.applier;
    applier.applied = -1;
    this.conn.send(['SELECT', 0]);
    this.conn.send(['SET', CHECKPOINT_KEY, encodeCheckpoint(cp)], (reply) => {
      if (reply instanceof RespError) return this.die(new FerryError(`the target refused the checkpoint write: ${reply.message}`, ExitCode.stepFailed));
      if (applier.applied === -1) applier.applied = cp.offset;
      this.phase = 'stream';
      this.linkReachedStream = true;
      this.writeState(cp, true);
      this.emit({ event: 'info', step: STEP, message: `full sync applied (${this.report.keys} keys); following the stream` });
      link.sendAck();
    });
  }

  private beginContinue(r: PsyncResult, cp: Checkpoint): void {
    this.report.partialSyncs++;
    this.applier = this.makeApplier({ ...cp, replid: r.replid || cp.replid }, true);
    this.phase = 'stream';
    this.linkReachedStream = true;
    this.emit({ event: 'info', step: STEP, message: `partial resync (+CONTINUE) from offset ${cp.offset}` });
  }

  private makeApplier(cp: Checkpoint, _continued: boolean): StreamApplier {
    const prev = this.applier;
    const applier = new StreamApplier({
      conn: this.conn,
      filter: this.filter,
      replid: cp.replid,
      offset: cp.offset,
      db: cp.db,
      fail: (err) => this.die(new FerryError(err.message, ExitCode.stepFailed)),
      warn: (message) => this.emit({ event: 'warning', step: STEP, message }),
      onApplied: (c) => this.writeState(c, false),
    });
    if (prev) applier.commandsApplied = prev.commandsApplied;
    return applier;
  }

  private lastProgress = 0;
  private maybeProgress(link: SourceLink): void {
    const now = Date.now();
    if (now - this.lastProgress < 1000) return;
    this.lastProgress = now;
    if (this.phase === 'rdb') {
      this.emit({ event: 'progress', step: STEP, phase: 'rdb', done: link.payloadBytes, total: link.payloadTotal > 0 ? link.payloadTotal : undefined, unit: 'bytes' });
      if (this.keyWriter) this.emit({ event: 'progress', step: STEP, phase: 'keys', done: this.keyWriter.stats.keys, unit: 'keys' });
    } else if (this.applier) {
      this.emit({ event: 'progress', step: STEP, phase: 'stream', done: this.applier.applied, unit: 'offset', detail: { received: link.offset, behind: link.offset - this.applier.applied } });
    }
  }

  /** After a link ends: drop a half transaction and wait until the target answered everything. */
  private async afterLinkClosed(): Promise<void> {
    this.applier?.abandonPartial();
    if (this.phase === 'rdb') {
      // A full sync cut in the middle: the target holds part of it; the next attempt starts over.
      this.applier = null;
    }
    if (!this.fatal) await this.conn.whenIdle().catch(() => {});
  }

  private async finishStop(): Promise<void> {
    await this.conn.whenIdle();
    const cp = this.currentCheckpoint();
    if (cp) this.writeState(cp, true, this.removeCheckpointOnStop);
    if (this.removeCheckpointOnStop && this.phase !== 'rdb') {
      await this.conn.call(['SELECT', 0]);
      const r = await this.conn.call(['DEL', CHECKPOINT_KEY]);
      if (r instanceof RespError) throw new FerryError(`could not remove the checkpoint key: ${r.message}`, ExitCode.stepFailed);
    }
  }

  /** After a fatal error: keep what is applied, record it in the state file. */
  private async settleAfterError(): Promise<void> {
    const cp = this.currentCheckpoint();
    if (cp) this.writeState(cp, true);
  }

  private writeState(cp: Checkpoint, force: boolean, stoppedCleanly = false): void {
    if (!this.opts.statePath) return;
    const now = Date.now();
    if (!force && now - this.lastStateWrite < 1000) return;
    this.lastStateWrite = now;
    const state: SyncStateFile = {
      version: 1,
      kind: 'ferry-sync',
      from: toPublicUrl(this.opts.from),
      to: toPublicUrl(this.opts.to),
      checkpoint: cp,
      stoppedCleanly,
      updatedAt: new Date(now).toISOString(),
    };
    writeFileAtomic(this.opts.statePath, `${JSON.stringify(state, null, 2)}\n`);
  }

  private finalReport(): SyncReport {
    const r = this.report;
    r.appliedOffset = this.applier?.applied ?? -1;
    r.replid = this.applier?.replid ?? '';
    r.commandsApplied = this.applier?.commandsApplied ?? 0;
    r.crossingCommands = [...this.filter.crossing];
    return r;
  }

  private sleepOrWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeLoop = done;
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
