/**
 * `ferry verify` speed and memory against the plain script (bench/verify-script.ts: SCAN + DUMP
 * both sides with ioredis pipelines, one direction), both as child processes, peak RSS from
 * /proc/PID/status VmHWM, in one run on one machine:
 *
 *   (a) 1M small keys (DEBUG POPULATE 1000000 on both servers: identical data)
 *   (a') the same keys, each with a TTL (the same PEXPIREAT on both): ferry then reads PTTL too
 *   (b) one hash of 3M fields (identical on both), where ferry reads windows and the script DUMPs it whole
 *
 * keys/s = source keys / wall time of the process (ferry also does the target → source direction
 * and the TTLs, which the script does not). (a) and (a') are timed ROUNDS times alternating,
 * medians reported, with the CPU seconds of each process (the tool's from /proc/PID/stat, each
 * server's from INFO cpu) and the 1-minute load average (the machine is shared).
 * FERRY_BENCH_VERIFY_ROWS=a,ttl,b picks rows (default all). FERRY_BENCH_BASELINE=<other
 * checkout>/bin/ferry also times another build's verify in the same rounds of (a) and (a').
 */
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { startServer, type BenchServer } from './redis-procs.js';
import { runMeasured } from './timing.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FERRY = join(root, 'bin', 'ferry');
const SCRIPT = join(root, 'dist', 'bench', 'verify-script.js');
const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 3);
const BASELINE = process.env.FERRY_BENCH_BASELINE;

const ROWS = (process.env.FERRY_BENCH_VERIFY_ROWS ?? 'a,ttl,b').split(',');

interface Timed {
  secs: number;
  rssMb: number;
  out: string;
  /** CPU seconds: the tool's process, the source's, the target's. */
  cpu: { tool: number; source: number; target: number };
  /** 1-minute load average at the end of the run. */
  load: number;
}

/** CPU seconds a server has spent (user + system, its forks excluded). */
async function serverCpu(c: Redis): Promise<number> {
  const info = await c.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0);
}

/** Runs a node child to completion against servers `a` and `b`, polling its peak RSS and CPU time. */
async function timeChild(args: string[], a: BenchServer, b: BenchServer, okCodes = [0]): Promise<Timed> {
  const [ca, cb] = await Promise.all([serverCpu(a.client), serverCpu(b.client)]);
  const { code, secs, rssMb, cpuSecs, out, err } = await runMeasured(args);
  if (!okCodes.includes(code ?? -1)) throw new Error(`${args.join(' ')} exited ${code}: ${err.slice(-1000)}`);
  const [da, db] = await Promise.all([serverCpu(a.client), serverCpu(b.client)]);
  return { secs, rssMb, out, cpu: { tool: cpuSecs, source: da - ca, target: db - cb }, load: loadavg()[0] };
}

function ferryVerify(a: BenchServer, b: BenchServer, bin = FERRY): Promise<Timed> {
  return timeChild([bin, 'verify', '--from', `redis://127.0.0.1:${a.port}`, '--to', `redis://127.0.0.1:${b.port}`, '--json'], a, b);
}

function script(a: BenchServer, b: BenchServer): Promise<Timed> {
  return timeChild([SCRIPT, String(a.port), String(b.port)], a, b);
}

interface Phases {
  sourcePassMs: number;
  targetPassMs: number;
  roundsMs: number;
}

/** Throws unless ferry's report says the sides agree; returns its phase timings. */
function agreed(t: Timed): Phases {
  const last = t.out.trim().split('\n').pop() ?? '';
  const e = JSON.parse(last) as { event: string; report?: { agree: boolean; phases?: Phases } };
  if (e.event !== 'done' || !e.report?.agree) throw new Error(`ferry verify did not agree: ${last.slice(0, 500)}`);
  return e.report.phases ?? { sourcePassMs: 0, targetPassMs: 0, roundsMs: 0 };
}

