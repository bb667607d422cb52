/**
 * `ferry plan` for people: the servers, preflight's findings (refusals, advice), then a numbered
 * table of the steps with the server each command goes to and the exact command, coloured when the
 * terminal supports it (NO_COLOR respected through the palette). A renderer of the Plan data only:
 * what is in the plan is decided by buildPlan.
 */
import type { Plan } from '../core/plan.js';
import { type Palette, palette } from './colors.js';
import { formatBytes, formatCount } from './format.js';

/** Renders the plan as text lines (ending with a newline). */
export function renderPlan(plan: Plan, p: Palette = palette(false)): string {
  const out: string[] = [];
  out.push(`${p.bold('Plan')}  ${plan.source} ${p.dim('→')} ${plan.target}  ${p.dim(`(sync: ${plan.sync})`)}`);
  out.push('');
  out.push(p.bold('Servers'));
  const server = (role: string, f: Plan['facts']['source'] | null, extra = '') =>
    f
      ? `  ${roleColour(role, p)(role.padEnd(7))} redis ${f.version} · ${f.role} · ${formatCount(f.keys)} keys · ${formatBytes(f.usedMemory)} used${extra}`
      : `  ${roleColour(role, p)(role.padEnd(7))} ${p.dim('started by ferry (provision step)')}`;
  out.push(server('source', plan.facts.source, ` · writes ≈ ${formatBytes(plan.facts.writeRateBytesPerSec)}/s`));
  out.push(server('target', plan.facts.target));
  if (plan.sentinel) {
    const sn = plan.sentinel;
    const agree = sn.sentinels.filter((x) => x.master === sn.master).length;
    const st = sn.sentinels.find((x) => x.settings)?.settings;
    const settings = st ? ` · quorum ${st.quorum} · down-after ${st['down-after-milliseconds']} ms · failover-timeout ${st['failover-timeout']} ms · parallel-syncs ${st['parallel-syncs']}` : '';
    out.push(`  ${p.dim('sentinel'.padEnd(7))} ${sn.name}: ${agree} of ${sn.sentinels.length} Sentinels name ${sn.master}${settings}`);
  }
  out.push('');
  out.push(p.bold('Preflight'));
  for (const r of plan.findings.refusals) out.push(`  ${p.red('✗ refused:')} ${r}`);
  for (const w of plan.findings.warnings) out.push(`  ${p.yellow('! advice:')} ${w}`);
  if (plan.findings.refusals.length === 0 && plan.findings.warnings.length === 0) out.push(`  ${p.green('✓')} no problems found`);
  out.push('');
  out.push(...stepTable(plan, p));
  if (plan.findings.refusals.length > 0) {
    out.push('');
    out.push(p.red(`ferry refuses to run this plan: fix the ${plan.findings.refusals.length === 1 ? 'refusal' : 'refusals'} above first.`));
  }
  return `${out.join('\n')}\n`;
}

function stepTable(plan: Plan, p: Palette): string[] {
  const idWidth = Math.max(4, ...plan.steps.map((s) => s.id.length));
  const onWidth = Math.max(6, ...plan.steps.flatMap((s) => s.commands.map((c) => c.on.length)));
  const rows: string[] = [p.dim(`${' #'.padEnd(4)}${'step'.padEnd(idWidth + 2)}${'server'.padEnd(onWidth + 2)}command`)];
  const indent = ' '.repeat(4 + idWidth + 2);
  plan.steps.forEach((s, i) => {
    const head = `${String(i + 1).padStart(2)}  ${p.bold(s.id.padEnd(idWidth))}  `;
    rows.push(`${head}${p.dim(s.title)}`);
    if (s.commands.length === 0) rows.push(`${indent}${p.dim('(nothing to do)')}`);
    for (const c of s.commands) {
      rows.push(`${indent}${roleColour(c.on, p)(c.on.padEnd(onWidth))}  ${c.command}`);
      if (c.note) rows.push(`${indent}${' '.repeat(onWidth + 2)}${p.dim(`↳ ${c.note}`)}`);
    }
  });
  return rows;
}

function roleColour(on: string, p: Palette): (s: string) => string {
  if (on === 'source') return p.yellow;
  if (on === 'target') return p.cyan;
  if (on.startsWith('replica')) return p.green;
  return p.dim;
}
