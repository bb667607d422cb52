/**
 * `ferry demo`: a real live migration between two throwaway local redis-servers, under load.
 * Sample data of every type, a writer that follows "the current master" file, a repoint hook that
 * rewrites that file, the same runner as `ferry run`, then a cutover report proving (by reading
 * every acknowledged key back from the new master) that no acknowledged write was lost.
 * Everything it starts or creates is removed at the end, also on Ctrl-C.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, InterruptedError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { runMigration, type RunReport } from '../core/runner.js';
import { specFromFlags } from '../core/spec-from-flags.js';
import { formatBytes, formatCount, formatMs } from '../ui/format.js';
import { finalCheckLine, gateLine } from '../ui/verify-lines.js';
import { startRedis, type LocalRedis } from './redis-process.js';
import { loadSampleData, type SampleDataReport } from './sample-data.js';
import { missingKeys, pointMasterFile, startWriteLoad, type WriteLoad, type WriteLoadReport } from './write-load.js';

export interface DemoOptions {
  /** Sample keys loaded before the migration. */
  keys: number;
  sync: 'native' | 'engine';
  /** Writer connections (each waits for its ack before the next write). */
  lanes: number;
  /** Where progress lines go (the report is returned, and printed by the command). */
  log(line: string): void;
  /** Attaches the human sinks (log, progress) to the run's bus. */
  attachSinks?(bus: EventBus): () => void;
  signal: AbortSignal;
}

/** What the demo proves, printed as the cutover report. */
export interface DemoReport {
  sample: SampleDataReport;
  load: Omit<WriteLoadReport, 'acked'> & {
    acknowledged: number;
    durationMs: number;
    /** Longest gap between two acknowledged writes in the second before the migration, ms. */
    baselineStallMs: number;
    /** The same from the migration's start until 300 ms after it ended, ms. */
    migrationStallMs: number;
  };
  lost: number;
  lostExamples: string[];
  run: RunReport;
  keysOnTarget: number;
  replicatedBytes: number;
}

/** Runs the demo; always cleans up. Throws InterruptedError when `signal` aborts. */
export async function runDemo(opts: DemoOptions): Promise<DemoReport> {
  const work = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
  const servers: LocalRedis[] = [];
  let load: WriteLoad | undefined;
  try {
    opts.log('Starting two throwaway redis-servers on free loopback ports…');
    const [source, target] = await Promise.all([startRedis(), startRedis()]);
    servers.push(source, target);
    opts.log(`  old master ${source.host}:${source.port}   new instance ${target.host}:${target.port}`);
    throwIfAborted(opts.signal);

    const seed = source.client();
    const sample = await loadSampleData(seed, opts.keys);
    seed.disconnect();
    opts.log(`Loaded ${formatCount(sample.keys)} sample keys (${Object.entries(sample.byType).map(([t, n]) => `${t} ${formatCount(n)}`).join(', ')}).`);

    const masterFile = join(work, 'current-master');
    pointMasterFile(masterFile, source.host, source.port);
    const hook = writeHook(work, masterFile);
    const loadStarted = Date.now();
    load = startWriteLoad({ masterFile, lanes: opts.lanes, prefix: 'live', maxMs: 10 * 60_000, connectionName: 'demo-app-writer' });
    await sleep(300, opts.signal);
    load.takeLongestGap(); // the first write waited for the connection: not a stall
    opts.log(`A writer is writing unique keys to the old master (${formatCount(load.ackedCount())} acknowledged so far).`);
    // NOTE: the baseline: the same writer's longest stall in a second without any migration.
    await sleep(1000, opts.signal);
    const baselineStallMs = load.takeLongestGap();

    const spec = specFromFlags(
      { from: source.url, to: target.url, sync: opts.sync, repoint: `exec:${hook}`, retire: 'replica', drainTimeout: 10_000, pauseTimeout: 5_000 },
      {},
    );
    const before = await replOutputBytes(source);
    const bus = new EventBus();
    const detach = opts.attachSinks?.(bus);
    opts.log(`Migrating ${source.host}:${source.port} → ${target.host}:${target.port} (sync ${opts.sync}, repoint hook rewrites the writer's master file)…`);
    let run: RunReport;
    try {
      run = await runMigration(spec, { statePath: join(work, 'state.json'), yes: true, bus, signal: opts.signal });
    } finally {
      detach?.();
    }
    const replicatedBytes = (await replOutputBytes(source)) - before;

    await sleep(300, opts.signal); // a few writes on the new master after the cutover
    const migrationStallMs = load.takeLongestGap();
    const loadReport = await load.stop();
    load = undefined;
    const check = target.client();
    const missing = await missingKeys(check, loadReport.acked);
    const keysOnTarget = Number(await check.dbsize());
    check.disconnect();
    const { acked, ...figures } = loadReport;
    return {
      sample,
      load: { ...figures, acknowledged: acked.length, durationMs: Date.now() - loadStarted, baselineStallMs, migrationStallMs },
      lost: missing.length,
      lostExamples: missing.slice(0, 5),
      run,
      keysOnTarget,
      replicatedBytes,
    };
  } finally {
    await load?.stop().catch(() => undefined);
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(work, { recursive: true, force: true });
  }
}

