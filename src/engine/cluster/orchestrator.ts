/**
 * Sync from a Redis Cluster: one engine link per source master (shard-link.ts), in parallel, each
 * with its own offsets, checkpoint (link id k: `__ferry:sync:checkpoint[:k]`, plus its slot
 * checkpoints on a cluster target) and resume. The target may be a cluster or one server.
 *
 *   discover the masters (CLUSTER SHARDS on 7.0+, CLUSTER NODES before) ─ refuse an open migration
 *   match each master to a link checkpoint in the target by replication id (master_replid or
 *   master_replid2): all found → every link resumes; none → empty the target once, every link
 *   starts with a full sync of its shard
 *   run the links; one that fails stops the others
 *   every second: CLUSTER NODES of each master; an open slot migration (MIGRATING/IMPORTING) stops
 *   the sync with an error before its keys move (see shard-refusal.ts for the keys that already do)
 *
 * A source failover is followed by the link (shard-link.ts); the others do not notice.
 */
import { connectEndpoint } from '../../core/connect.js';
import type { Endpoint } from '../../core/endpoint.js';
import { hostPort, tlsSocketOptions, toPublicUrl } from '../../core/endpoint.js';
import { ExitCode, FerryError, SafetyError } from '../../core/errors.js';
import type { FerryEvent } from '../../core/events.js';
import { TargetConn } from '../apply/target-conn.js';
import type { WriterChoice } from '../apply/writer-choice.js';
import { decodeCheckpoint, writeFileAtomic, type Checkpoint } from '../checkpoint.js';
import { RespError, type RespValue } from '../resp/decoder.js';
import type { Arg } from '../resp/encoder.js';
import type { SyncEngine, SyncOptions, SyncReport } from '../sync.js';
import { linkCheckpointKey } from './cluster-target.js';
import { fetchTopology, SlotRouter } from './router.js';
import { ShardLink, withConn } from './shard-link.js';
import { ShardThread } from './shard-thread.js';
import { parseClusterNodes, rangesText, type ClusterShard } from './slots.js';

export type ClusterSyncOptions = Omit<SyncOptions, 'targetRole' | 'resolveSource'> & {
  /**
   * Run each link in its own worker thread (shard-thread.ts), so the links parse and write in
   * parallel (only from the compiled build, and not with `canFlushTarget`: a function cannot cross
   * to a thread). Default: off (see start()).
   */
  threads?: boolean;
};

/** One link as the orchestrator drives it: in this thread or in a worker (shard-thread.ts). */
interface LinkRunner {
  readonly linkId: number;
  readonly shard: ClusterShard;
  readonly master: Endpoint;
  readonly choice: WriterChoice;
  start(): Promise<void>;
  done(): Promise<SyncReport>;
  stop(opts?: { removeCheckpoint?: boolean }): Promise<SyncReport>;
  waitCaughtUp(pollMs?: number, onProgress?: (applied: number, master: number) => void, timeoutMs?: number): Promise<number>;
  waitStreaming(): Promise<void>;
  status(): ReturnType<SyncEngine['status']>;
}

/** A ShardLink run in this thread, as a LinkRunner. */
function inThread(link: ShardLink): LinkRunner {
  const e = link.engine;
  return {
    linkId: link.linkId,
    shard: link.shard,
    get master() {
      return link.master;
    },
    get choice() {
      return e.choice;
    },
    start: () => e.start(),
    done: () => e.done(),
    stop: (opts) => e.stop(opts),
    waitCaughtUp: (pollMs, onProgress, timeoutMs) => e.waitCaughtUp(pollMs, onProgress, timeoutMs),
    waitStreaming: () => e.waitStreaming(),
    status: () => e.status(),
  };
}

/** The report of a cluster-source sync: sums over the links, and each link's own. */
export interface ClusterSyncReport extends SyncReport {
  shards: Array<{ link: number; master: string; slots: string } & SyncReport>;
}

const STEP = 'sync';
/** Link checkpoints looked for in the target (more than any cluster ferry syncs from has masters). */
const MAX_LINKS = 128;

