/**
 * verify: the cutover gate. After converge and before any client moves, while replication is live,
 * `ferry verify`'s comparison (src/verify/) runs between the old master and the new instance with
 * the run's filter and db mapping: `--verify sample` (default) draws --verify-sample keys per db,
 * `full` checks every key, `off` skips it.
 *
 * Keys written while they are read differ for a moment: the rounds recheck them, each recheck
 * waiting until the target has applied the source's offset (the driver's offsets), so only
 * differences that persist count. A key still being written in every round (a hot counter) is
 * compared once more with writes paused on the source for at most 1 s (`CLIENT PAUSE 1000 WRITE`,
 * redis >= 6.2; lifted right after), when the target has caught up: at rest both sides must match.
 *
 * Persistent differences stop the run here (exit 5): no client has moved, the source was not
 * changed and is not paused, the state is saved; after a fix `ferry resume` runs the gate again.
 */
import { ExitCode, FerryError } from '../core/errors.js';
import { plannedSourceMasters } from '../core/source-nodes.js';
import type { VerifyReport } from '../verify/report.js';
import { refId } from '../verify/rounds.js';
import type { PersistingKeys, VerifyOptions } from '../verify/verifier.js';
import { waitConverged } from './converge.js';
import { PAUSED_AT, PAUSED_UNTIL, pauseWrites, unpauseAll } from './fence.js';
import { cmd, sleep, type PlanContext, type PlannedCommand, type Step, type StepContext } from './step.js';

/** How long the gate may pause writes to compare keys still being written (ms). */
export const GATE_PAUSE_MS = 1000;
/** At most this many changing keys are compared with writes paused. */
const MAX_PAUSED_KEYS = 1000;

export const verify: Step = {
  id: 'verify',
  title: 'Verify the new instance before any client moves',
  describe(pc) {
    const mode = pc.spec.verify ?? 'off';
    if (mode === 'off') return [cmd('local', ['(skipped)'], '--verify off: no comparison before the cutover')];
    return [
      ...compareCommands(pc, mode),
      ...plannedSourceMasters(pc.spec.from, pc.facts).map((m) => cmd(m.on, ['CLIENT', 'PAUSE', GATE_PAUSE_MS, 'WRITE'], `only if keys still change in every round: compare up to ${MAX_PAUSED_KEYS} of them at rest, then CLIENT UNPAUSE at once (redis >= 6.2)`)),
    ];
  },
  async check() {
    return false; // a comparison is of the moment: on resume it runs again
  },
  async run(ctx, progress) {
    const mode = ctx.spec.verify ?? 'off';
    if (mode === 'off') return { mode: 'off' };
    // After a resume the engine may be catching up again: compare a caught-up target.
    await waitConverged(ctx, progress, 'verify');
    const report = await compareSides(ctx, mode, {
      settle: () => settleByOffsets(ctx),
      progress: (p) => progress({ ...p, phase: p.phase === 'recheck' ? 'recheck' : 'verify' }),
      afterRounds: (keys) => pausedCheck(ctx, keys),
    });
    const summary = summarize(report);
    if (!report.agree) {
      const { verdict } = await import('../verify/report.js');
      for (const k of report.keys.slice(0, 10)) ctx.warn(`verify: db${k.db} ${typeof k.key === 'string' ? JSON.stringify(k.key) : `base64:${k.key.base64}`} ${k.class}: ${k.detail}`);
      ctx.state.steps.verify.detail = summary;
      throw new FerryError(
        `the cutover gate (--verify ${mode}) found ${verdict(report)}; no client was moved and the source is unchanged and not paused: fix the target, then ferry resume --state ${ctx.statePath} (the differing keys are in the warnings above and in the state file)`,
        ExitCode.verifyDiff,
      );
    }
    return summary;
  },
};

