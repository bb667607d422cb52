/**
 * fence: the cutover. `CLIENT PAUSE <ms> WRITE` on the old master (always with a timeout, so a
 * crashed ferry cannot leave it paused), then wait until the target has applied the source's
 * final offset. While paused the master takes no writes and expires nothing; it may still send
 * its replicas a PING (Redis 7.0 does, every repl-ping-replica-period), which moves its offset by
 * 14 bytes, so the master's offset is read again on every round until the target has it too.
 * If they do not meet in time the master is unpaused and the step fails (resumable). On success
 * the pause stays until retire makes the old master a replica (or releases it).
 *
 * Before Redis 6.2 there is no `CLIENT PAUSE … WRITE` and no `CLIENT UNPAUSE`: `CLIENT PAUSE ms`
 * stops every client that is not a replica, reads included, ferry's own too, until the time is up
 * (networking.c at 5.0.14: processInputBuffer returns while clientsArePaused() unless the client
 * is a replica; pauseClients() can only lengthen a pause). While paused, 5.0 expires and evicts
 * nothing (expire.c activeExpireCycle and evict.c freeMemoryIfNeeded return at once), but still
 * PINGs its replicas (replication.c replicationCron). So on such a source the fence sends, as one
 * transaction, so nothing runs in between:
 *
 *   MULTI  CLIENT PAUSE <ms>  CLIENT KILL TYPE normal SKIPME yes  INFO replication  EXEC
 *
 * The offset INFO gives is final (PINGs only after it), and the engine's link and a native
 * replica are replicas, so they keep receiving: the fence waits for that offset without asking
 * the source again. The KILL drops the application's connections (their unanswered commands are
 * never executed, so never acknowledged): when the pause ends, 5.0 re-runs the paused clients in
 * the order they connected (clientsArePaused queues server.clients in list order), so ferry's
 * connection, which sent retire's REPLICAOF during the pause, is served before any client that
 * connected since, whose writes then fail with READONLY.
 * NOTE: what is left is a client whose data arrives in the very event-loop iteration in which the
 * pause is found over (processInputBuffer checks it too, and then runs that client first).
 */
import type { Redis } from 'ioredis';
import { hasWritePause } from '../core/compat.js';
import { StepError } from '../core/errors.js';
import type { RunState } from '../core/state.js';
import { isClusterSource, plannedSourceMasters } from '../core/source-nodes.js';
import { waitConverged } from './converge.js';
import { cmd, sleep, type Step, type StepContext } from './step.js';

/** state.data key: when ferry sent CLIENT PAUSE (epoch ms) and until when it lasts. */
export const PAUSED_AT = 'fence.pausedAt';
export const PAUSED_UNTIL = 'fence.pausedUntil';
/** state.data key: the pause holds every client (a source before 6.2, no CLIENT UNPAUSE). */
export const PAUSED_ALL = 'fence.pausedAll';
/** state.data key: the addresses ferry paused when they are a cluster source's masters (absent: the old master). */
export const PAUSED_NODES = 'fence.pausedNodes';