/** See the file comment. */
export class ClusterSync {
  links: LinkRunner[] = [];
  choice!: WriterChoice;
  private readonly emit: (e: FerryEvent) => void;
  private watch: NodeJS.Timeout | null = null;
  private fatal: Error | null = null;
  private runPromise: Promise<ClusterSyncReport> | null = null;
  private stateTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: ClusterSyncOptions) {
    this.emit = opts.emit ?? (() => {});
  }

  /** Discovers the shards, prepares the target, starts every link. */
  async start(): Promise<void> {
    const o = this.opts;
    (await connectEndpoint(o.from, { role: 'source', flag: '--from', tls: o.tls })).disconnect();
    (await connectEndpoint(o.to, { role: 'target', flag: '--to', tls: o.tls })).disconnect();
    const tls = o.from.tls ? tlsSocketOptions(o.tls) : undefined;
    const topo = await withConn(o.from, tls, (c) => fetchTopology((a) => c.call(a)));
    const shards = topo.shards.filter((s) => s.ranges.length > 0);
    if (shards.length === 0) throw new FerryError(`the source cluster at ${toPublicUrl(o.from)} has no master with slots`, ExitCode.stepFailed);
    const seeds = topo.shards.flatMap((s) => [s.master, ...s.replicas]).map((n) => ({ ...o.from, host: n.host || o.from.host, port: n.port, db: 0 }));
    await this.refuseMigrations(shards);
    const ids = await this.prepareTarget(shards);
    this.emit({ event: 'info', step: STEP, message: `source cluster: ${shards.length} masters: ${shards.map((s) => `${hostPort(s.master)} (slots ${rangesText(s.ranges)})`).join(', ')}` });
    // NOTE: off by default: on the 2-core bench machine one thread was faster (bench/README,
    // cluster (b): 3.35 s vs 4.37 s); FERRY_TEST_SHARD_THREADS=1 turns it on (bench and tests only).
    const threads = (o.threads ?? process.env.FERRY_TEST_SHARD_THREADS === '1') && !o.canFlushTarget && import.meta.url.endsWith('.js');
    this.links = shards.map((shard, i) => {
      const emit = (e: FerryEvent): void => this.emit(tagged(e, `shard ${hostPort(shard.master)}`));
      const { emit: _emit, canFlushTarget, threads: _threads, ...plain } = o;
      // The orchestrator emptied the target (or every link resumes): a link never flushes it.
      const engine = { ...plain, statePath: undefined, flushTarget: false };
      if (threads) return new ShardThread({ linkId: ids[i], shard, seeds, from: o.from, tls, engine }, emit);
      return inThread(new ShardLink({ linkId: ids[i], shard, seeds, from: o.from, tls, engine: { ...engine, canFlushTarget, emit } }));
    });
    try {
      await Promise.all(this.links.map((l) => l.start()));
    } catch (e) {
      await Promise.all(this.links.map((l) => l.stop().catch(() => {})));
      throw e;
    }
    this.choice = this.links[0].choice;
    this.runPromise = this.run();
    this.runPromise.catch(() => {});
    this.watch = setInterval(() => void this.checkMigrations(), 1000);
    this.watch.unref();
    if (o.statePath) {
      this.stateTimer = setInterval(() => this.writeState(false), 1000);
      this.stateTimer.unref();
    }
  }

  /** Resolves when every link has stopped; rejects with the first link failure (the others are stopped). */
  done(): Promise<ClusterSyncReport> {
    if (!this.runPromise) throw new Error('start() first');
    return this.runPromise;
  }

  /** Waits until every link's applied offset equals its master's master_repl_offset. */
  async waitCaughtUp(pollMs = 200, onProgress?: (applied: number, master: number) => void, timeoutMs = Infinity): Promise<number> {
    const applied = this.links.map(() => 0);
    const master = this.links.map(() => 0);
    const all = await Promise.race([
      Promise.all(this.links.map((l, i) => l.waitCaughtUp(pollMs, (a, m) => {
        applied[i] = a;
        master[i] = m;
        onProgress?.(sum(applied), sum(master));
      }, timeoutMs))),
      this.done().then(() => {
        throw new FerryError('the sync stopped before catching up', ExitCode.stepFailed);
      }),
    ]);
    return sum(all);
  }

  /** Resolves once every link follows its master's stream. */
  async waitStreaming(): Promise<void> {
    await Promise.all(this.links.map((l) => l.waitStreaming()));
  }

  /** Stops every link cleanly (see SyncEngine.stop). */
  async stop(opts: { removeCheckpoint?: boolean } = {}): Promise<ClusterSyncReport> {
    await Promise.all(this.links.map((l) => l.stop(opts).catch(() => {})));
    return this.runPromise ?? Promise.reject(new Error('start() first'));
  }

  private async run(): Promise<ClusterSyncReport> {
    try {
      const reports = await Promise.all(this.links.map((l) => l.done().catch(async (e: Error) => {
        // One link failing stops the others (their checkpoints stay for a resume).
        this.fatal ??= e;
        await Promise.all(this.links.map((x) => x.stop().catch(() => {})));
        throw e;
      })));
      if (this.fatal) throw this.fatal;
      return this.aggregate(reports);
    } finally {
      if (this.watch) clearInterval(this.watch);
      if (this.stateTimer) clearInterval(this.stateTimer);
      this.writeState(true);
    }
  }

  private aggregate(reports: SyncReport[]): ClusterSyncReport {
    const first = reports[0];
    const total = (k: keyof SyncReport): number => reports.reduce((n, r) => n + Number(r[k] ?? 0), 0);
    return {
      ...first,
      fullSyncs: total('fullSyncs'),
      partialSyncs: total('partialSyncs'),
      keys: total('keys'),
      expiredSkipped: total('expiredSkipped'),
      filtered: total('filtered'),
      rdbBytes: total('rdbBytes'),
      commandsApplied: total('commandsApplied'),
      // NOTE: a sum over shards, for the summary line; each shard's own offset is in `shards`.
      appliedOffset: total('appliedOffset'),
      replid: '',
      reconnects: total('reconnects'),
      crossingCommands: [...new Set(reports.flatMap((r) => r.crossingCommands))],
      cluster: sumCluster(reports),
      shards: reports.map((r, i) => ({ link: this.links[i].linkId, master: hostPort(this.links[i].master), slots: rangesText(this.links[i].shard.ranges), ...r })),
    };
  }

  /**
   * Link ids for the shards: resumed ones from the target's checkpoints (matched by replication
   * id), else 0..n-1 after emptying the target. Refuses a target that holds data not ferry's.
   */
  private async prepareTarget(shards: ClusterShard[]): Promise<number[]> {
    const o = this.opts;
    const target = await TargetProbe.open(o.to, o.to.tls ? tlsSocketOptions(o.tls) : undefined);
    try {
      const found = new Map<number, Checkpoint>();
      const values = await Promise.all(Array.from({ length: MAX_LINKS }, (_, k) => target.get(linkCheckpointKey(k))));
      values.forEach((v, k) => {
        const cp = decodeCheckpoint(v as Buffer | null);
        if (cp) found.set(k, cp);
      });
      if (found.size > 0) {
        const ids: number[] = [];
        for (const s of shards) {
          const info = String(await withConn({ ...o.from, host: s.master.host || o.from.host, port: s.master.port }, o.from.tls ? tlsSocketOptions(o.tls) : undefined, (c) => c.call(['INFO', 'replication'])));
          const mine = [/master_replid:(\w+)/.exec(info)?.[1], /master_replid2:(\w+)/.exec(info)?.[1]];
          const k = [...found].find(([, cp]) => cp.phase === 'stream' && mine.includes(cp.replid))?.[0];
          if (k !== undefined && !ids.includes(k)) ids.push(k);
        }
        if (ids.length === shards.length && found.size === shards.length) {
          this.emit({ event: 'info', step: STEP, message: `resuming ${shards.length} shard links from their checkpoints in the target` });
          return ids;
        }
        if (o.canFlushTarget && !o.canFlushTarget()) {
          throw new FerryError('the target holds checkpoints of a sync from other shards (or one that did not finish its full sync), and it may not be emptied now; roll back or start over', ExitCode.stepFailed);
        }
        this.emit({ event: 'info', step: STEP, message: `the target holds ${found.size} link checkpoints that do not all match the source's ${shards.length} masters (or a full sync that did not finish): emptying it and starting over` });
      } else if (!(await target.isEmpty())) {
        if (!o.flushTarget) throw new SafetyError(`the target ${toPublicUrl(o.to)} is not empty; empty it, or pass --flush-target to let ferry FLUSHALL it`);
      }
      await target.flushAll();
      return shards.map((_, i) => i);
    } finally {
      target.close();
    }
  }

  private async refuseMigrations(shards: ClusterShard[]): Promise<void> {
    const open = await this.openMigrations(shards.map((s) => ({ ...this.opts.from, host: s.master.host || this.opts.from.host, port: s.master.port })));
    if (open) throw new SafetyError(`${open}; ferry cannot sync a cluster while slots move between its shards. Finish or cancel the resharding (redis-cli --cluster fix) first`);
  }

  private async checkMigrations(): Promise<void> {
    if (this.fatal) return;
    const open = await this.openMigrations(this.links.map((l) => l.master)).catch(() => null);
    if (!open || this.fatal) return;
    this.fatal = new FerryError(`${open}; ferry stopped before the slot's keys move, because two shard links would see each migrated key's RESTORE and DEL in either order. Finish the resharding, then sync again with --flush-target`, ExitCode.stepFailed);
    this.emit({ event: 'warning', step: STEP, message: this.fatal.message });
    await Promise.all(this.links.map((l) => l.stop().catch(() => {})));
  }

  /** The first open slot migration a master reports about itself, as text, or null. */
  private async openMigrations(masters: Endpoint[]): Promise<string | null> {
    const tls = this.opts.from.tls ? tlsSocketOptions(this.opts.tls) : undefined;
    for (const m of masters) {
      const text = await withConn(m, tls, (c) => c.call(['CLUSTER', 'NODES']));
      // Open migrations are only in CLUSTER NODES, on the node's own line.
      const { migrations } = parseClusterNodes(String(text));
      const mig = migrations[0];
      if (mig) return `slot ${mig.slot} is ${mig.kind} on the source master ${hostPort(m)} (${mig.kind === 'migrating' ? 'to' : 'from'} node ${mig.peer.slice(0, 8)}…)`;
    }
    return null;
  }

  private writeState(final: boolean): void {
    const o = this.opts;
    if (!o.statePath || this.links.length === 0) return;
    const shards = this.links.map((l) => ({ link: l.linkId, master: hostPort(l.master), checkpoint: l.status().checkpoint }));
    const state = {
      version: 1,
      kind: 'ferry-sync',
      from: toPublicUrl(o.from),
      to: toPublicUrl(o.to),
      checkpoint: null,
      shards,
      stoppedCleanly: final && !this.fatal,
      updatedAt: new Date().toISOString(),
    };
    writeFileAtomic(o.statePath, `${JSON.stringify(state, null, 2)}\n`);
  }
}

