/**
 * The verification report: plain data (the `--json` report and what the run's gate stores in the
 * state file), and its human rendering. Keys are named up to a limit; values never appear.
 */
import { isUtf8 } from 'node:buffer';
import type { CompareStats, DiffClass } from './compare.js';
import { DIFF_CLASSES } from './compare.js';
import type { RoundsReport } from './rounds.js';
import { percentCeil } from './stats.js';

/** A key as JSON: its text when it is UTF-8, else `{ base64 }`. */
export type KeyName = string | { base64: string };

/** One differing key in the report. */
export interface NamedDifference {
  db: number;
  targetDb: number;
  key: KeyName;
  class: DiffClass;
  detail: string;
  /** The source's value changed between the last two reads (being written). */
  changing?: boolean;
}

/** One db pair. */
export interface DbReport {
  db: number;
  targetDb: number;
  /** INFO keyspace counts when the verification started. */
  sourceKeys: number;
  targetKeys: number;
  /** Keys read on each side (scanned, or drawn in a sample). */
  checked: { source: number; target: number };
  /** With --sample: the draws and what a clean sample says (absent when the db was checked whole). */
  sample?: SampleReport;
}

/** What a db's sample says. */
export interface SampleReport {
  draws: number;
  sourceDraws: number;
  targetDraws: number;
  /** Draws whose key differs persistently. */
  differing: number;
  /** 95% upper bound on the fraction of keys that differ (source and target keys weighted equally). */
  bound: number;
  /** The same bound for one side alone: the fraction of that side's keys. */
  boundPerSide: number;
  statement: string;
  /** Draws refused by the filter (not counted in `draws`). */
  rejected: number;
}

export interface VerifyReport {
  agree: boolean;
  mode: 'full' | 'sample';
  source: string;
  target: string;
  /** Per-key sample size asked for (--sample). */
  sampleSize?: number;
  ms: number;
  keysPerSecond: number;
  /**
   * Wall time of each part (ms): the source → target pass and the target → source pass (they run
   * at the same time, each measured from the start; 0 with --sample), then the rounds.
   */
  phases?: { sourcePassMs: number; targetPassMs: number; roundsMs: number };
  /** Keys read on each side in the first pass (rechecks not counted). */
  checked: { source: number; target: number };
  /** Differences that persisted through the rounds, per class. */
  differences: Record<DiffClass, number>;
  totalDifferences: number;
  /** Of them, those not rechecked (more differed than --max-recheck). */
  notRechecked: number;
  /** Up to --max-keys differing keys. */
  keys: NamedDifference[];
  rounds: RoundsReport & { intervalMs: number; max: number };
  dbs: DbReport[];
  /** Target keys outside the filter or in a db no source db maps to: not compared. */
  outsideScope: number;
  values: CompareStats;
  ttlToleranceMs: number;
  filter?: { include?: string[]; exclude?: string[]; dbMap?: Record<number, number> };
  /** The time allowed ran out before every key (or draw) was read. */
  partial?: boolean;
  /** Keys compared with writes paused (the run's gate only). */
  pausedCheck?: { keys: number; stillDiffering: number; pauseMs: number } | { skipped: string };
}

/** JSON form of a key name. */
export function keyName(b: Buffer): KeyName {
  return isUtf8(b) ? b.toString('utf8') : { base64: b.toString('base64') };
}

function showKey(k: KeyName): string {
  return typeof k === 'string' ? JSON.stringify(k) : `base64:${k.base64}`;
}

/** The one-line verdict (also the error message of exit 5). */
export function verdict(r: VerifyReport): string {
  if (r.agree) return `the target agrees with the source (${r.mode === 'sample' ? 'sample' : 'every key'} checked)`;
  const parts = DIFF_CLASSES.filter((c) => r.differences[c] > 0).map((c) => `${r.differences[c].toLocaleString('en-US')} ${c}`);
  const after = r.rounds.rechecks ? ` after ${r.rounds.rechecks} recheck${r.rounds.rechecks === 1 ? '' : 's'}` : '';
  return `${r.totalDifferences.toLocaleString('en-US')} key${r.totalDifferences === 1 ? '' : 's'} differ${r.totalDifferences === 1 ? 's' : ''}${after} (${parts.join(', ')})`;
}

/** The report for people (stdout of `ferry verify`). */
export function renderReport(r: VerifyReport): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const out: string[] = [];
  out.push(`Verify  ${r.source} → ${r.target}  (${r.mode === 'sample' ? `sample of ${n(r.sampleSize ?? 0)} keys per db` : 'every key'}, both directions)`);
  out.push(`  read ${n(r.checked.source)} source keys and ${n(r.checked.target)} target keys in ${(r.ms / 1000).toFixed(1)} s (${n(Math.round(r.keysPerSecond))} source keys/s)`);
  for (const d of r.dbs) {
    out.push(`  db${d.db}${d.targetDb !== d.db ? ` → db${d.targetDb}` : ''}: ${n(d.sourceKeys)} keys on the source, ${n(d.targetKeys)} on the target`);
    if (d.sample) {
      const s = d.sample;
      out.push(`    sample: ${s.statement} (${n(s.sourceDraws)} drawn on the source, ${n(s.targetDraws)} on the target; on either side alone fewer than ${percentCeil(s.boundPerSide)})`);
    }
  }
  if (r.outsideScope) out.push(`  ${n(r.outsideScope)} target keys outside the filter or the db mapping were not compared`);
  const v = r.values;
  out.push(`  values: ${n(v.stringEqual ?? 0)} equal strings (MGET), ${n(v.payloadEqual)} equal DUMP payloads, ${n(v.bodyEqual)} equal across RDB versions, ${n(v.canonical)} compared element by element, ${n(v.windowed)} big keys in windows`);
  const rd = r.rounds;
  if (rd.differing[0] > 0) {
    out.push(`  rounds: ${n(rd.differing[0])} keys differed at first; ${rd.differing.slice(1).map((x, i) => `${n(x)} after recheck ${i + 1}`).join(', ') || 'not rechecked'} (${rd.intervalMs} ms apart)`);
  }
  if (r.pausedCheck) {
    const p = r.pausedCheck;
    out.push('skipped' in p ? `  changing keys: ${p.skipped}` : `  ${n(p.keys)} changing keys compared with writes paused for ${p.pauseMs} ms: ${n(p.stillDiffering)} still differ`);
  }
  if (!r.agree) {
    out.push(`Differences: ${verdict(r)}`);
    for (const k of r.keys) {
      out.push(`  db${k.db}${k.targetDb !== k.db ? `→${k.targetDb}` : ''} ${showKey(k.key)}  ${k.class}: ${k.detail}${k.changing ? ' (still being written on the source)' : ''}`);
    }
    if (r.keys.length < r.totalDifferences) out.push(`  … and ${n(r.totalDifferences - r.keys.length)} more (--max-keys)`);
    if (r.notRechecked) out.push(`  ${n(r.notRechecked)} of them were not rechecked (more keys differed than --max-recheck)`);
  } else out.push(`Result: ${verdict(r)}.`);
  return `${out.join('\n')}\n`;
}
