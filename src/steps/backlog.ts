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
import { info } from '../core/connect.js';
import { hostPort } from '../core/endpoint.js';
import { isClusterSource, plannedSourceMasters } from '../core/source-nodes.js';
import { cmd, type Step, type StepContext } from './step.js';

/** state.data key: the BacklogRecord (value found, value set) while ferry's change is in place. */
export const BACKLOG_RECORD = 'backlog.record';
/**
 * state.data key: a cluster source's other masters (not the `--from` node): host:port → their
 * BacklogRecord. Each master is sized by the same rule, with its own repl-backlog-size and memory
 * (INFO memory, read when the step runs) and the write rate preflight measured on `--from`.
 */
export const BACKLOG_OTHERS = 'backlog.others';

export const backlog: Step = {
  id: 'backlog',
  title: "Size the old master's replication backlog",
  describe(pc) {
    if (pc.spec.backlog.kind === 'keep') return [];
    const d = decideBacklog(pc.spec.backlog, backlogInputs(pc.facts));
    // NOTE: a source without replicas has no replication stream yet; preflight then measured the
    // bytes clients sent (core/facts.ts sampleWriteRate), and the plan says so.
    const how = pc.facts.writeRateMethod === 'client-input' && d.writeRate > 0 ? '; the rate is the bytes clients sent (no replica yet, so no replication stream to measure)' : '';
    const others = plannedSourceMasters(pc.spec.from, pc.facts).filter((m) => m.addr !== hostPort(pc.spec.from) && isClusterSource(pc.facts));
    const more = others.map((m) => cmd(m.on, ['CONFIG', 'SET', 'repl-backlog-size', '<by the same rule>'], `another master of the source cluster: sized as above with its own repl-backlog-size and memory (read at run time) and the write rate measured on ${hostPort(pc.spec.from)}; put back as above`));
    const on = isClusterSource(pc.facts) ? `source ${hostPort(pc.spec.from)}` : 'source';
    if (d.set === null || d.current === null) return [cmd(on, ['CONFIG', 'GET', 'repl-backlog-size'], d.why + how), ...more];
    return [
      cmd(on, ['CONFIG', 'SET', 'repl-backlog-size', d.set], d.why + how),
      cmd(on, ['CONFIG', 'SET', 'repl-backlog-size', d.current], 'puts the old value back when the migration ends (after retire), on rollback, and when the run fails or is interrupted; a value changed by someone else meanwhile is left alone'),
      ...more,
    ];
  },
  async check() {
    return false; // run() reads the live value and is idempotent
  },
  async run(ctx) {
    if (ctx.spec.backlog.kind === 'keep') return { policy: 'keep' };
    const detail = await sizeFromNode(ctx);
    if (!isClusterSource(ctx.facts)) return detail;
    return { ...detail, otherMasters: await sizeOtherMasters(ctx) };
  },
  async undo(ctx) {
    await restoreBacklog(ctx, 'rollback');
  },
};

/** The `--from` node's backlog (a single source: the old master). */
async function sizeFromNode(ctx: StepContext): Promise<Record<string, unknown>> {
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
}

/** Every other master of a cluster source, by the same rule (see BACKLOG_OTHERS). */
async function sizeOtherMasters(ctx: StepContext): Promise<Record<string, unknown>> {
  const policy = ctx.spec.backlog;
  const records = (ctx.state.data[BACKLOG_OTHERS] ?? {}) as Record<string, BacklogRecord>;
  const out: Record<string, unknown> = {};
  for (const m of await ctx.sourceMasters()) {
    if (m.addr === hostPort(ctx.spec.from)) continue;
    const current = await readBacklogSize(m.client);
    const mem = await info(m.client, 'memory');
    const d = decideBacklog(policy, { writeRate: ctx.facts.writeRateBytesPerSec, current, usedMemory: Number(mem.used_memory ?? 0), maxmemory: Number(mem.maxmemory ?? 0), totalSystemMemory: Number(mem.total_system_memory ?? 0) });
    if (d.set === null || current === null) {
      out[m.addr] = { current, set: null };
      continue;
    }
    records[m.addr] = { original: records[m.addr]?.original ?? current, set: d.set };
    ctx.state.data[BACKLOG_OTHERS] = records;
    await ctx.save();
    try {
      await setBacklogSize(m.client, d.set);
      out[m.addr] = { current, set: d.set };
    } catch (err) {
      delete records[m.addr];
      await ctx.save();
      const why = (err as Error).message.split('\n')[0];
      if (policy.kind === 'auto') {
        ctx.warn(`the source master ${m.addr} refused CONFIG SET repl-backlog-size ${d.set} (${why}): going on with ${fmtSize(current)}`);
        out[m.addr] = { current, set: null, refused: why };
        continue;
      }
      throw new StepError('backlog', `the source master ${m.addr} refused CONFIG SET repl-backlog-size ${d.set} (${why}); allow it, or run again with --backlog keep`);
    }
    ctx.info(`repl-backlog-size on the source master ${m.addr} raised from ${fmtSize(current)} to ${fmtSize(d.set)}`);
  }
  return out;
}

/**
 * Puts the recorded repl-backlog-size back (see the module comment). `end`: the migration is
 * complete; `abort`/`rollback`: the step counts as not done afterwards, so a resume raises it
 * again. Never throws: a source that cannot be reached keeps the record (resume or rollback
 * retries) and gets a warning naming the command to run.
 */
export async function restoreBacklog(ctx: StepContext, when: 'end' | 'abort' | 'rollback'): Promise<void> {
  await restoreOtherMasters(ctx, when);
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

/** restoreBacklog for a cluster source's other masters (BACKLOG_OTHERS); a record whose master cannot be reached stays. */
async function restoreOtherMasters(ctx: StepContext, when: 'end' | 'abort' | 'rollback'): Promise<void> {
  const records = ctx.state.data[BACKLOG_OTHERS] as Record<string, BacklogRecord> | undefined;
  if (!records) return;
  const shutdown = ctx.spec.retire === 'shutdown' && ctx.state.steps.retire.status === 'done';
  for (const [addr, rec] of Object.entries(records)) {
    if (!shutdown) {
      try {
        const outcome = await restoreBacklogSize(await ctx.sourceNode(addr), rec);
        const message = restoreMessage(rec, outcome, `the source master ${addr}`);
        if (outcome.kind === 'changed-since') ctx.warn(message);
        else ctx.info(message);
      } catch (err) {
        ctx.warn(`could not put repl-backlog-size back to ${fmtSize(rec.original)} (${rec.original}) on the source master ${addr}: ${(err as Error).message.split('\n')[0]}; ${when === 'end' ? `run CONFIG SET repl-backlog-size ${rec.original} on it` : 'ferry resume or ferry rollback will try again'}`);
        continue;
      }
    }
    delete records[addr];
  }
  if (Object.keys(records).length === 0) delete ctx.state.data[BACKLOG_OTHERS];
  // As for the --from node: after an abort or a rollback the step counts as not done (resume raises them again).
  if (when !== 'end') Object.assign(ctx.state.steps.backlog, { status: 'pending', skipped: undefined, error: undefined });
  await ctx.save();
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