/** Is `--from` a cluster (INFO cluster: cluster_enabled:1)? */
export async function isClusterSource(from: Endpoint, tls: SyncOptions['tls']): Promise<boolean> {
  const info = await withConn(from, from.tls ? tlsSocketOptions(tls) : undefined, (c) => c.call(['INFO', 'cluster'])).catch(() => '');
  return /^cluster_enabled:1/m.test(String(info));
}

/** The target before the links start: link checkpoints, emptiness, one FLUSHALL for all. */
class TargetProbe {
  private constructor(
    private readonly router: SlotRouter | null,
    private readonly conn: TargetConn | null,
  ) {}

  static async open(to: Endpoint, tls: ReturnType<typeof tlsSocketOptions> | undefined): Promise<TargetProbe> {
    const probe = new TargetConn({ endpoint: to, tls, onFatal: () => {} });
    await probe.connect();
    if (/^cluster_enabled:1/m.test(String(await probe.call(['INFO', 'cluster'])))) {
      probe.close();
      const router = new SlotRouter({ seed: to, tls, onBroken: () => {}, onFatal: () => {} });
      await router.connect();
      return new TargetProbe(router, null);
    }
    return new TargetProbe(null, probe);
  }

  async get(key: string): Promise<RespValue> {
    return ok(this.router ? await this.router.request(['GET', key]) : await this.conn!.call(['GET', key]));
  }