/** The comparison commands for the plan (shared with final-check). */
export function compareCommands(pc: PlanContext, mode: 'sample' | 'full'): PlannedCommand[] {
  const n = pc.spec.verifySample ?? 10_000;
  const read = 'PTTL, MEMORY USAGE, DUMP per key (big keys: HSCAN/SSCAN/ZSCAN/LRANGE/XRANGE windows)';
  const first =
    mode === 'full'
      ? [cmd('source', ['SCAN', 0, 'COUNT', 1000], `every key; then on both: ${read}`), cmd('target', ['SCAN', 0, 'COUNT', 1000], 'every key; EXISTS on the source: keys the source lacks')]
      : [
          cmd('source', ['RANDOMKEY'], `${Math.ceil(n / 2)} draws per db (a db with at most ${n} keys is checked whole); then on both: ${read}`),
          cmd('target', ['RANDOMKEY'], `${Math.floor(n / 2)} draws per db, compared the same way`),
        ];
  return [...first, cmd('local', ['recheck'], 'keys that differ: again after 1 s, up to 3 times, once the target has applied the source\'s offset; persistent differences stop the run (exit 5)')];
}

/** Runs the comparison between the run's source and target, with its filter and mapping. */
export async function compareSides(ctx: StepContext, mode: 'sample' | 'full', more: Partial<VerifyOptions>): Promise<VerifyReport> {
  const { runVerify } = await import('../verify/verifier.js');
  const s = ctx.spec;
  return runVerify({
    from: s.from,
    to: ctx.target,
    tls: s.tls,
    sample: mode === 'sample' ? (s.verifySample ?? 10_000) : undefined,
    filter: { include: s.include, exclude: s.exclude, dbMap: s.dbMap },
    // The run copies field TTLs only without --drop-field-ttl: with it, their absence is the intent.
    ignoreFieldTtls: !!s.dropFieldTtl,
    signal: ctx.signal,
    ...more,
  });
}

/** What the state keeps of a report (bounded: at most 20 keys named). */
export function summarize(r: VerifyReport): Record<string, unknown> {
  return {
    mode: r.mode,
    agree: r.agree,
    checked: r.checked,
    differences: r.differences,
    totalDifferences: r.totalDifferences,
    keys: r.keys.slice(0, 20),
    rounds: { rechecks: r.rounds.rechecks, differing: r.rounds.differing, settled: r.rounds.settled },
    keysPerSecond: Math.round(r.keysPerSecond),
    ms: r.ms,
    ...(r.dbs.some((d) => d.sample) ? { sample: r.dbs.filter((d) => d.sample).map((d) => ({ db: d.db, statement: d.sample!.statement, draws: d.sample!.draws, bound: d.sample!.bound })) } : {}),
    ...(r.pausedCheck ? { pausedCheck: r.pausedCheck } : {}),
  };
}

/** Waits (at most 2 s) until the target has applied the source's offset as it is now. */
async function settleByOffsets(ctx: StepContext): Promise<void> {
  const first = await ctx.driver.offsets(ctx);
  const want = first.masterOffset;
  const deadline = Date.now() + 2000;
  let o = first;
  while (o.replicaOffset < want && Date.now() < deadline) {
    await sleep(5, ctx.signal);
    o = await ctx.driver.offsets(ctx);
  }
}

/**
 * Keys that still changed between the last two reads: compare them with writes paused (see the
 * file comment). Returns what the report says about it.
 */
async function pausedCheck(ctx: StepContext, keys: PersistingKeys): Promise<VerifyReport['pausedCheck']> {
  if (keys.changing.length === 0) return undefined;
  const [maj, min] = ctx.facts.source.version.split('.').map(Number);
  if (maj < 6 || (maj === 6 && min < 2)) return { skipped: `${keys.changing.length} keys were still being written; redis ${ctx.facts.source.version} has no CLIENT PAUSE … WRITE to compare them at rest` };
  if (keys.changing.length > MAX_PAUSED_KEYS) return { skipped: `${keys.changing.length} keys were still being written, more than the ${MAX_PAUSED_KEYS} ferry compares with writes paused` };
  const at = Date.now();
  ctx.state.data[PAUSED_AT] = at;
  ctx.state.data[PAUSED_UNTIL] = at + GATE_PAUSE_MS;
  let still;
  try {
    // Every source master (a cluster source: each of them, see fence.ts).
    await pauseWrites(ctx, GATE_PAUSE_MS, 'verify');
    await settleByOffsets(ctx);
    still = await keys.recheck(keys.changing);
  } finally {
    await unpauseAll(ctx, { record: false });
    await ctx.save();
  }
  const pauseMs = Date.now() - at;
  const differing = new Set(still.map((f) => refId(f.ref)));
  keys.settled(keys.changing.filter((r) => !differing.has(refId(r))));
  return { keys: keys.changing.length, stillDiffering: still.length, pauseMs };
}
