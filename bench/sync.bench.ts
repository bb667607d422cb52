/**
 * Full-sync time: the engine (`ferry sync --until-caught-up`, a child process, peak RSS from
 * /proc/PID/status VmHWM) vs native replication (REPLICAOF on the target) vs a SCAN + DUMP/RESTORE
 * script written with ioredis pipelines, on (a) 1M small keys and (b) 100k keys of 10 KiB, all in one
 * run on one machine. Ratios are against native measured in the same run.
 * NOTE: native and engine are timed ROUNDS times, alternating, and the medians are reported: single
 * runs on this shared 2-core machine varied by 30% and more (the script, 10x slower, runs once).
 */
import type { Redis } from 'ioredis';
import { startServer, type BenchServer } from './redis-procs.js';
import { median, timeFerry, timeNative } from './timing.js';

interface Row {
  dataset: string;
  native: number;
  engine: number;
  engineRssMb: number;
  scan: number;
  /** CPU seconds the target spent loading (INFO cpu used_cpu_user): native vs engine. */
  nativeTargetCpu: number;
  engineTargetCpu: number;
}

async function timeEngine(source: BenchServer, expectKeys: number): Promise<{ secs: number; rssMb: number; cpu: number }> {
  return timeFerry(source, [], async (target) => {
    const n = await target.client.dbsize();
    if (n !== expectKeys) throw new Error(`engine copied ${n} keys, expected ${expectKeys}`);
  });
}

/** The baseline script: SCAN, pipelined DUMP + PTTL, pipelined RESTORE. */
async function scanDumpRestore(src: Redis, dst: Redis): Promise<void> {
  let cursor = '0';
  let inflight: Promise<unknown> = Promise.resolve();
  do {
    const [next, keys] = await src.scan(cursor, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const p = src.pipeline();
    for (const k of keys) {
      p.dumpBuffer(k);
      p.pttl(k);
    }
    const res = (await p.exec()) ?? [];
    await inflight;
    const w = dst.pipeline();
    for (let i = 0; i < keys.length; i++) {
      const payload = res[2 * i][1] as Buffer | null;
      const ttl = res[2 * i + 1][1] as number;
      if (payload) w.restore(keys[i], ttl > 0 ? ttl : 0, payload, 'REPLACE');
    }
    inflight = w.exec();
  } while (cursor !== '0');
  await inflight;
}

async function timeScan(source: BenchServer): Promise<number> {
  const target = await startServer();
  try {
    const t0 = performance.now();
    await scanDumpRestore(source.client, target.client);
    return (performance.now() - t0) / 1000;
  } finally {
    await target.stop();
  }
}

const ROUNDS = 3;

async function measure(dataset: string, fill: (c: Redis) => Promise<void>, keys: number): Promise<Row> {
  const source = await startServer(['--repl-backlog-size', '64mb']);
  try {
    await fill(source.client);
    const natives: Array<{ secs: number; cpu: number }> = [];
    const engines: Array<{ secs: number; rssMb: number; cpu: number }> = [];
    for (let i = 0; i < ROUNDS; i++) {
      natives.push(await timeNative(source));
      engines.push(await timeEngine(source, keys));
    }
    const scan = await timeScan(source);
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)} s`;
    process.stdout.write(`${dataset}: native ${range(natives.map((n) => n.secs))}, engine ${range(engines.map((e) => e.secs))} over ${ROUNDS} rounds\n`);
    return {
      dataset,
      native: median(natives.map((n) => n.secs)),
      engine: median(engines.map((e) => e.secs)),
      engineRssMb: Math.max(...engines.map((e) => e.rssMb)),
      scan,
      nativeTargetCpu: median(natives.map((n) => n.cpu)),
      engineTargetCpu: median(engines.map((e) => e.cpu)),
    };
  } finally {
    await source.stop();
  }
}

export async function run(): Promise<void> {
  const rows: Row[] = [];
  rows.push(await measure('(a) 1M small keys (DEBUG POPULATE)', (c) => c.call('DEBUG', 'POPULATE', '1000000').then(() => {}), 1_000_000));
  rows.push(await measure('(b) 100k keys of 10 KiB', (c) => c.call('DEBUG', 'POPULATE', '100000', 'key', '10240').then(() => {}), 100_000));
  const f = (s: number): string => `${s.toFixed(2)} s`;
  const lines = [
    `| dataset (medians of ${ROUNDS}) | native REPLICAOF | ferry engine | engine / native | SCAN+DUMP/RESTORE | script / engine | ferry peak RSS | target CPU native / engine |`,
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.dataset} | ${f(r.native)} | ${f(r.engine)} | ${(r.engine / r.native).toFixed(2)}x | ${f(r.scan)} | ${(r.scan / r.engine).toFixed(2)}x | ${r.engineRssMb.toFixed(0)} MB | ${r.nativeTargetCpu.toFixed(2)} s / ${r.engineTargetCpu.toFixed(2)} s |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
