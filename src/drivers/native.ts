/**
 * Native mode: the target replicates with REPLICAOF, Redis does the copying.
 *
 * Per phase on the target: `CONFIG SET masteruser/masterauth` (when the source needs a password),
 * `REPLICAOF source`; converge and fence read `INFO replication` on both; open-writes sets
 * `replica-read-only no` (the old value is kept in the state and put back after promotion or on
 * rollback); promote is `REPLICAOF NO ONE`.
 */
import { info } from '../core/connect.js';
import { hostPort } from '../core/endpoint.js';
import { StepError } from '../core/errors.js';
import { SECRET, cmd, type PlanContext, type PlannedCommand, type StepContext } from '../steps/step.js';
import type { DriverPhase, ReplicationDriver, ReplicationOffsets } from './driver.js';

/** Key in state.data holding the target's replica-read-only before open-writes changed it. */
const SAVED_READ_ONLY = 'native.replicaReadOnly';
/** Key in state.data holding the link marks taken at open-writes. */
const LINK_AT_OPEN = 'native.linkAtOpenWrites';

/** Identifies the target's current replication link and the source's count of full syncs. */
interface LinkMark {
  masterClientId: string;
  syncFull: number;
}

async function linkMark(ctx: StepContext): Promise<LinkMark> {
  const list = (await (await ctx.targetClient()).call('CLIENT', 'LIST', 'TYPE', 'master')) as string;
  const stats = await info(await ctx.sourceClient(), 'stats');
  return { masterClientId: /\bid=(\d+)/.exec(list)?.[1] ?? '', syncFull: Number(stats.sync_full ?? 0) };
}

/** REPLICAOF-based replication driver. */
export class NativeDriver implements ReplicationDriver {
  readonly mode = 'native' as const;

  describe(phase: DriverPhase, pc: PlanContext): PlannedCommand[] {
    const src = pc.spec.from;
    switch (phase) {
      case 'replicate':
        return [
          ...(src.username ? [cmd('target', ['CONFIG', 'SET', 'masteruser', src.username])] : []),
          ...(src.password ? [cmd('target', ['CONFIG', 'SET', 'masterauth', SECRET], 'the source needs a password')] : []),
          cmd('target', ['REPLICAOF', src.host, src.port], 'full sync: the target loads a snapshot of the source, then follows its stream'),
        ];
      case 'converge':
        return [cmd('source', ['INFO', 'replication']), cmd('target', ['INFO', 'replication'], `repeat until the target's offset is within ${pc.spec.convergeMaxLagBytes} bytes of master_repl_offset`)];
      case 'open-writes':
        return [cmd('target', ['CONFIG', 'GET', 'replica-read-only'], 'remembered for rollback'), cmd('target', ['CONFIG', 'SET', 'replica-read-only', 'no'], 'repointed clients may write before promotion')];
      case 'fence':
        return [cmd('target', ['INFO', 'replication'], "repeat until slave_repl_offset equals the source's master_repl_offset")];
      case 'promote':
        return [
          cmd('target', ['REPLICAOF', 'NO', 'ONE']),
          cmd('target', ['CONFIG', 'SET', 'replica-read-only', pc.facts.target?.config?.['replica-read-only'] ?? 'yes'], 'put back the value open-writes changed'),
        ];
    }
  }

  async start(ctx: StepContext): Promise<void> {
    if (await this.isReplicating(ctx)) return;
    const t = await ctx.targetClient();
    const src = ctx.spec.from;
    if (src.username) await t.call('CONFIG', 'SET', 'masteruser', src.username);
    if (src.password) await t.call('CONFIG', 'SET', 'masterauth', src.password);
    await t.call('REPLICAOF', src.host, String(src.port));
  }

  async isReplicating(ctx: StepContext): Promise<boolean> {
    const r = await info(await ctx.targetClient(), 'replication');
    return r.role === 'slave' && sameHost(`${r.master_host}:${r.master_port}`, hostPort(ctx.spec.from), ctx.spec.from.port);
  }

