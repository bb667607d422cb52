/**
 * retire: what becomes of the old master.
 * - replica (default): it becomes a replica of the new master, so a straggler's write fails loudly
 *   (-READONLY) instead of vanishing and it stays a live rollback copy; its normal clients are
 *   disconnected so pools reconnect (and re-resolve).
 * - keep: it is released as is; writes that still reach it are lost (warned).
 * - shutdown: SHUTDOWN, after a confirmation (--yes answers it).
 * The fence's pause is lifted here, after the old master can no longer accept writes.
 *
 * A source before 6.2 is paused for every client (fence.ts): the commands below wait behind the
 * pause, so they are written at once as one pipeline, and run in one go, before any client that
 * connected since the fence, when the pause ends by itself (there is no CLIENT UNPAUSE to send).
 */
import { info } from '../core/connect.js';
import { hasWritePause } from '../core/compat.js';
import { StepError } from '../core/errors.js';
import { plannedSourceMasters } from '../core/source-nodes.js';
import { SECRET, cmd, type Step, type StepContext } from './step.js';
import { PAUSED_ALL, PAUSED_AT, PAUSED_NODES, forgetPause, isPausedByFerry, unpauseAll } from './fence.js';

export const retire: Step = {
  id: 'retire',
  title: 'Retire the old master',
  describe(pc) {
    const t = pc.target;
    // Every source master (one for a single source): a cluster source's keep and shutdown apply to each.
    const masters = plannedSourceMasters(pc.spec.from, pc.facts);
    const cluster = !!pc.facts.source?.cluster;
    switch (pc.spec.retire) {
      case 'keep':
        return masters.map((m) => cmd(m.on, ['CLIENT', 'UNPAUSE'], 'the old master takes writes again: they are NOT copied to the new one'));
      case 'shutdown':
        return masters.map((m) => cmd(m.on, ['SHUTDOWN'], cluster ? "after your confirmation (--yes); the source cluster's replicas stay up, replicas of a master that is gone, and with no master left to vote none can be promoted: the old cluster is down (CLUSTERDOWN); stop them yourself" : 'after your confirmation (--yes)'));
      case 'replica':
        if (pc.facts.source && !hasWritePause(pc.facts.source)) {
          return [
            cmd('source', ['REPLICAOF', t.host, t.port || '<port>'], 'sent during the pause in one pipeline with the CONFIG SETs below (replica-read-only yes, masterauth) and CLIENT KILL TYPE normal SKIPME yes; they run first when the pause ends by itself (no CLIENT UNPAUSE before 6.2)'),
          ];
        }
        return [
          ...(pc.facts.source.config?.['replica-read-only'] === 'no' ? [cmd('source', ['CONFIG', 'SET', 'replica-read-only', 'yes'], 'so late writes fail loudly')] : []),
          ...(t.username ? [cmd('source', ['CONFIG', 'SET', 'masteruser', t.username])] : []),
          ...(t.password ? [cmd('source', ['CONFIG', 'SET', 'masterauth', SECRET])] : []),
          cmd('source', ['REPLICAOF', t.host, t.port || '<port>'], 'the old master becomes a replica of the new one (rollback copy)'),
          cmd('source', ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'], 'stragglers reconnect and find out'),
          cmd('source', ['CLIENT', 'UNPAUSE']),
        ];
    }
  },
  async check(ctx) {
    if (ctx.spec.retire !== 'replica') return false;
    // A source paused for every client would answer only when the pause ends: too late (run).
    if (ctx.state.data[PAUSED_ALL] === true && isPausedByFerry(ctx.state)) return false;
    try {
      const r = await info(await ctx.sourceClient(), 'replication');
      return r.role === 'slave' && Number(r.master_port) === ctx.target.port && !isPausedByFerry(ctx.state);
    } catch {
      return false;
    }
  },
  async run(ctx) {
    if (ctx.spec.retire === 'keep') {
      await unpauseAll(ctx);
      ctx.warn('--retire keep: the old master accepts writes again; writes that still reach it are lost');
      return { policy: 'keep' };
    }
    if (ctx.spec.retire === 'shutdown') return shutdown(ctx);
    const source = await ctx.sourceClient();
    if (typeof ctx.state.data[PAUSED_AT] === 'number' && !isPausedByFerry(ctx.state)) {
      ctx.warn('the fence\'s pause on the old master ended before it became a replica: writes it took since are not on the new master; a larger --pause-timeout avoids that');
    }
    if (ctx.state.data[PAUSED_ALL] === true && isPausedByFerry(ctx.state)) return retireBehindPause(ctx, source);
    await demoteOldMaster(ctx);
    const killed = Number(await source.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
    await unpauseAll(ctx);
    return { policy: 'replica', disconnectedClients: killed };
  },
};

/** The old master becomes a replica of the new one (read-only, with the new master's credentials). */
export async function demoteOldMaster(ctx: StepContext): Promise<void> {
  const source = await ctx.sourceClient();
  const t = ctx.target;
  if (ctx.facts.source.config?.['replica-read-only'] === 'no') await source.call('CONFIG', 'SET', 'replica-read-only', 'yes');
  if (t.username) await source.call('CONFIG', 'SET', 'masteruser', t.username);
  if (t.password) await source.call('CONFIG', 'SET', 'masterauth', t.password);
  await source.call('REPLICAOF', t.host, String(t.port));
}

/** See the file comment: one pipeline, answered when the pause of every client ends. */
async function retireBehindPause(ctx: StepContext, source: Awaited<ReturnType<StepContext['sourceClient']>>): Promise<Record<string, unknown>> {
  const t = ctx.target;
  const p = source.pipeline();
  if (ctx.facts.source.config?.['replica-read-only'] === 'no') p.call('CONFIG', 'SET', 'replica-read-only', 'yes');
  // NOTE: no masteruser before 6.0 (ACL users came with 6.0): such a source can only send AUTH <password>.
  if (t.username && Number(ctx.facts.source.version.split('.')[0]) >= 6) p.call('CONFIG', 'SET', 'masteruser', t.username);
  else if (t.username) ctx.warn(`the old master (redis ${ctx.facts.source.version}) cannot authenticate to the new one as user ${t.username} (no masteruser before 6.0): it follows it only if that password is the default user's`);
  if (t.password) p.call('CONFIG', 'SET', 'masterauth', t.password);
  p.call('REPLICAOF', t.host, String(t.port));
  p.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  ctx.info('the old master is paused for every client: its retire commands are queued and run when the pause ends');
  const res = (await p.exec()) ?? [];
  const failed = res.find(([err]) => err);
  if (failed) throw new StepError('retire', `the old master refused a retire command: ${(failed[0] as Error).message}`);
  await unpauseAll(ctx);
  return { policy: 'replica', disconnectedClients: Number(res[res.length - 1]?.[1] ?? 0) };
}

async function shutdown(ctx: StepContext): Promise<Record<string, unknown>> {
  // The masters the fence paused (a cluster source: each of them), else the source's masters now.
  const paused = ctx.state.data[PAUSED_NODES] as string[] | undefined;
  const masters = paused ?? (await ctx.sourceMasters()).map((m) => m.addr);
  const what = paused || masters.length > 1 ? `the ${masters.length} masters of the old cluster (${masters.join(', ')})` : `the old master ${ctx.spec.from.host}:${ctx.spec.from.port}`;
  if (!ctx.yes && !(await ctx.confirm(`Shut down ${what}?`))) {
    throw new StepError('retire', 'shutdown not confirmed; the old master is still paused until the pause times out; resume to try again');
  }
  const one = async (client: Awaited<ReturnType<StepContext['sourceClient']>>): Promise<void> => {
    try {
      await client.call('SHUTDOWN');
    } catch (err) {
      // The server closes the connection as it goes: that is the success case.
      if (!/closed|ECONNRESET|EPIPE/i.test((err as Error).message)) throw err;
    }
  };
  await Promise.all(masters.map(async (addr) => one(await ctx.sourceNode(addr))));
  forgetPause(ctx.state);
  return masters.length > 1 || paused ? { policy: 'shutdown', masters } : { policy: 'shutdown' };
}
