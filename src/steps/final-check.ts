/**
 * final-check: after promote, a last comparison of the old master (still paused by the fence, so
 * frozen at the final offset) with the new one, for the cutover report. It draws --verify-sample
 * keys per db (also after `--verify full`: the old master stays paused while it runs, so it must be
 * short): it reads for at most 1 s, and stops early when the pause has less than 2 s left.
 *
 * It informs and never fails the run: clients have written to the new master since the repoint,
 * so the keys they wrote differ from the frozen old master by design (mostly "extra" and "value"
 * on keys the application touched). Keys "missing" on the new master that no client deleted are
 * the thing to look at. With --repoint none nothing moved, and any difference is real.
 */
import { isPausedByFerry, PAUSED_UNTIL } from './fence.js';
import { cmd, type Step } from './step.js';
import { compareCommands, compareSides, summarize } from './verify.js';

/** Time left on the pause that the check does not use. */
const MARGIN_MS = 2000;
/** The check adds at most this much to the old master's pause (only clients still on it wait). */
export const FINAL_CHECK_MS = 1000;

export const finalCheck: Step = {
  id: 'final-check',
  title: 'Compare the frozen old master with the new one (cutover report)',
  describe(pc) {
    if ((pc.spec.verify ?? 'off') === 'off') return [cmd('local', ['(skipped)'], '--verify off')];
    return [
      ...compareCommands(pc, 'sample').slice(0, 2),
      cmd('local', ['report'], 'while the old master is still paused: at most 1 s, and 2 s before the pause ends; differences go into the cutover report and do not fail the run: keys clients wrote on the new master since the repoint differ by design'),
    ];
  },
  async check() {
    return false;
  },
  async run(ctx, progress) {
    if ((ctx.spec.verify ?? 'off') === 'off') return { mode: 'off' };
    const until = Number(ctx.state.data[PAUSED_UNTIL] ?? 0);
    if (!isPausedByFerry(ctx.state) || until - Date.now() < MARGIN_MS + 300) {
      return { mode: 'sample', skipped: 'too little of the pause was left to compare the old master at rest' };
    }
    const report = await compareSides(ctx, 'sample', {
      rounds: 0,
      settle: 'none',
      deadline: Math.min(until - MARGIN_MS, Date.now() + FINAL_CHECK_MS),
      maxKeys: 20,
      progress: (p) => progress({ ...p, phase: 'final check' }),
    });
    const summary = { ...summarize(report), ...(report.partial ? { partial: true } : {}) };
    ctx.state.cutover.finalCheck = summary;
    if (!report.agree) {
      const { verdict } = await import('../verify/report.js');
      ctx.warn(`final check: ${verdict(report)} between the frozen old master and the new one; keys written on the new master since the repoint differ by design (details in the state file)`);
    }
    return summary;
  },
};
