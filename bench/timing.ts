/**
 * Bench helpers shared by the sync benches: time a native full sync (REPLICAOF) and a `ferry sync
 * --until-caught-up` child process (wall clock from spawn to exit, node start-up included; peak RSS
 * of the ferry process from /proc/PID/status VmHWM, the kernel's high-water mark, so sampling
 * cannot miss a peak that lasted long enough to be read).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { startServer, type BenchServer } from './redis-procs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FERRY = join(root, 'bin', 'ferry');

/** CPU seconds a server spent (INFO cpu used_cpu_user). */
export async function serverCpu(c: Redis): Promise<number> {
  return Number(/used_cpu_user:([\d.]+)/.exec(await c.info('cpu'))?.[1] ?? 0);
}

/**
 * A native full sync into a fresh target: REPLICAOF until `master_link_status:up` and no sync in
 * progress. `check` runs on the target before it stops.
 */
export async function timeNative(source: BenchServer, check?: (target: BenchServer) => Promise<void>, targetBin?: string): Promise<{ secs: number; cpu: number }> {
  const target = await startServer([], { bin: targetBin });
  try {
    const t0 = performance.now();
    await target.client.call('REPLICAOF', '127.0.0.1', String(source.port));
    for (;;) {
      const info = await target.client.info('replication');
      if (/master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const secs = (performance.now() - t0) / 1000;
    const cpu = await serverCpu(target.client);
    await check?.(target);
    return { secs, cpu };
  } finally {
    await target.stop();
  }
}

/** What one `ferry sync` child did. */
export interface FerryRun {
  secs: number;
  /** Peak RSS of the ferry process (VmHWM), MB. */
  rssMb: number;
  /** Target CPU seconds. */
  cpu: number;
  /** CPU seconds of the ferry process (user + system, last /proc sample before it exited). */
  ferryCpu: number;
  /** The `done` event's report (--json). */
  report: Record<string, unknown>;
}

/**
 * Runs `node args…` to completion: wall seconds from spawn to exit, the process's peak RSS (VmHWM)
 * and CPU seconds (utime + stime from /proc/PID/stat, polled every 20 ms), its output.
 */
export async function runMeasured(args: string[]): Promise<{ code: number | null; secs: number; rssMb: number; cpuSecs: number; out: string; err: string }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let peakKb = 0;
  let ticks = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
      // Fields 14 and 15 of /proc/PID/stat (after the parenthesized name): utime, stime in ticks.
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks = Number(f[11]) + Number(f[12]);
    } catch {
      /* exited */
    }
  }, 20);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearInterval(poll);
  // NOTE: USER_HZ is 100 on Linux (getconf CLK_TCK).
  return { code, secs: (performance.now() - t0) / 1000, rssMb: peakKb / 1024, cpuSecs: ticks / 100, out, err };
}

/**
 * `ferry sync --until-caught-up --json [args]` from source into a fresh target; throws unless exit 0
 * and `check` passes. `opts.targetBin`: the target's redis-server binary; `opts.ferry`: another
 * build's bin/ferry (a baseline measured in the same run).
 */
export async function timeFerry(source: BenchServer, args: string[] = [], check?: (target: BenchServer) => Promise<void>, opts: { targetBin?: string; ferry?: string } = {}): Promise<FerryRun> {
  const target = await startServer([], { bin: opts.targetBin });
  try {
    // --backlog keep: auto would add its 1 s write-rate sample to the engine's time.
    const { code, secs, rssMb, cpuSecs, out, err } = await runMeasured([opts.ferry ?? FERRY, 'sync', '--from', `redis://127.0.0.1:${source.port}`, '--to', `redis://127.0.0.1:${target.port}`, '--until-caught-up', '--json', '--backlog', 'keep', ...args]);
    if (code !== 0) throw new Error(`ferry sync exited ${code}: ${err.slice(-1000)}`);
    const done = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; report?: Record<string, unknown> }).find((e) => e.event === 'done');
    const cpu = await serverCpu(target.client);
    await check?.(target);
    return { secs, rssMb, cpu, ferryCpu: cpuSecs, report: done?.report ?? {} };
  } finally {
    await target.stop();
  }
}

/** The median (upper middle for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** "min-max s" of a series. */
export function range(xs: number[], unit = 's', digits = 2): string {
  return `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)} ${unit}`;
}