  async isEmpty(): Promise<boolean> {
    const sizes = this.router ? await this.router.callAll(['DBSIZE']) : [await this.conn!.call(['DBSIZE'])];
    return sizes.every((n) => n === 0);
  }

  async flushAll(): Promise<void> {
    const args: Arg[] = ['FLUSHALL'];
    const replies = this.router ? await this.router.callAll(args) : [await this.conn!.call(args)];
    for (const r of replies) ok(r);
  }

  close(): void {
    this.router?.close();
    this.conn?.close();
  }
}

function ok(r: RespValue): RespValue {
  if (r instanceof RespError) throw new FerryError(`the target answered ${r.message}`, ExitCode.stepFailed);
  return r;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function sumCluster(reports: SyncReport[]): Record<string, number> | undefined {
  const withCluster = reports.filter((r) => r.cluster);
  if (withCluster.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const r of withCluster) for (const [k, v] of Object.entries(r.cluster!)) out[k] = k === 'masters' ? v : (out[k] ?? 0) + v;
  return out;
}

/** A link's event, its message prefixed with the shard. */
function tagged(e: FerryEvent, who: string): FerryEvent {
  if (e.event === 'info' || e.event === 'warning') return { ...e, message: `${who}: ${e.message}` };
  if (e.event === 'progress') return { ...e, detail: { ...e.detail, shard: who } };
  return e;
}
