/**
 * One line each for the cutover gate (step verify) and the final check (step final-check), from
 * the summaries the steps store (src/steps/verify.ts `summarize`): used by the run's done line
 * and the demo's cutover report.
 */
import { formatCount } from './format.js';

interface CheckSummary {
  mode?: string;
  agree?: boolean;
  checked?: { source: number; target: number };
  differences?: Record<string, number>;
  totalDifferences?: number;
  sample?: Array<{ db: number; statement: string }>;
  skipped?: string;
  partial?: boolean;
}

/** "cutover gate (--verify sample): 10,000 keys read, 0 differences in 10,000 keys: …". */
export function gateLine(v: unknown): string | null {
  const s = v as CheckSummary | undefined;
  if (!s || s.mode === 'off' || !s.checked) return s?.mode === 'off' ? 'cutover gate: off (--verify off)' : null;
  return `cutover gate (--verify ${s.mode}): ${body(s)}`;
}

/** "final check after promote: 10,000 keys read, 2 differ (2 extra) …". */
export function finalCheckLine(v: unknown): string | null {
  const s = v as CheckSummary | undefined;
  if (!s || s.mode === 'off') return null;
  if (s.skipped) return `final check: skipped (${s.skipped})`;
  if (!s.checked) return null;
  const note = s.agree ? '' : '; keys clients wrote on the new master since the repoint differ by design';
  return `final check (old master at rest vs new): ${body(s)}${s.partial ? ' (stopped early: the pause was ending)' : ''}${note}`;
}

function body(s: CheckSummary): string {
  const read = `${formatCount((s.checked?.source ?? 0) + (s.checked?.target ?? 0))} keys read`;
  if (!s.agree) {
    const parts = Object.entries(s.differences ?? {}).filter(([, n]) => n > 0).map(([c, n]) => `${formatCount(n)} ${c}`);
    return `${read}, ${formatCount(s.totalDifferences ?? 0)} differ (${parts.join(', ')})`;
  }
  const stmt = s.sample?.length === 1 ? `: ${s.sample[0].statement}` : s.sample?.length ? ` (${s.sample.map((x) => `db${x.db}: ${x.statement}`).join('; ')})` : '';
  return `${read}, ${s.mode === 'full' ? 'every key agrees' : 'all agree'}${stmt}`;
}
