/**
 * converge: waits until the initial sync is over and the target is within the lag threshold of the
 * source's offset, reporting bytes/offsets as progress. Read-only.
 */
import { StepError } from '../core/errors.js';
import { sleep, type Progress, type Step, type StepContext, type StepId } from './step.js';

/** No progress at all for this long (link down, offsets frozen) fails the step. */
const STALL_MS = 120_000;
/**
 * Full syncs the source may serve while converge waits before the step fails as a sync loop: the
 * first one, and one retry. A third means the sync restarts by itself (an older replica that
 * cannot load the RDB, an output buffer or backlog too small for the write rate) and would again.
 */
export const MAX_FULL_SYNCS = 2;

export const converge: Step = {
  id: 'converge',
  title: 'Wait until the new instance has caught up',
  describe(pc) {
    return pc.driver.describe('converge', pc);
  },
  async check(ctx) {
    const o = await ctx.driver.offsets(ctx);
    return o.linkUp && !o.syncing && o.masterOffset - o.replicaOffset <= ctx.spec.convergeMaxLagBytes;
  },
  async run(ctx, progress) {
    return waitConverged(ctx, progress, 'converge');
  },
};

/**
 * Polls the driver's offsets until the target has caught up (see the NOTE), reporting progress;
 * fails `stepId` when nothing moves for STALL_MS. The fence calls it too, before pausing, so the
 * old master is never paused while the target is far behind (e.g. after a resync on resume).
 */
export async function waitConverged(ctx: StepContext, progress: Progress, stepId: StepId): Promise<{ offset: number; lagBytes: number }> {
  let lastMark = '';
  let lastChange = Date.now();
  let prevMaster: number | undefined;
  let prevLinks = new Map<string, number>();
  const loop = await syncLoopGuard(ctx, stepId);
  for (;;) {
    await loop.check();
    const o = await ctx.driver.offsets(ctx);
    const lag = Math.max(0, o.masterOffset - o.replicaOffset);
    if (o.syncing) {
      // NOTE: no "catch up" (lag) while the initial sync runs: the offsets mean nothing yet.
      if (o.syncBytes) progress({ phase: 'initial sync', done: o.syncBytes.done, total: o.syncBytes.total > 0 ? o.syncBytes.total : undefined, unit: 'bytes' });
      if (o.keysApplied !== undefined) progress({ phase: 'keys', done: o.keysApplied, total: sourceKeys(ctx), unit: 'keys' });
    } else {
      progress({ phase: 'catch up', done: o.replicaOffset, total: o.masterOffset, unit: 'offset', detail: { lagBytes: lag, linkUp: o.linkUp } });
    }
    // NOTE: under a heavy write load the two offsets are never read at the same instant; a
    // target that has passed where the master was one poll ago has caught up. Exact equality is
    // the fence's job, with writes paused.
    // Several links (a cluster source): each one against its own master, so that one link ahead
    // cannot make up for another behind.
    const caughtUp = o.links
      ? o.links.every((l) => l.masterOffset - l.replicaOffset <= ctx.spec.convergeMaxLagBytes || (prevLinks.has(l.master) && l.replicaOffset >= prevLinks.get(l.master)!))
      : lag <= ctx.spec.convergeMaxLagBytes || (prevMaster !== undefined && o.replicaOffset >= prevMaster);
    if (o.linkUp && !o.syncing && caughtUp) return { offset: o.replicaOffset, lagBytes: lag };
    prevMaster = o.masterOffset;
    prevLinks = new Map((o.links ?? []).map((l) => [l.master, l.masterOffset]));
    const mark = `${o.replicaOffset}/${o.syncBytes?.done ?? ''}/${o.linkUp}`;
    if (mark !== lastMark) {
      lastMark = mark;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > STALL_MS) {
      throw new StepError(stepId, `the target made no progress for ${STALL_MS / 1000} s (link ${o.linkUp ? 'up' : 'down'}); check the target's log, then resume`);
    }
    await sleep(100, ctx.signal);
  }
}

/**
 * Watches the source's `sync_full` counter (INFO stats: full syncs served) about once a second and
 * fails `stepId` when more than MAX_FULL_SYNCS started since the wait began: a looping sync never
 * stalls (its bytes keep moving), so without this converge would wait for ever.
 */
async function syncLoopGuard(ctx: StepContext, stepId: StepId): Promise<{ check(): Promise<void> }> {
  const source = await ctx.sourceClient();
  const read = async (): Promise<number> => Number(/^sync_full:(\d+)/m.exec(await source.info('stats'))?.[1] ?? 0);
  // NOTE: the first full sync may or may not have started when this reads (so the limit allows
  // one more), and another replica's full sync at the same time would count too: both are rare.
  const atStart = await read().catch(() => 0);
  let last = 0;
  return {
    async check() {
      if (Date.now() - last < 1000) return;
      last = Date.now();
      const n = (await read().catch(() => atStart)) - atStart;
      if (n > MAX_FULL_SYNCS) {
        throw new StepError(stepId, `the full sync restarted by itself (the source served ${n} full syncs while ferry waited): it would loop for ever; the target's log says why (an older server cannot load a newer RDB: use --sync engine; a replica output buffer or backlog too small for the write rate: raise client-output-buffer-limit replica or --backlog)`);
      }
    },
  };
}

/** The source's key count from preflight, as the total of "keys applied" (none when filtered). */
function sourceKeys(ctx: StepContext): number | undefined {
  if (ctx.spec.include?.length || ctx.spec.exclude?.length) return undefined;
  return ctx.facts.source.keys || undefined;
}
