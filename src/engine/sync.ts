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
import { type BacklogPolicy, type BacklogRecord, decideBacklog, partialResyncAdvice, readBacklogSize, restoreBacklogSize, restoreMessage, setBacklogSize } from '../core/backlog.js';
import { connectEndpoint, ferryClientName, info as infoMap } from '../core/connect.js';
import type { Endpoint, TlsOptions } from '../core/endpoint.js';
import { hostPort, tlsSocketOptions, toPublicUrl } from '../core/endpoint.js';
import { resolveEndpoint } from '../core/sentinel.js';
import { FerryError, ExitCode, SafetyError } from '../core/errors.js';
import { assessCompat } from '../core/compat.js';
import { countModuleKeys, missingModules, readServerFacts } from '../core/facts.js';
import type { FerryEvent } from '../core/events.js';
import { sampleWriteRate } from '../core/facts.js';
import { fmtSize } from '../core/size.js';
import { KeyFilter, type FilterOptions } from './apply/filter.js';
import { KeyWriter, RESTORE_LIMIT, type WriterMode } from './apply/key-writer.js';
import type { Applier, CommandSink, EngineTarget } from './apply/target.js';
import { dialectOf, type Dialect } from './apply/dialect.js';
import { chooseWriter, serverVersions, type WriterChoice } from './apply/writer-choice.js';
import { readSyncState, writeFileAtomic, type Checkpoint, type SyncStateFile } from './checkpoint.js';
import { LinkMeter } from './link-meter.js';
import { createRdbSink, type RdbSink } from './rdb-sink.js';
import { LinkError, SourceLink, type PsyncResult } from './replication/source-link.js';
import { openTarget, type TargetRole } from './targets.js';
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
  /** --drop-field-ttl: copy hash fields without their TTL into a target without field TTLs. */
  dropFieldTtl?: boolean;
  /** Refuse at start what the target cannot hold exactly (core/compat.ts); `ferry run` did it in preflight. */
  checkCompat?: boolean;
  /** Cap on unanswered bytes to the target (default 16 MiB). */
  windowBytes?: number;
  /** Close a source link silent this long (default 60 s). */
  silenceTimeoutMs?: number;
  /**
   * `ferry sync --backlog`: size the source's repl-backlog-size before the first PSYNC and put
   * it back when the engine stops (core/backlog.ts). Absent = keep (`ferry run` has a step for it).
   */
  backlog?: BacklogPolicy;
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
  /**
   * Asked before every reconnect for the source's current address (`ferry sync` from a
   * `sentinel://` URL: the master the Sentinels name now, so a failover is followed, with a
   * partial resync through the promoted replica's replid2 when its backlog covers the gap).
   * Without it the engine reconnects to the address it started with.
   */
  resolveSource?(): Promise<Endpoint>;
  /**
   * How the target is written (targets.ts): detected from the target when absent (a Redis Cluster
   * target gets the slot router and per-slot checkpoints); the cluster orchestrator sets it for
   * each of its links (which also answer resolveSource with their shard's master now).
   */
  targetRole?: TargetRole;
}

export type SyncPhase = 'starting' | 'connecting' | 'rdb' | 'stream' | 'stopped';

/** Final numbers of a sync run. */
export interface SyncReport {
  fullSyncs: number;
  partialSyncs: number;
  keys: number;
  expiredSkipped: number;
  filtered: number;
  /** Full-sync keys written by RESTORE of their payload. */
  restoredKeys: number;
  /**
   * Full-sync keys written as (chunked) type commands: every key with the commands
   * writer; with the RESTORE writer, the keys above RESTORE_LIMIT (src/engine/apply/key-writer.ts).
   */
  chunkedKeys: number;
  rdbBytes: number;
  commandsApplied: number;
  appliedOffset: number;
  replid: string;
  writer: WriterMode;
  writerReason: string;
  reconnects: number;
  crossingCommands: string[];
  /** Hash-field TTLs not copied (--drop-field-ttl): fields of the full sync + stream commands. */
  fieldTtlsDropped: number;
  /** Pending entries whose stream entry was gone, which the commands writer cannot recreate. */
  pendingSkipped: number;
  /** Cluster target: masters written and the counters of the per-slot applier. */
  cluster?: Record<string, number>;
}

const STEP = 'sync';