/** "tool / source / target" CPU seconds, medians. */
function cpuText(xs: Timed[]): string {
  return (['tool', 'source', 'target'] as const).map((k) => median(xs.map((x) => x.cpu[k])).toFixed(1)).join(' / ');
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/** PEXPIREAT `at` on key:0 … key:n-1 (DEBUG POPULATE's names). */
async function expireAll(c: Redis, n: number, at: number): Promise<void> {
  for (let i = 0; i < n; i += 10_000) {
    const p = c.pipeline();
    for (let j = i; j < Math.min(n, i + 10_000); j++) p.pexpireat(`key:${j}`, at);
    await p.exec();
  }
}

async function bigHash(c: Redis, fields: number): Promise<void> {
  for (let i = 0; i < fields; i += 100_000) {
    const p = c.pipeline();
    for (let j = i; j < Math.min(fields, i + 100_000); j += 1000) {
      const args: string[] = [];
      for (let k = j; k < Math.min(fields, j + 1000); k++) args.push(`field:${k}`, `value:${k}`);
      p.hset('big', ...args);
    }
    await p.exec();
  }
}

export async function run(): Promise<void> {
  const rows: string[] = [];
  for (const withTtl of [false, true]) {
    if (!ROWS.includes(withTtl ? 'ttl' : 'a')) continue;
    const [a, b] = await Promise.all([startServer(), startServer()]);
    try {
      await Promise.all([a.client.call('DEBUG', 'POPULATE', '1000000'), b.client.call('DEBUG', 'POPULATE', '1000000')]);
      if (withTtl) await Promise.all([a.client, b.client].map((c) => expireAll(c, 1_000_000, Date.now() + 3_600_000)));
      const ferryRuns: Timed[] = [];
      const scriptRuns: Timed[] = [];
      const phases: Phases[] = [];
      const baseRuns: Timed[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        if (BASELINE) {
          const o = await ferryVerify(a, b, BASELINE);
          agreed(o);
          baseRuns.push(o);
          process.stdout.write(`  round ${i + 1}: baseline build ${o.secs.toFixed(2)} s (CPU ferry/source/target ${o.cpu.tool.toFixed(1)}/${o.cpu.source.toFixed(1)}/${o.cpu.target.toFixed(1)} s; load ${o.load.toFixed(1)})\n`);
        }
        const f = await ferryVerify(a, b);
        phases.push(agreed(f));
        ferryRuns.push(f);
        const sc = await script(a, b);
        scriptRuns.push(sc);
        const p = phases[i];
        process.stdout.write(
          `  round ${i + 1}: ferry ${f.secs.toFixed(2)} s (source pass ${(p.sourcePassMs / 1000).toFixed(2)} s, target pass ${(p.targetPassMs / 1000).toFixed(2)} s; CPU ferry/source/target ${f.cpu.tool.toFixed(1)}/${f.cpu.source.toFixed(1)}/${f.cpu.target.toFixed(1)} s; load ${f.load.toFixed(1)}), ` +
            `script ${sc.secs.toFixed(2)} s (CPU script/source/target ${sc.cpu.tool.toFixed(1)}/${sc.cpu.source.toFixed(1)}/${sc.cpu.target.toFixed(1)} s; load ${sc.load.toFixed(1)})\n`,
        );
      }
      const fs = median(ferryRuns.map((r) => r.secs));
      const ss = median(scriptRuns.map((r) => r.secs));
      const range = (xs: Timed[]) => `${Math.min(...xs.map((x) => x.secs)).toFixed(2)}-${Math.max(...xs.map((x) => x.secs)).toFixed(2)} s`;
      const name = withTtl ? "(a') 1M small keys, each with a TTL" : '(a) 1M small keys';
      const loads = [...ferryRuns, ...scriptRuns].map((r) => r.load);
      process.stdout.write(`${name}: ferry ${range(ferryRuns)}, script ${range(scriptRuns)} over ${ROUNDS} rounds, load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}\n`);
      if (BASELINE) {
        const bs = median(baseRuns.map((r) => r.secs));
        rows.push(`| ${name}: baseline build | ${bs.toFixed(2)} s · ${Math.round(1e6 / bs).toLocaleString('en-US')} keys/s | ${cpuText(baseRuns)} | ${Math.max(...baseRuns.map((r) => r.rssMb)).toFixed(0)} MB | | | | ${(ss / bs).toFixed(2)}x |`);
      }
      const ps = median(phases.map((p) => p.sourcePassMs)) / 1000;
      const pt = median(phases.map((p) => p.targetPassMs)) / 1000;
      rows.push(
        `| ${name} | ${fs.toFixed(2)} s · ${Math.round(1e6 / fs).toLocaleString('en-US')} keys/s (passes ${ps.toFixed(2)} + ${pt.toFixed(2)} s) | ${cpuText(ferryRuns)} | ${Math.max(...ferryRuns.map((r) => r.rssMb)).toFixed(0)} MB | ${ss.toFixed(2)} s · ${Math.round(1e6 / ss).toLocaleString('en-US')} keys/s | ${cpuText(scriptRuns)} | ${Math.max(...scriptRuns.map((r) => r.rssMb)).toFixed(0)} MB | ${(ss / fs).toFixed(2)}x |`,
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
  if (ROWS.includes('b')) {
    const [a, b] = await Promise.all([startServer(), startServer()]);
    try {
      await Promise.all([bigHash(a.client, 3_000_000), bigHash(b.client, 3_000_000)]);
      const f = await ferryVerify(a, b);
      agreed(f);
      const s = await script(a, b);
      rows.push(`| (b) one hash of 3M fields (1 run) | ${f.secs.toFixed(2)} s | ${cpuText([f])} | ${f.rssMb.toFixed(0)} MB | ${s.secs.toFixed(2)} s | ${cpuText([s])} | ${s.rssMb.toFixed(0)} MB | ${(s.secs / f.secs).toFixed(2)}x |`);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
  process.stdout.write(
    [
      `| dataset | ferry verify (both directions, TTLs; median of ${ROUNDS}) | CPU s ferry / source / target | ferry peak RSS | script (SCAN + DUMP both sides) | CPU s script / source / target | script peak RSS | script time / ferry time |`,
      '|---|---|---|---|---|---|---|---|',
      ...rows,
    ].join('\n') + '\n',
  );
}
