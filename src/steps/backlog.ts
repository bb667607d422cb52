/**
 * backlog: sizes the old master's replication backlog for the migration (`--backlog`; the rule
 * is in core/backlog.ts): `CONFIG SET repl-backlog-size N`, only upwards, before replicate opens
 * the replica link that needs it (engine or native alike). The value found is recorded in the
 * state before the change; `restoreBacklog` puts it back when the run ends (the runner, after
 * retire), on rollback (undo) and when the run fails or is interrupted (the runner's close). A
 * run resumed after that raises it again before replication restarts.
 */
import { type BacklogRecord, backlogInputs, decideBacklog, readBacklogSize, restoreBacklogSize, restoreMessage, setBacklogSize } from '../core/backlog.js';
import { StepError } from '../core/errors.js';
import { fmtSize } from '../core/size.js';
import { cmd, type Step, type StepContext } from './step.js';

/** state.data key: the BacklogRecord (value found, value set) while ferry's change is in place. */
export const BACKLOG_RECORD = 'backlog.record';

export const backlog: Step = {
  id: 'backlog',
  title: "Size the old master's replication backlog",
  describe(pc) {
    if (pc.spec.backlog.kind === 'keep') return [];
    const d = decideBacklog(pc.spec.backlog, backlogInputs(pc.facts));
    // NOTE: a source without replicas has no replication stream yet; preflight then measured the
    // bytes clients sent (core/facts.ts sampleWriteRate), and the plan says so.
    const how = pc.facts.writeRateMethod === 'client-input' && d.writeRate > 0 ? '; the rate is the bytes clients sent (no replica yet, so no replication stream to measure)' : '';
    if (d.set === null || d.current === null) return [cmd('source', ['CONFIG', 'GET', 'repl-backlog-size'], d.why + how)];
    return [
      cmd('source', ['CONFIG', 'SET', 'repl-backlog-size', d.set], d.why + how),
      cmd('source', ['CONFIG', 'SET', 'repl-backlog-size', d.current], 'puts the old value back when the migration ends (after retire), on rollback, and when the run fails or is interrupted; a value changed by someone else meanwhile is left alone'),
    ];
  },
  async check() {
    return false; // run() reads the live value and is idempotent
  },
  async run(ctx) {
    if (ctx.spec.backlog.kind === 'keep') return { policy: 'keep' };
    const source = await ctx.sourceClient();
    const current = await readBacklogSize(source);
    const d = decideBacklog(ctx.spec.backlog, { ...backlogInputs(ctx.facts), current });
    const detail = { policy: d.policy, current: d.current, set: d.set, writeRate: Math.round(d.writeRate), windowSec: d.windowSec, wanted: d.wanted, cap: d.cap?.bytes, coversSec: d.coversSec };
    const prev = ctx.state.data[BACKLOG_RECORD] as BacklogRecord | undefined;
    if (d.set === null || current === null) {
      ctx.info(d.why);
      return detail;
    }
    // Recorded before the change: a crash between the two leaves a record whose restore finds
    // the original still there and does nothing.
    ctx.state.data[BACKLOG_RECORD] = { original: prev?.original ?? current, set: d.set } satisfies BacklogRecord;
    await ctx.save();
    try {
      await setBacklogSize(source, d.set);
    } catch (err) {
      if (!prev) delete ctx.state.data[BACKLOG_RECORD];
      await ctx.save();
      const why = (err as Error).message.split('\n')[0];
      // NOTE: auto is ferry's own precaution: a source that forbids CONFIG SET (an ACL allowing
      // only CONFIG GET, say) gets a warning, not a failed run. A SIZE the operator asked for fails.
      if (ctx.spec.backlog.kind === 'auto') {
        ctx.warn(`the source refused CONFIG SET repl-backlog-size ${d.set} (${why}): going on with ${fmtSize(current)}, so a link drop of more than ${d.writeRate > 0 ? `${(current / d.writeRate).toFixed(2)} s` : 'its worth of writes'} means a full sync`);
        return { ...detail, set: null, refused: why };
      }
      throw new StepError('backlog', `the source refused CONFIG SET repl-backlog-size ${d.set} (${why}); allow it, or run again with --backlog keep to go on with ${fmtSize(current)}`);
    }
    ctx.info(`repl-backlog-size on the source raised from ${fmtSize(current)} to ${fmtSize(d.set)} (${d.why})`);
    return detail;
  },
  async undo(ctx) {
    await restoreBacklog(ctx, 'rollback');
  },
};

/**
 * Puts the recorded repl-backlog-size back (see the module comment). `end`: the migration is
 * complete; `abort`/`rollback`: the step counts as not done afterwards, so a resume raises it
 * again. Never throws: a source that cannot be reached keeps the record (resume or rollback
 * retries) and gets a warning naming the command to run.
 */
export async function restoreBacklog(ctx: StepContext, when: 'end' | 'abort' | 'rollback'): Promise<void> {
  const rec = ctx.state.data[BACKLOG_RECORD] as BacklogRecord | undefined;
  if (!rec) return;
  const forget = async (): Promise<void> => {
    delete ctx.state.data[BACKLOG_RECORD];
    if (when !== 'end') Object.assign(ctx.state.steps.backlog, { status: 'pending', skipped: undefined, error: undefined });
    await ctx.save();
  };
  if (ctx.spec.retire === 'shutdown' && ctx.state.steps.retire.status === 'done') {
    // CONFIG SET lives in the process only (no CONFIG REWRITE): a restart reads the config file.
    ctx.info(`the old master was shut down: its repl-backlog-size ${fmtSize(rec.set)} went with the process (its config file still has the old value)`);
    return forget();
  }
  const where = ctx.spec.retire === 'replica' && ctx.state.steps.retire.status === 'done' ? 'the old master (now a replica of the new one)' : 'the source';
  try {
    const outcome = await restoreBacklogSize(await ctx.sourceClient(), rec);
    const message = restoreMessage(rec, outcome, where);
    if (outcome.kind === 'changed-since') ctx.warn(message);
    else ctx.info(message);
    await forget();
  } catch (err) {
    const next = when === 'end' ? `run CONFIG SET repl-backlog-size ${rec.original} on it` : 'ferry resume or ferry rollback will try again';
    ctx.warn(`could not put repl-backlog-size back to ${fmtSize(rec.original)} (${rec.original}) on ${where}: ${(err as Error).message.split('\n')[0]}; ${next}`);
  }
}

/**
 * A failed run (exit 4) keeps the raised backlog: the migration is not over, `ferry resume` is the
 * way on, and the backlog is what lets the resumed replication continue (+CONTINUE) instead of a
 * full sync, which after the repoint began would have to be refused. Says so; the end of the
 * migration, an interrupt (Ctrl-C) and `ferry rollback` put it back.
 */
export function keepBacklogForResume(ctx: StepContext): void {
  const rec = ctx.state.data[BACKLOG_RECORD] as BacklogRecord | undefined;
  if (!rec) return;
  ctx.info(`repl-backlog-size stays at ${fmtSize(rec.set)} on the source (it was ${fmtSize(rec.original)}) so that ferry resume can continue the replication where it stopped; it is put back when the migration ends, or by ferry rollback`);
}
