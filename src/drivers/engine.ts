/**
 * Engine mode (the default for `ferry run`): ferry itself is the replica. The embedded engine
 * (src/engine/sync.ts) runs in this process, PSYNCs from the source and writes into the target,
 * which stays a plain master throughout.
 *
 * - replicate: start the engine (idempotent: on resume it restarts from the checkpoint the
 *   target holds, with a partial resync);
 * - converge: the engine's APPLIED offset vs the source's master_repl_offset;
 * - open-writes: nothing to do, the target is already writable;
 * - fence (the step sends CLIENT PAUSE WRITE): applied offset == master_repl_offset;
 * - promote: stop the engine after the final offset and remove its checkpoint key from the target.
 *
 * A Redis Cluster source runs the orchestrator instead (engine/cluster/orchestrator.ts, one link
 * per master, seen through engine-links.ts): every phase above is then per link, each link's
 * applied offset against its own master's master_repl_offset.
 */
import { hostPort } from '../core/endpoint.js';
import { FerryError } from '../core/errors.js';
import type { WriterChoice } from '../engine/apply/writer-choice.js';
import { chooseWriter } from '../engine/apply/writer-choice.js';
import { CHECKPOINT_KEY } from '../engine/checkpoint.js';
import { isClusterSource, plannedSourceMasters } from '../core/source-nodes.js';
import { type EngineLinks, engineLinks, linkOffsets } from './engine-links.js';
import { cmd, type PlanContext, type PlannedCommand, type StepContext } from '../steps/step.js';
import type { DriverPhase, ReplicationDriver, ReplicationOffsets } from './driver.js';

/** state.data keys. */
const PROMOTED = 'engine.promoted';
const CHECKPOINT = 'engine.checkpoint';

/** Which writer the engine will use for the full sync, from the facts (for the plan). */
export function plannedWriter(pc: PlanContext): WriterChoice | null {
  const s = pc.facts.source;
  const t = pc.facts.target;
  if (!s?.version || !t?.version) return null;
  const info = (f: typeof s) => `redis_version:${f.version}\n${f.valkeyVersion ? `valkey_version:${f.valkeyVersion}\n` : ''}`;
  return chooseWriter(info(s), info(t));
}

/** The embedded-engine replication driver. */
export class EngineDriver implements ReplicationDriver {
  readonly mode = 'engine' as const;
  private engine: EngineLinks | null = null;
  private failure: Error | null = null;

  describe(phase: DriverPhase, pc: PlanContext): PlannedCommand[] {
    const src = hostPort(pc.spec.from);
    switch (phase) {
      case 'replicate': {
        const w = plannedWriter(pc);
        const writer = w
          ? `full-sync writer: ${w.mode === 'restore' ? 'RESTORE' : 'type commands'} — ${w.reason}`
          : 'full-sync writer: RESTORE when the started target reads the source RDB version, else type commands';
        const f = pc.spec;
        const filters = [
          ...(f.include ?? []).map((g) => `--include ${g}`),
          ...(f.exclude ?? []).map((g) => `--exclude ${g}`),
          ...Object.entries(f.dbMap ?? {}).map(([a, b]) => `--db-map ${a}:${b}`),
        ];
        const masters = plannedSourceMasters(pc.spec.from, pc.facts);
        if (masters.length > 1 || isClusterSource(pc.facts)) {
          // A cluster source: one link per master, each with its own checkpoint (engine/cluster/orchestrator.ts).
          return [
            cmd('source', ['CLUSTER', 'NODES'], `the masters and their slots; a slot migration open on any of them stops the run${filters.length ? `; filters: ${filters.join(' ')}` : ''}`),
            ...masters.map((m) => cmd(m.on, ['PSYNC', '?', -1], `a link of its own: ferry connects to ${m.addr} as a replica (REPLCONF capa eof psync2); ${writer}`)),
            cmd('target', ['RESTORE|MSET|…', '…'], `the RDB keys of every shard, pipelined; then each link's command stream in MULTI/EXEC batches with its own checkpoint key (${CHECKPOINT_KEY}:<link>)`),
          ];
        }
        return [
          cmd('source', ['PSYNC', '?', -1], `ferry connects to ${src} as a replica (REPLCONF capa eof psync2); ${writer}${filters.length ? `; filters: ${filters.join(' ')}` : ''}`),
          cmd('target', ['RESTORE|MSET|…', '…'], 'the RDB keys, pipelined; then the command stream in MULTI/EXEC batches with a checkpoint key'),
        ];
      }
      case 'converge':
        return plannedSourceMasters(pc.spec.from, pc.facts).map((m) => cmd(m.on, ['INFO', 'replication'], `repeat until the engine's applied offset${m.on === 'source' ? '' : ' of its link'} is within the lag threshold of master_repl_offset`));
      case 'open-writes':
        return [];
      case 'fence':
        return plannedSourceMasters(pc.spec.from, pc.facts).map((m) => cmd(m.on, ['INFO', 'replication'], `repeat until the engine's applied offset${m.on === 'source' ? '' : ' of its link'} equals master_repl_offset`));
      case 'promote': {
        const n = plannedSourceMasters(pc.spec.from, pc.facts).length;
        if (n > 1 || isClusterSource(pc.facts)) return [cmd('local', ['stop every link'], `the ${n} links, after the final offsets`), cmd('target', ['DEL', `${CHECKPOINT_KEY}:<link>`], "each link's checkpoint key (and its slot checkpoints on a cluster target)")];
        return [cmd('local', ['stop the engine'], 'after the final offset'), cmd('target', ['DEL', CHECKPOINT_KEY], "the engine's checkpoint key")];
      }
    }
  }