/** The repoint hook: rewrites the writer's master file with the new address ferry passes it. */
function writeHook(dir: string, masterFile: string): string {
  const path = join(dir, 'repoint.sh');
  writeFileSync(path, `#!/bin/sh\n# ferry demo's repoint hook: point the writer at the new master.\nprintf '%s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > '${masterFile}'\n`);
  chmodSync(path, 0o700);
  return path;
}

/** Bytes the source sent to replicas (RDB + stream): what the migration moved. */
async function replOutputBytes(s: LocalRedis): Promise<number> {
  const c = s.client();
  try {
    const info = await c.info('stats');
    return Number(/total_net_repl_output_bytes:(\d+)/.exec(info)?.[1] ?? 0);
  } finally {
    c.disconnect();
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new InterruptedError('demo interrupted; everything it started was removed');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new InterruptedError());
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new InterruptedError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The cutover gate and the final check, as report rows (none when they did not run). */
function checkRows(run: RunReport): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  const gate = gateLine(run.verify);
  const final = finalCheckLine(run.finalCheck);
  if (gate) rows.push(['verify (gate)', gate.replace(/^cutover gate /, '')]);
  if (final) rows.push(['verify (final)', final.replace(/^final check /, '')]);
  return rows;
}

/** The cutover report as text. */
export function formatDemoReport(r: DemoReport): string {
  const steps = r.run.steps.filter((s) => s.ms !== undefined).map((s) => `${s.id} ${formatMs(s.ms ?? 0)}`);
  const rows: Array<[string, string]> = [
    ['writes acknowledged', `${formatCount(r.load.acknowledged)} (${formatCount(r.load.writesPerSecond)}/s over ${formatMs(r.load.durationMs)}, ${r.load.switches} switch of master)`],
    ['writes lost', `${formatCount(r.lost)} (every acknowledged key read back from the new master)${r.lostExamples.length ? `: ${r.lostExamples.join(', ')}` : ''}`],
    ['longest write stall', `${formatMs(r.load.migrationStallMs)} during the migration (baseline: ${formatMs(r.load.baselineStallMs)} in the second before it)`],
    ['write pause (fence)', r.run.pauseMs === undefined ? 'n/a' : formatMs(r.run.pauseMs)],
    ['data moved', `${formatCount(r.keysOnTarget)} keys on the new master · ${formatBytes(r.replicatedBytes)} replicated (RDB + stream)`],
    ...checkRows(r.run),
    ['time per step', steps.join(' · ')],
    // NOTE: the step log above named a state file; say that it went with the rest.
    ['left behind', 'nothing: both servers stopped, their data dirs and the state file removed'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', 'Cutover report', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), '', r.lost === 0 ? 'Zero acknowledged writes lost.' : `${r.lost} ACKNOWLEDGED WRITES LOST.`, ''].join('\n');
}

/** The cutover report as data: the `report` of the final event of `ferry demo --json`. */
export function demoReportData(r: DemoReport): Record<string, unknown> {
  return {
    writesAcknowledged: r.load.acknowledged,
    writesLost: r.lost,
    lostExamples: r.lostExamples,
    // Writes the server answered with an error (e.g. -READONLY after the cutover): never acknowledged.
    writesFailed: r.load.failed,
    writesPerSecond: Math.round(r.load.writesPerSecond),
    loadMs: r.load.durationMs,
    masterSwitches: r.load.switches,
    longestStallMs: r.load.migrationStallMs,
    baselineStallMs: r.load.baselineStallMs,
    pauseMs: r.run.pauseMs ?? null,
    finalOffset: r.run.finalOffset ?? null,
    sampleKeys: r.sample.keys,
    sampleByType: r.sample.byType,
    keysOnTarget: r.keysOnTarget,
    replicatedBytes: r.replicatedBytes,
    steps: r.run.steps.map((s) => ({ id: s.id, ms: s.ms ?? null, ...(s.skipped ? { skipped: true } : {}) })),
    warnings: r.run.warnings,
    leftBehind: 'nothing',
  };
}

/** Exit code of a demo: 0 only when no acknowledged write was lost. */
export function demoExitCode(r: DemoReport): number {
  return r.lost === 0 ? ExitCode.ok : ExitCode.verifyDiff;
}