export const fence: Step = {
  id: 'fence',
  title: 'Pause writes on the old master and wait for the last offset',
  describe(pc) {
    if (!hasWritePause(pc.facts.source)) {
      return [
        cmd('source', ['MULTI'], 'once the target has caught up (as in converge); one transaction, nothing runs in between'),
        cmd('source', ['CLIENT', 'PAUSE', pc.spec.pauseTimeoutMs], `no CLIENT PAUSE … WRITE before Redis 6.2: every client waits, READS TOO, for the whole ${pc.spec.pauseTimeoutMs} ms (--pause-timeout; no CLIENT UNPAUSE before 6.2)`),
        cmd('source', ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'], 'the remaining clients reconnect: after the pause, ferry\'s retire commands run before theirs'),
        cmd('source', ['INFO', 'replication'], 'master_repl_offset: the final offset'),
        cmd('source', ['EXEC']),
        ...pc.driver.describe('fence', pc),
      ];
    }
    const masters = plannedSourceMasters(pc.spec.from, pc.facts);
    const every = masters.length > 1 || isClusterSource(pc.facts) ? ' (on every source master, then every link\'s offset against its own master)' : '';
    return [
      ...masters.map((m) => cmd(m.on, ['CLIENT', 'PAUSE', pc.spec.pauseTimeoutMs, 'WRITE'], `once the target has caught up (as in converge); writes on the old master wait; the pause ends by itself after the timeout${every}`)),
      ...masters.map((m) => cmd(m.on, ['INFO', 'replication'], 'master_repl_offset: the final offset')),
      ...pc.driver.describe('fence', pc),
      ...masters.map((m) => cmd(m.on, ['CLIENT', 'UNPAUSE'], 'only if the offsets do not meet in time (then the step fails), or ferry is interrupted')),
    ];
  },
  async check() {
    return false; // a pause is temporary: an interrupted fence is done again
  },
  async run(ctx, progress) {
    // Never pause the old master while the target is far behind (after a resync on resume, say).
    await waitConverged(ctx, progress, 'fence');
    const source = await ctx.sourceClient();
    const ms = ctx.spec.pauseTimeoutMs;
    // NOTE: leave a margin before the server lifts the pause on its own, so we never report a
    // fence whose pause had already ended.
    const waitMs = Math.max(50, Math.min(ms - 200, ms * 0.9));
    const all = !hasWritePause(ctx.facts.source);
    // The source cannot be asked during a pause of every client: check the writes before it.
    if (all) await ctx.driver.assertWritesIntact?.(ctx);
    const pausedAt = Date.now();
    ctx.state.data[PAUSED_AT] = pausedAt;
    ctx.state.data[PAUSED_UNTIL] = pausedAt + ms;
    if (all) ctx.state.data[PAUSED_ALL] = true;
    else delete ctx.state.data[PAUSED_ALL];
    await ctx.save();
    try {
      const known = all ? { masterOffset: await pauseEveryClient(source, ms) } : {};
      const paused = all ? [] : await pauseWrites(ctx, ms);
      ctx.info(all ? `old master paused for every client, reads too (no CLIENT PAUSE WRITE before Redis 6.2), for ${ms} ms; final offset ${known.masterOffset}` : `old master${paused.length > 1 ? `s (${paused.length}: ${paused.join(', ')})` : ''} paused for writes (at most ${ms} ms)`);
      await testHold(ctx.signal);
      for (;;) {
        const o = await ctx.driver.offsets(ctx, known);
        if (o.replicaOffset >= o.masterOffset && o.linkUp) {
          if (!all) await ctx.driver.assertWritesIntact?.(ctx);
          ctx.state.cutover.finalOffset = o.masterOffset;
          const perMaster = o.links && o.links.length > 1 ? Object.fromEntries(o.links.map((l) => [l.master, l.masterOffset])) : undefined;
          if (perMaster) ctx.state.cutover.finalOffsets = perMaster;
          return { finalOffset: o.masterOffset, ...(perMaster ? { finalOffsets: perMaster } : {}), fenceMs: Date.now() - pausedAt };
        }
        if (Date.now() - pausedAt > waitMs) {
          const received = o.receivedOffset !== undefined ? `, engine received ${o.receivedOffset}` : '';
          const behind = (o.links ?? []).filter((l) => l.replicaOffset < l.masterOffset || !l.linkUp).map((l) => `${l.master}: ${l.replicaOffset} of ${l.masterOffset}${l.linkUp ? '' : ', link down'}`);
          const which = o.links && o.links.length > 1 ? ` (behind: ${behind.join('; ')})` : '';
          throw new StepError('fence', `the target did not reach the source's offset ${o.masterOffset} (at ${o.replicaOffset}${received}, link ${o.linkUp ? 'up' : 'down'})${which} within the pause; writes resumed on the old master, nothing lost: resume, or raise --pause-timeout`);
        }
        await sleep(2, ctx.signal);
      }
    } catch (err) {
      await unpauseAll(ctx);
      throw err;
    }
  },
};