  async offsets(ctx: StepContext, known: { masterOffset?: number } = {}): Promise<ReplicationOffsets> {
    // NOTE: read the master first: the replica's offset can then only be ahead of the value we
    // compare it with, never behind because of the time between the two reads.
    const masterOffset = known.masterOffset ?? Number((await info(await ctx.sourceClient(), 'replication')).master_repl_offset ?? 0);
    const r = await info(await ctx.targetClient(), 'replication');
    const syncing = r.master_sync_in_progress === '1';
    return {
      masterOffset,
      replicaOffset: Number(r.slave_repl_offset ?? r.master_repl_offset ?? 0),
      linkUp: r.master_link_status === 'up',
      syncing,
      syncBytes: syncing ? { done: Number(r.master_sync_read_bytes ?? 0), total: Number(r.master_sync_total_bytes ?? -1) } : undefined,
    };
  }

  async openWrites(ctx: StepContext): Promise<void> {
    const t = await ctx.targetClient();
    if (ctx.state.data[SAVED_READ_ONLY] === undefined) {
      const [, value] = (await t.call('CONFIG', 'GET', 'replica-read-only')) as string[];
      ctx.state.data[SAVED_READ_ONLY] = value ?? 'yes';
      ctx.state.data[LINK_AT_OPEN] = await linkMark(ctx);
      await ctx.save();
    }
    await t.call('CONFIG', 'SET', 'replica-read-only', 'no');
  }

  /**
   * A writable replica keeps its own writes through a partial resync, but a full resync replaces
   * its dataset. Both marks moving (the target's link to the source is a new connection, and the
   * source served a full sync) means writes made on the target since open-writes may be gone.
   */
  async assertWritesIntact(ctx: StepContext): Promise<void> {
    const before = ctx.state.data[LINK_AT_OPEN] as LinkMark | undefined;
    if (!before) return;
    const now = await linkMark(ctx);
    if (now.masterClientId !== before.masterClientId && now.syncFull > before.syncFull) {
      // Reported once: a resume after this means the operator accepts it and goes on.
      ctx.state.data[LINK_AT_OPEN] = now;
      await ctx.save();
      throw new StepError(
        'fence',
        'the target did a full resync after it began taking writes (the link dropped and the source\'s repl-backlog-size was too small for the gap: see --backlog): writes made on it since may be lost; check them, then ferry resume to accept and go on',
      );
    }
  }

  async closeWrites(ctx: StepContext): Promise<void> {
    const saved = ctx.state.data[SAVED_READ_ONLY];
    if (typeof saved !== 'string') return;
    await (await ctx.targetClient()).call('CONFIG', 'SET', 'replica-read-only', saved);
    delete ctx.state.data[SAVED_READ_ONLY];
  }

  async stop(ctx: StepContext): Promise<void> {
    await (await ctx.targetClient()).call('REPLICAOF', 'NO', 'ONE');
    // NOTE: replica-read-only has no effect on a master, but leaving "no" behind would surprise
    // whoever makes this server a replica later: put the old value back.
    await this.closeWrites(ctx);
  }

  async isPromoted(ctx: StepContext): Promise<boolean> {
    return (await info(await ctx.targetClient(), 'replication')).role === 'master';
  }

  async abort(ctx: StepContext): Promise<void> {
    if (await this.isReplicating(ctx)) await (await ctx.targetClient()).call('REPLICAOF', 'NO', 'ONE');
  }

  async close(): Promise<void> {}
}

function sameHost(actual: string, wanted: string, port: number): boolean {
  if (actual === wanted) return true;
  // The server reports the host as given to REPLICAOF; treat localhost spellings as one.
  const local = /^(127\.0\.0\.1|localhost|::1|\[::1\])$/;
  const [ah, ap] = [actual.slice(0, actual.lastIndexOf(':')), Number(actual.slice(actual.lastIndexOf(':') + 1))];
  const wh = wanted.slice(0, wanted.lastIndexOf(':'));
  return ap === port && local.test(ah) && local.test(wh);
}