  async start(ctx: StepContext): Promise<void> {
    if (this.engine?.running) return;
    if (ctx.state.data[PROMOTED] === true) return;
    // A cluster source: one link per master (engine/cluster/orchestrator.ts), each resumed from its own checkpoint.
    const engine = await engineLinks({
      from: ctx.spec.from,
      to: ctx.target,
      tls: ctx.spec.tls,
      filter: { include: ctx.spec.include, exclude: ctx.spec.exclude, dbMap: ctx.spec.dbMap },
      // NOTE: preflight refused a non-empty target unless --flush-target, and replicate flushed
      // it; on resume the checkpoint in the target proves ferry owns its content.
      flushTarget: ctx.spec.flushTarget,
      dropFieldTtl: ctx.spec.dropFieldTtl,
      // Preflight could not see a target ferry starts itself: the engine checks it before writing.
      checkCompat: ctx.spec.to.kind === 'start',
      // Once clients may have moved to the target, a full resync must not flush it.
      canFlushTarget: () => ctx.state.steps.repoint.status === 'pending',
      emit: (e) => {
        if (e.event === 'progress') return; // converge reports progress from offsets()
        ctx.bus.emit({ ...e, step: 'replicate' } as never);
      },
    }, isClusterSource(ctx.facts));
    await engine.start();
    this.engine = engine;
    if (ctx.state.steps.converge.status === 'done') {
      // Resumed past converge: the runner goes on to repoint and fence next, so the engine must
      // be following again first (a full resync, if the backlog was too short, is waited for).
      ctx.info('waiting until the engine follows the source again');
      await engine.waitStreaming();
    }
    this.failure = null;
    engine.done().catch((e: Error) => {
      this.failure = e;
      ctx.warn(`engine stopped: ${e.message}`);
    });
    ctx.info(`engine writer: ${engine.choice.reason}`);
  }

  async isReplicating(_ctx: StepContext): Promise<boolean> {
    return !!this.engine?.running;
  }

  async offsets(ctx: StepContext, known: { masterOffset?: number } = {}): Promise<ReplicationOffsets> {
    if (this.failure) throw new FerryError(`the engine stopped: ${this.failure.message}`, 4);
    const engine = this.engine;
    if (!engine) throw new FerryError('the engine is not running; resume the run', 4);
    const links = engine.links();
    // Each link's master, asked first (its applied offset can only grow meanwhile).
    const masters = links.length === 1 && known.masterOffset !== undefined ? [known.masterOffset] : await Promise.all(links.map(async (l) => Number(/master_repl_offset:(\d+)/.exec(await (await ctx.sourceNode(hostPort(l.master))).info('replication'))?.[1] ?? 0)));
    const o = linkOffsets(links, masters);
    if (Date.now() - Number(ctx.state.data[`${CHECKPOINT}.at`] ?? 0) > 1000) {
      const cps = links.map((l) => l.status().checkpoint);
      if (cps.every((cp) => cp && cp.offset >= 0)) {
        ctx.state.data[CHECKPOINT] = cps.length === 1 ? cps[0] : cps;
        ctx.state.data[`${CHECKPOINT}.at`] = Date.now();
      }
    }
    return o;
  }

  async openWrites(_ctx: StepContext): Promise<void> {}

  async closeWrites(_ctx: StepContext): Promise<void> {}

  async stop(ctx: StepContext): Promise<void> {
    if (this.engine) {
      const report = await this.engine.stop({ removeCheckpoint: true });
      ctx.state.data[CHECKPOINT] = report.shards ? report.shards.map((r) => { const x = r as { master: string; replid: string; appliedOffset: number }; return { master: x.master, replid: x.replid, offset: x.appliedOffset }; }) : { replid: report.replid, offset: report.appliedOffset };
      if (ctx.spec.dropFieldTtl) ctx.state.cutover.fieldTtlsDropped = report.fieldTtlsDropped;
      if (report.pendingSkipped) ctx.state.cutover.pendingSkipped = report.pendingSkipped;
    } else {
      // Resumed after the engine was stopped: make sure the checkpoint key is gone.
      await removeCheckpoint(ctx);
    }
    this.engine = null;
    ctx.state.data[PROMOTED] = true;
    await ctx.save();
  }

  async isPromoted(ctx: StepContext): Promise<boolean> {
    return ctx.state.data[PROMOTED] === true;
  }

  /** Rollback of replicate: the engine stops and its checkpoint key leaves the target (the copied data stays, as with REPLICAOF NO ONE). */
  async abort(ctx: StepContext): Promise<void> {
    if (this.engine) await this.engine.stop({ removeCheckpoint: true }).catch(() => {});
    this.engine = null;
    await removeCheckpoint(ctx);
  }

  async close(): Promise<void> {
    // The run ends or fails: stop the in-process replica, keep its checkpoint for a resume.
    await this.engine?.stop({ removeCheckpoint: false }).catch(() => {});
    this.engine = null;
  }
}

/** The engine's checkpoint keys leave the target (a cluster target holds one per slot too). */
async function removeCheckpoint(ctx: StepContext): Promise<void> {
  const { removeEngineCheckpoint } = await import('../engine/targets.js');
  const { tlsSocketOptions } = await import('../core/endpoint.js');
  // A cluster source wrote one link checkpoint per master (link ids 0…n-1).
  const links = plannedSourceMasters(ctx.spec.from, ctx.facts).length;
  await removeEngineCheckpoint(ctx.target, ctx.target.tls ? tlsSocketOptions(ctx.spec.tls) : undefined, Array.from({ length: links }, (_, i) => i));
}