/**
 * `CLIENT PAUSE <ms> WRITE` on every source master (one for a single source), recorded in the
 * state first (PAUSED_NODES) so that every way out lifts it on each of them. Returns their addresses.
 */
export async function pauseWrites(ctx: StepContext, ms: number, step: 'fence' | 'verify' = 'fence'): Promise<string[]> {
  const masters = await ctx.sourceMasters();
  if (masters.length > 1 || isClusterSource(ctx.facts)) ctx.state.data[PAUSED_NODES] = masters.map((m) => m.addr);
  else delete ctx.state.data[PAUSED_NODES];
  await ctx.save();
  const res = await Promise.allSettled(masters.map((m) => m.client.call('CLIENT', 'PAUSE', String(ms), 'WRITE')));
  const failed = res.findIndex((r) => r.status === 'rejected');
  if (failed >= 0) throw new StepError(step, `the source master ${masters[failed].addr} refused CLIENT PAUSE: ${((res[failed] as PromiseRejectedResult).reason as Error).message}`);
  return masters.map((m) => m.addr);
}

/**
 * Test-only: FERRY_TEST_FENCE_HOLD_MS keeps the fence waiting that long after the pause, so a
 * test can interrupt ferry while the old master is paused. Never set it in production.
 */
async function testHold(signal: AbortSignal): Promise<void> {
  const ms = Number(process.env.FERRY_TEST_FENCE_HOLD_MS ?? 0);
  if (ms > 0) await sleep(ms, signal);
}

/** The fence's transaction on a source before 6.2 (see the file comment); returns the final offset. */
async function pauseEveryClient(source: Redis, ms: number): Promise<number> {
  const res = (await source.multi().call('CLIENT', 'PAUSE', String(ms)).call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes').info('replication').exec()) ?? [];
  const failed = res.find(([err]) => err);
  if (failed) throw new StepError('fence', `the old master refused the pause: ${(failed[0] as Error).message}`);
  const offset = /master_repl_offset:(\d+)/.exec(String(res[2]?.[1] ?? ''));
  if (!offset) throw new StepError('fence', 'the old master reported no master_repl_offset in the pause transaction');
  return Number(offset[1]);
}

/** True while a CLIENT PAUSE sent by ferry may still be in effect on the old master. */
export function isPausedByFerry(state: RunState): boolean {
  return typeof state.data[PAUSED_AT] === 'number' && Date.now() < Number(state.data[PAUSED_UNTIL] ?? 0);
}

/** Forgets ferry's pause (the server that had it is gone). */
export function forgetPause(state: RunState): void {
  delete state.data[PAUSED_AT];
  delete state.data[PAUSED_UNTIL];
  delete state.data[PAUSED_ALL];
  delete state.data[PAUSED_NODES];
}

/**
 * Lifts ferry's pause (best effort) on every node it paused (PAUSED_NODES: each master of a cluster
 * source; absent: the old master) and records how long it lasted.
 */
export async function unpauseAll(ctx: Pick<StepContext, 'state' | 'sourceClient' | 'sourceNode'>, opts: { record?: boolean } = {}): Promise<void> {
  const state = ctx.state;
  const at = state.data[PAUSED_AT];
  if (typeof at !== 'number') return;
  if (state.data[PAUSED_ALL] === true) {
    // No CLIENT UNPAUSE before 6.2 (and it would wait behind the pause): it lasts its whole time.
    state.cutover.pauseMs = Number(state.data[PAUSED_UNTIL] ?? Date.now()) - at;
    forgetPause(state);
    return;
  }
  const nodes = state.data[PAUSED_NODES] as string[] | undefined;
  const lift = async (client: () => Promise<Redis>): Promise<void> => {
    try {
      await (await client()).call('CLIENT', 'UNPAUSE');
    } catch {
      /* the pause times out by itself */
    }
  };
  if (nodes) await Promise.all(nodes.map((addr) => lift(() => ctx.sourceNode(addr))));
  else await lift(() => ctx.sourceClient());
  if (opts.record !== false) state.cutover.pauseMs = Math.min(Date.now(), Number(state.data[PAUSED_UNTIL] ?? Infinity)) - at;
  forgetPause(state);
}
