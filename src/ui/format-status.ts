/** Human rendering of a state file for `ferry status`. */
import type { RunState } from '../core/state.js';
import { STEP_IDS } from '../steps/step.js';

const MARK = { pending: ' ', running: '…', done: '✓', failed: '✗' } as const;

/** One block of text: run status, each step, target, cutover figures, error and how to resume. */
export function formatStatus(state: RunState, path: string): string {
  const spec = state.spec as { from?: string; to?: { url?: string; host?: string; port?: number }; sync?: string };
  const to = spec.to?.url ?? `start ${spec.to?.host}:${state.target?.port ?? spec.to?.port ?? '?'}`;
  const lines = [`Run ${state.status}: ${spec.from} → ${to} (sync ${spec.sync}), started ${state.createdAt}, updated ${state.updatedAt}`];
  for (const id of STEP_IDS) {
    const r = state.steps[id];
    if (!r) continue; // not a step of this run (the Sentinel steps)
    const extra = r.status === 'done' ? (r.skipped ? ' (already in place)' : r.ms !== undefined ? ` (${r.ms} ms)` : '') : r.error ? `: ${r.error}` : '';
    lines.push(`  [${MARK[r.status]}] ${id}${extra}`);
  }
  const t = state.target;
  if (t) lines.push(`Target: ${t.host}:${t.port}${t.pid ? ` (redis-server pid ${t.pid}, data in ${t.dataDir})` : ''}`);
  if (state.cutover.pauseMs !== undefined || state.cutover.finalOffset !== undefined) {
    lines.push(`Cutover: writes paused ${state.cutover.pauseMs ?? '-'} ms, final offset ${state.cutover.finalOffset ?? '-'}`);
    const per = state.cutover.finalOffsets;
    if (per) lines.push(`  per source master: ${Object.entries(per).map(([m, o]) => `${m} ${o}`).join(', ')}`);
  }
  if (state.status !== 'done' && state.status !== 'rolled-back') {
    lines.push(`Continue with: ferry resume --state ${path}`);
    // The same test as `ferry rollback`'s: before promotion the way back is a rollback.
    if (state.steps.promote.status === 'pending') lines.push(`Or undo with: ferry rollback --state ${path}`);
  }
  return `${lines.join('\n')}\n`;
}
