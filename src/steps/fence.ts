/**
 * fence: the cutover. `CLIENT PAUSE <ms> WRITE` on the old master (always with a timeout, so a
 * crashed ferry cannot leave it paused), then wait until the target has applied the source's
 * final offset. While paused the master takes no writes and expires nothing; it may still send
 * its replicas a PING (Redis 7.0 does, every repl-ping-replica-period), which moves its offset by
 * 14 bytes, so the master's offset is read again on every round until the target has it too.
 * If they do not meet in time the master is unpaused and the step fails (resumable). On success
 * the pause stays until retire makes the old master a replica (or releases it).
 */
import type { Redis } from 'ioredis';
import { StepError } from '../core/errors.js';
import type { RunState } from '../core/state.js';
import { waitConverged } from './converge.js';
import { cmd, sleep, type Step } from './step.js';

/** state.data key: when ferry sent CLIENT PAUSE (epoch ms) and until when it lasts. */
export const PAUSED_AT = 'fence.pausedAt';
export const PAUSED_UNTIL = 'fence.pausedUntil';

export const fence: Step = {
  id: 'fence',
  title: 'Pause writes on the old master and wait for the last offset',
  describe(pc) {
    return [
      cmd('source', ['CLIENT', 'PAUSE', pc.spec.pauseTimeoutMs, 'WRITE'], 'once the target has caught up (as in converge); writes on the old master wait; the pause ends by itself after the timeout'),
      cmd('source', ['INFO', 'replication'], 'master_repl_offset: the final offset'),
      ...pc.driver.describe('fence', pc),
      cmd('source', ['CLIENT', 'UNPAUSE'], 'only if the offsets do not meet in time (then the step fails)'),
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
    const pausedAt = Date.now();
    ctx.state.data[PAUSED_AT] = pausedAt;
    ctx.state.data[PAUSED_UNTIL] = pausedAt + ms;
    await ctx.save();
    await source.call('CLIENT', 'PAUSE', String(ms), 'WRITE');
    try {
      ctx.info(`old master paused for writes (at most ${ms} ms)`);
      await testHold(ctx.signal);
      for (;;) {
        const o = await ctx.driver.offsets(ctx);
        if (o.replicaOffset >= o.masterOffset && o.linkUp) {
          await ctx.driver.assertWritesIntact?.(ctx);
          ctx.state.cutover.finalOffset = o.masterOffset;
          return { finalOffset: o.masterOffset, fenceMs: Date.now() - pausedAt };
        }
        if (Date.now() - pausedAt > waitMs) {
          const received = o.receivedOffset !== undefined ? `, engine received ${o.receivedOffset}` : '';
          throw new StepError('fence', `the target did not reach the source's offset ${o.masterOffset} (at ${o.replicaOffset}${received}, link ${o.linkUp ? 'up' : 'down'}) within the pause; writes resumed on the old master, nothing lost: resume, or raise --pause-timeout`);
        }
        await sleep(2, ctx.signal);
      }
    } catch (err) {
      await unpause(source, ctx.state);
      throw err;
    }
  },
};

/**
 * Test-only: FERRY_TEST_FENCE_HOLD_MS keeps the fence waiting that long after the pause, so a
 * test can interrupt ferry while the old master is paused. Never set it in production.
 */
async function testHold(signal: AbortSignal): Promise<void> {
  const ms = Number(process.env.FERRY_TEST_FENCE_HOLD_MS ?? 0);
  if (ms > 0) await sleep(ms, signal);
}

/** True while a CLIENT PAUSE sent by ferry may still be in effect on the old master. */
export function isPausedByFerry(state: RunState): boolean {
  return typeof state.data[PAUSED_AT] === 'number' && Date.now() < Number(state.data[PAUSED_UNTIL] ?? 0);
}

/** Forgets ferry's pause (the server that had it is gone). */
export function forgetPause(state: RunState): void {
  delete state.data[PAUSED_AT];
  delete state.data[PAUSED_UNTIL];
}

/** Lifts ferry's pause on the old master (best effort) and records how long it lasted. */
export async function unpause(source: Redis, state: RunState): Promise<void> {
  const at = state.data[PAUSED_AT];
  if (typeof at !== 'number') return;
  try {
    await source.call('CLIENT', 'UNPAUSE');
  } catch {
    /* the pause times out by itself */
  }
  state.cutover.pauseMs = Math.min(Date.now(), Number(state.data[PAUSED_UNTIL] ?? Infinity)) - at;
  forgetPause(state);
}
