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
 * and the TTLs, which the script does not). (a) is timed ROUNDS times alternating, medians reported.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { startServer, type BenchServer } from './redis-procs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FERRY = join(root, 'bin', 'ferry');
const SCRIPT = join(root, 'dist', 'bench', 'verify-script.js');
const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 3);

interface Timed {
  secs: number;
  rssMb: number;
  out: string;
}

/** Runs a node child to completion, polling its peak RSS. */
async function timeChild(args: string[], okCodes = [0]): Promise<Timed> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let peakKb = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      /* exited */
    }
  }, 20);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearInterval(poll);
  if (!okCodes.includes(code ?? -1)) throw new Error(`${args.join(' ')} exited ${code}: ${err.slice(-1000)}`);
  return { secs: (performance.now() - t0) / 1000, rssMb: peakKb / 1024, out };
}

function ferryVerify(a: BenchServer, b: BenchServer): Promise<Timed> {
  return timeChild([FERRY, 'verify', '--from', `redis://127.0.0.1:${a.port}`, '--to', `redis://127.0.0.1:${b.port}`, '--json']);
}

function script(a: BenchServer, b: BenchServer): Promise<Timed> {
  return timeChild([SCRIPT, String(a.port), String(b.port)]);
}

function agreed(t: Timed): void {
  const last = t.out.trim().split('\n').pop() ?? '';
  const e = JSON.parse(last) as { event: string; report?: { agree: boolean } };
  if (e.event !== 'done' || !e.report?.agree) throw new Error(`ferry verify did not agree: ${last.slice(0, 500)}`);
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
    const [a, b] = await Promise.all([startServer(), startServer()]);
    try {
      await Promise.all([a.client.call('DEBUG', 'POPULATE', '1000000'), b.client.call('DEBUG', 'POPULATE', '1000000')]);
      if (withTtl) await Promise.all([a.client, b.client].map((c) => expireAll(c, 1_000_000, Date.now() + 3_600_000)));
      const ferryRuns: Timed[] = [];
      const scriptRuns: Timed[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const f = await ferryVerify(a, b);
        agreed(f);
        ferryRuns.push(f);
        scriptRuns.push(await script(a, b));
      }
      const fs = median(ferryRuns.map((r) => r.secs));
      const ss = median(scriptRuns.map((r) => r.secs));
      const range = (xs: Timed[]) => `${Math.min(...xs.map((x) => x.secs)).toFixed(2)}-${Math.max(...xs.map((x) => x.secs)).toFixed(2)} s`;
      const name = withTtl ? "(a') 1M small keys, each with a TTL" : '(a) 1M small keys';
      process.stdout.write(`${name}: ferry ${range(ferryRuns)}, script ${range(scriptRuns)} over ${ROUNDS} rounds\n`);
      rows.push(
        `| ${name} | ${fs.toFixed(2)} s · ${Math.round(1e6 / fs).toLocaleString('en-US')} keys/s | ${Math.max(...ferryRuns.map((r) => r.rssMb)).toFixed(0)} MB | ${ss.toFixed(2)} s · ${Math.round(1e6 / ss).toLocaleString('en-US')} keys/s | ${Math.max(...scriptRuns.map((r) => r.rssMb)).toFixed(0)} MB | ${(ss / fs).toFixed(2)}x |`,
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
  {
    const [a, b] = await Promise.all([startServer(), startServer()]);
    try {
      await Promise.all([bigHash(a.client, 3_000_000), bigHash(b.client, 3_000_000)]);
      const f = await ferryVerify(a, b);
      agreed(f);
      const s = await script(a, b);
      rows.push(`| (b) one hash of 3M fields | ${f.secs.toFixed(2)} s | ${f.rssMb.toFixed(0)} MB | ${s.secs.toFixed(2)} s | ${s.rssMb.toFixed(0)} MB | ${(s.secs / f.secs).toFixed(2)}x |`);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
  process.stdout.write(
    [
      `| dataset | ferry verify (both directions, TTLs; median of ${ROUNDS}) | ferry peak RSS | script (SCAN + DUMP both sides) | script peak RSS | script time / ferry time |`,
      '|---|---|---|---|---|---|',
      ...rows,
    ].join('\n') + '\n',
  );
}