/** See the file comment. One engine per source → target pair. */
export class SyncEngine {
  phase: SyncPhase = 'starting';
  /** Writer decision (after start()). */
  choice!: WriterChoice;
  /** What the target's version understands (after start()). */
  dialect!: Dialect;

  private conn!: EngineTarget;
  /** Where the current full sync writes (the target's sink for RDB keys and scripts). */
  private fullSink: CommandSink | null = null;
  private control!: Redis;
  /** The source's address now (the resolved `from`; changes when resolveSource says so). */
  private source!: Endpoint;
  private link: SourceLink | null = null;
  private applier: Applier | null = null;
  private checkpoint: Checkpoint | null = null;
  private readonly filter: KeyFilter;
  private stopping = false;
  private removeCheckpointOnStop = false;
  private fatal: Error | null = null;
  private wakeLoop: (() => void) | null = null;
  private runPromise: Promise<SyncReport> | null = null;
  private lastStateWrite = 0;
  private ownsTarget = false;
  /** The sync state file as loaded at start (its checkpoint and backlog record). */
  private loadedState: SyncStateFile | null = null;
  /** The source's repl-backlog-size ferry changed (ferry sync --backlog), to put back at the stop. */
  private backlogRecord: BacklogRecord | null = null;
  private backlogChanged = false;
  /** The source's repl-backlog-size as last read (INFO replication), for the resync advice. */
  private sourceBacklog: number | null = null;
  private readonly meter = new LinkMeter();
  /** Whether the current link got to the stream phase (a working link: the next retry is immediate). */
  private linkReachedStream = false;

  private readonly report: SyncReport;
  private readonly emit: (e: FerryEvent) => void;

  constructor(private readonly opts: SyncOptions) {
    this.filter = new KeyFilter(opts.filter);
    this.emit = opts.emit ?? (() => {});
    this.report = {
      fullSyncs: 0, partialSyncs: 0, keys: 0, expiredSkipped: 0, filtered: 0, restoredKeys: 0, chunkedKeys: 0, rdbBytes: 0, commandsApplied: 0,
      appliedOffset: 0, replid: '', writer: 'restore', writerReason: '', reconnects: 0, crossingCommands: [], fieldTtlsDropped: 0, pendingSkipped: 0,
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

  /**
   * `ferry sync` alone has no preflight: the same version checks (core/compat.ts) refuse here
   * what the target cannot hold exactly, before anything is written.
   */
  private async assertCompatible(source: Redis, target: Redis): Promise<void> {
    const [s, t] = await Promise.all([readServerFacts(source, toPublicUrl(this.opts.from)), readServerFacts(target, toPublicUrl(this.opts.to))]);
    if (missingModules(s, t).length > 0) s.moduleKeys = await countModuleKeys(source, Object.keys(s.keysByDb).map(Number), (k) => this.filter.keyPasses(k));
    const { refusals } = assessCompat({ sync: 'engine', dropFieldTtl: this.opts.dropFieldTtl, pauseTimeoutMs: 0 }, { source: s, target: t });
    if (refusals.length > 0) throw new SafetyError(refusals[0]);
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
    this.source = o.resolveSource ? await o.resolveSource() : await resolveEndpoint(o.from);
    // Probe both ends first: an unreachable server or a wrong password is a one-line usage error.
    const probes: Redis[] = [];
    try {
      for (const [e, role, flag] of [[this.source, 'source', '--from'], [o.to, 'target', '--to']] as const) {
        probes.push(await connectEndpoint(e, { role, flag, tls: o.tls }));
      }
      if (o.checkCompat) await this.assertCompatible(probes[0], probes[1]);
    } finally {
      for (const p of probes) p.disconnect();
    }
    this.control = this.makeControl(this.source);
    try {
      await this.control.connect();
    } catch (e) {
      throw new FerryError(`cannot connect to the source ${toPublicUrl(o.from)}: ${(e as Error).message}`, ExitCode.stepFailed);
    }
    try {
      this.conn = await openTarget({
        endpoint: o.to,
        tls: o.to.tls ? tlsSocketOptions(o.tls) : undefined,
        windowBytes: o.windowBytes,
        role: o.targetRole,
        onFatal: (err) => this.die(new FerryError(`target: ${err.message}`, ExitCode.stepFailed)),
        // A cluster target lost a master (failover) or kept redirecting: the link starts again from
        // the checkpoints the target holds.
        onRestart: (err) => this.link?.close(new LinkError(`target: ${err.message}`)),
        warn: (message) => this.emit({ event: 'warning', step: STEP, message }),
        info: (message) => this.emit({ event: 'info', step: STEP, message }),
      });
    } catch (e) {
      if (e instanceof FerryError) throw e;
      throw new FerryError(`${(e as Error).message}`, ExitCode.stepFailed);
    }
    const [srcInfo, dstInfo] = [await this.control.info('server'), String(await this.conn.call(['INFO', 'server']))];
    this.choice = chooseWriter(srcInfo, dstInfo, o.writer);
    this.dialect = dialectOf(serverVersions(dstInfo));
    this.report.writer = this.choice.mode;
    this.report.writerReason = this.choice.reason;
    this.conn.checkSource?.(await this.control.info('keyspace'), this.filter);
    await this.loadCheckpoint();
    await this.prepareBacklog();
    void this.refreshSourceBacklog();
    this.runPromise = this.loop();
    this.runPromise.catch(() => {});
  }

  /** The control connection (INFO for master_repl_offset) to the source at `e`. */
  private makeControl(e: Endpoint): Redis {
    const c = new Redis({
      host: e.host, port: e.port, username: e.username, password: e.password,
      tls: e.tls ? tlsSocketOptions(this.opts.tls) : undefined, lazyConnect: true, maxRetriesPerRequest: 2, connectionName: ferryClientName('engine'),
      retryStrategy: (n: number) => (n > 20 ? null : Math.min(n * 100, 1000)),
    });
    c.on('error', () => {});
    return c;
  }

  /**
   * Drops the source link now (no half transaction is applied); the loop reconnects at once,
   * asking `resolveSource` where the source is. For a Sentinel `+switch-master`.
   */
  relink(reason: string, to?: { host: string; port: number }): void {
    if (to && this.source && to.host === this.source.host && to.port === this.source.port) return;
    this.link?.close(new LinkError(reason));
  }

  /** Asks resolveSource where the source is now; moves the control connection when it moved (true). */
  private async refreshSource(): Promise<boolean> {
    if (!this.opts.resolveSource) return false;
    const next = await this.opts.resolveSource();
    if (next.host === this.source.host && next.port === this.source.port) return false;
    this.emit({ event: 'info', step: STEP, message: `the source is now ${hostPort(next)} (was ${hostPort(this.source)})` });
    this.source = next;
    const old = this.control;
    this.control = this.makeControl(next);
    old.disconnect();
    await this.control.connect().catch(() => {});
    return true;
  }

  /**
   * After a failover the engine may be a little ahead of the promoted replica: the old master
   * went on streaming after the replica was detached (Sentinel's hello PUBLISH every 2 s, a PING),
   * and the new master then refuses the partial resync ("Requested offset for second ID was X,
   * but I can reply up to Y", replication.c masterTryPartialResynchronization). When everything
   * the engine applied past the promotion point left the target's data unchanged, the target holds
   * exactly the new master's data at that point, so the engine continues from there: PSYNC
   * <replid2> <second_repl_offset>, a partial resync instead of a full one.
   */
  private async rewindNeutralTail(cp: Checkpoint | null): Promise<Checkpoint | null> {
    const applier = this.applier;
    if (!cp || !applier) return cp;
    let c: Redis | undefined;
    try {
      c = await connectEndpoint(this.source, { role: 'engine', flag: '--from', tls: this.opts.tls });
      const info = await c.info('replication');
      const replid2 = /master_replid2:(\w+)/.exec(info)?.[1];
      const second = Number(/second_repl_offset:(-?\d+)/.exec(info)?.[1] ?? -1);
      const point = second - 1;
      if (replid2 !== cp.replid || second <= 0 || cp.offset <= point || applier.lastDataOffset > point) return cp;
      this.emit({ event: 'info', step: STEP, message: `the new master took over at offset ${point}; the ${cp.offset - point} stream bytes applied after it changed no data: continuing from ${point}` });
      return { ...cp, offset: point };
    } catch {
      return cp;
    } finally {
      c?.disconnect();
    }
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
      // NOTE: before the stream phase only local state is checked: look often, so the caller sees
      // the end of the full sync at once (a 200 ms poll added ~100 ms to every `--until-caught-up`).
      await sleep(this.phase === 'stream' ? pollMs : Math.min(pollMs, 10));
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
    const fromKey = await this.conn.readCheckpoint();
    const state = o.statePath ? readSyncState(o.statePath) : null;
    if (state && state.from !== toPublicUrl(o.from)) {
      throw new SafetyError(`the state file ${o.statePath} belongs to a sync from ${state.from}, not ${toPublicUrl(o.from)}; use another --state path`);
    }
    this.loadedState = state;
    this.checkpoint = fromKey ?? state?.checkpoint ?? null;
    if (this.checkpoint) {
      this.ownsTarget = true;
      this.emit({ event: 'info', step: STEP, message: `resuming from offset ${this.checkpoint.offset} (${fromKey ? 'checkpoint in the target' : 'state file'})` });
      return;
    }
    const nonEmpty = !(await this.conn.isEmpty());
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
      let initial = true;
      while (!this.stopping && !this.fatal) {
        this.phase = 'connecting';
        let cp = this.currentCheckpoint();
        if (!initial) {
          try {
            if (await this.refreshSource()) cp = await this.rewindNeutralTail(cp);
          } catch (e) {
            failures++;
            const wait = Math.min(100 * 2 ** (failures - 1), 5000);
            this.emit({ event: 'warning', step: STEP, message: `cannot find the source (${(e as Error).message}); retrying in ${wait} ms` });
            await this.sleepOrWake(wait);
            continue;
          }
        }
        initial = false;
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
      await this.restoreBacklog();
      await this.finishStop();
      return this.finalReport();
    } catch (e) {
      this.phase = 'stopped';
      await this.restoreBacklog();
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
        endpoint: this.source,
        tls: this.source.tls ? tlsSocketOptions(this.opts.tls) : undefined,
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
        if (this.phase === 'stream') this.meter.lost(link.offset);
        void this.refreshSourceBacklog();
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
              const advice = r.kind === 'full' && cp ? this.resyncAdvice(r, cp) : null;
              this.meter.restored();
              if (r.kind === 'full') {
                this.meter.reset();
                if (advice) this.emit({ event: 'warning', step: STEP, message: advice });
                const full = this.beginFullSync(r, advice);
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
              this.report.fieldTtlsDropped += kw.stats.fieldTtlsDropped;
              this.report.restoredKeys += kw.stats.restored;
              this.report.chunkedKeys += kw.stats.commandKeys;
              this.startStreamAfterRdb(link, rdb);
            },
            onCommand: (argv, offset) => this.applier?.command(argv, offset),
            onBatchEnd: () => {
              this.meter.sample(link.offset);
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

  private beginFullSync(r: PsyncResult, advice: string | null): { rdb: RdbSink; writer: KeyWriter } | null {
    if (this.ownsTarget && this.opts.canFlushTarget && !this.opts.canFlushTarget()) {
      this.die(new FerryError(
        `the source's backlog no longer covers the engine's position (it answered +FULLRESYNC), and a new full sync would delete the writes clients made on the target since the repoint; raise repl-backlog-size on the source before a retry, or roll back${advice ? ` (${advice})` : ''}`,
        ExitCode.stepFailed,
      ));
      return null;
    }
    this.report.fullSyncs++;
    this.phase = 'rdb';
    this.applier = null;
    this.emit({ event: 'info', step: STEP, message: `full sync from offset ${r.offset} (writer: ${this.choice.reason})` });
    const cp: Checkpoint = { replid: r.replid, offset: r.offset, db: 0, phase: 'rdb' };
    const sink = this.conn.beginFullSync(cp, this.ownsTarget);
    this.fullSink = sink;
    this.ownsTarget = true;
    this.writeState(cp, true);
    const writer = new KeyWriter(sink, {
      mode: this.choice.mode,
      replace: this.opts.replace,
      filter: this.filter,
      dialect: this.dialect,
      dropFieldTtl: this.opts.dropFieldTtl,
      warn: (message) => this.emit({ event: 'warning', step: STEP, message }),
      fail: (err) => this.die(new FerryError(err.message, ExitCode.stepFailed)),
    });
    this.keyWriter = writer;
    const rdb = createRdbSink({
      mode: this.choice.mode === 'restore' ? 'payload' : 'decode',
      // Keys above it are written as chunked commands by the RESTORE writer too (see RESTORE_LIMIT).
      payloadLimit: RESTORE_LIMIT,
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
    // target acknowledges the checkpoint write only after every key write ("RDB applied"); until
    // then the applied offset stays -1 (ACKed as 0).
    const applier = this.applier;
    applier.applied = -1;
    // As a Redis replica loads the RDB's `lua` AUX scripts into its cache (script-cache.ts).
    for (const body of rdb.luaScripts()) {
      applier.scripts.add(body);
      this.fullSink?.send(['SCRIPT', 'LOAD', body], (r) => {
        if (r instanceof RespError) this.emit({ event: 'warning', step: STEP, message: `the target refused a script of the source's RDB (${r.message}); an EVAL of it will fail there too` });
      });
    }
    this.conn.endFullSync(cp, (err) => {
      if (err) return this.die(new FerryError(`the target refused the checkpoint write: ${err.message}`, ExitCode.stepFailed));
      if (applier.applied === -1) applier.applied = cp.offset;
      const skipped = this.keyWriter?.stats.pendingSkipped ?? 0;
      if (skipped > 0) {
        this.report.pendingSkipped += skipped;
        this.emit({ event: 'warning', step: STEP, message: `${skipped} pending entr${skipped === 1 ? 'y' : 'ies'} of consumer groups were not copied: their stream entries were deleted or trimmed, and XCLAIM cannot recreate such an entry (the RESTORE writer keeps them)` });
      }
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

  private makeApplier(cp: Checkpoint, _continued: boolean): Applier {
    const prev = this.applier;
    const applier = this.conn.createApplier({
      filter: this.filter,
      replid: cp.replid,
      offset: cp.offset,
      db: cp.db,
      fail: (err) => this.die(new FerryError(err.message, ExitCode.stepFailed)),
      warn: (message) => this.emit({ event: 'warning', step: STEP, message }),
      onApplied: (c) => this.writeState(c, false),
      dialect: this.dialect,
      dropFieldTtl: this.opts.dropFieldTtl,
    });
    if (prev) {
      applier.commandsApplied = prev.commandsApplied;
      applier.scripts.copyFrom(prev.scripts); // a partial resync: the master's script cache stands
      this.report.fieldTtlsDropped += prev.dropped.fieldTtl;
    }
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
    if (!this.fatal) await this.conn.settle().catch(() => {});
  }

  private async finishStop(): Promise<void> {
    await this.conn.whenIdle();
    const cp = this.currentCheckpoint();
    if (cp) this.writeState(cp, true, this.removeCheckpointOnStop);
    if (this.removeCheckpointOnStop && this.phase !== 'rdb') {
      await this.conn.removeCheckpoint().catch((e: Error) => {
        throw new FerryError(e.message, ExitCode.stepFailed);
      });
    }
  }

  /** After a fatal error: keep what is applied, record it in the state file. */
  private async settleAfterError(): Promise<void> {
    const cp = this.currentCheckpoint();
    if (cp || this.loadedState?.sourceBacklog || this.backlogChanged) this.writeState(cp, true);
  }

  private writeState(cp: Checkpoint | null, force: boolean, stoppedCleanly = false): void {
    if (!this.opts.statePath) return;
    const now = Date.now();
    if (!force && now - this.lastStateWrite < 1000) return;
    this.lastStateWrite = now;
    const state: SyncStateFile = {
      version: 1,
      kind: 'ferry-sync',
      from: toPublicUrl(this.opts.from),
      to: toPublicUrl(this.opts.to),
      checkpoint: cp ?? this.loadedState?.checkpoint ?? null,
      stoppedCleanly,
      ...(this.backlogRecord ? { sourceBacklog: this.backlogRecord } : {}),
      updatedAt: new Date(now).toISOString(),
    };
    writeFileAtomic(this.opts.statePath, `${JSON.stringify(state, null, 2)}\n`);
  }

  /**
   * Why the source answered +FULLRESYNC where the engine asked `PSYNC replid offset+1`, with the
   * numbers: its backlog (repl_backlog_size, read at start and after each link loss), the write
   * rate, how long the link was down and how far behind the engine was.
   */
  private resyncAdvice(r: PsyncResult, cp: Checkpoint): string {
    return partialResyncAdvice({
      backlogBytes: this.sourceBacklog,
      rate: this.meter.rateFor(r.offset),
      downMs: this.meter.isDown() ? this.meter.downMs() : null,
      // The master accepts offsets up to backlog start + histlen: what it needed to resend.
      behindBytes: r.offset - cp.offset,
      replidChanged: r.replid !== cp.replid,
    });
  }

  /** Reads repl_backlog_size (INFO replication: Redis 2.8+, no CONFIG needed); best effort. */
  private async refreshSourceBacklog(): Promise<void> {
    try {
      const n = Number((await infoMap(this.control, 'replication')).repl_backlog_size);
      if (Number.isFinite(n) && n > 0) this.sourceBacklog = n;
    } catch {
      /* the advice then says less */
    }
  }

  /**
   * `ferry sync --backlog`: raises the source's repl-backlog-size before the first PSYNC
   * (core/backlog.ts has the rule). The value found goes into the state file first; a record
   * left there by a sync that was killed is kept, so this run puts the true original back.
   */
  private async prepareBacklog(): Promise<void> {
    this.backlogRecord = this.loadedState?.sourceBacklog ?? null;
    const policy = this.opts.backlog;
    if (!policy || policy.kind === 'keep') return;
    const current = await readBacklogSize(this.control);
    const mem = await infoMap(this.control, 'memory');
    const inputs = {
      current,
      writeRate: policy.kind === 'auto' ? await sampleWriteRate(this.control, 1000) : 0,
      usedMemory: Number(mem.used_memory ?? 0),
      maxmemory: Number(mem.maxmemory ?? 0),
      totalSystemMemory: Number(mem.total_system_memory ?? 0),
    };
    if (policy.kind === 'size') {
      if (current === null) throw new SafetyError(`--backlog ${fmtSize(policy.bytes)} needs CONFIG SET on the source, which it does not allow; pass --backlog keep`);
      const room = inputs.maxmemory - inputs.usedMemory;
      if (inputs.maxmemory > 0 && policy.bytes > current && policy.bytes > room) {
        throw new SafetyError(`--backlog ${fmtSize(policy.bytes)} does not fit in the ${fmtSize(Math.max(0, room))} left under the source's maxmemory ${fmtSize(inputs.maxmemory)}: the source would evict keys; choose a smaller size or --backlog auto`);
      }
    }
    const d = decideBacklog(policy, inputs);
    if (d.set === null || current === null) {
      this.emit({ event: 'info', step: STEP, message: d.why });
      return;
    }
    this.backlogRecord = { original: this.backlogRecord?.original ?? current, set: d.set };
    this.backlogChanged = true;
    this.writeState(this.checkpoint, true);
    await setBacklogSize(this.control, d.set);
    this.emit({ event: 'info', step: STEP, message: `repl-backlog-size on the source raised from ${fmtSize(current)} to ${fmtSize(d.set)} (${d.why}); put back when the sync stops` });
  }

  /** Puts the source's repl-backlog-size back (never throws: a failure is a warning naming the fix). */
  private async restoreBacklog(): Promise<void> {
    const rec = this.backlogRecord;
    if (!rec) return;
    try {
      const outcome = await restoreBacklogSize(this.control, rec);
      this.emit({ event: outcome.kind === 'changed-since' ? 'warning' : 'info', step: STEP, message: restoreMessage(rec, outcome) });
      this.backlogRecord = null;
    } catch (e) {
      this.emit({ event: 'warning', step: STEP, message: `could not put repl-backlog-size back to ${fmtSize(rec.original)} on the source (${(e as Error).message}); run CONFIG SET repl-backlog-size ${rec.original} on it${this.opts.statePath ? ', or ferry sync again with the same --state' : ''}` });
    }
  }

  private finalReport(): SyncReport {
    const r = this.report;
    r.appliedOffset = this.applier?.applied ?? -1;
    r.replid = this.applier?.replid ?? '';
    r.commandsApplied = this.applier?.commandsApplied ?? 0;
    r.crossingCommands = [...this.filter.crossing];
    return { ...r, ...this.conn.report?.(), fieldTtlsDropped: r.fieldTtlsDropped + (this.applier?.dropped.fieldTtl ?? 0) };
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
