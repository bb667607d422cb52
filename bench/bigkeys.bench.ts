/**
 * Big keys: ferry's peak RSS and full-sync time on datasets made of a few huge keys, against native
 * replication measured in the same run (`npm run bench -- bigkeys`):
 *
 *   (c) one 3M-field hash + one 2M-member zset (the case of issue 9: ~127 MB of RDB);
 *   (d) one hash of ~1 GiB (1M fields of 1 KiB of random bytes, so LZF cannot shrink it).
 *
 * Each round times native REPLICAOF, then `ferry sync --until-caught-up` with `--writer auto` (the
 * default: RESTORE, and chunked commands for keys above RESTORE_LIMIT) and `--writer commands`,
 * each into a fresh target, checked with DEBUG DIGEST against the source. Peak RSS is the ferry
 * process's VmHWM. Rounds alternate; medians (and ranges) are reported.
 * NOTE: `--writer restore` is not a row of its own: with both servers on the same version it takes
 * the same path as auto (the per-key switch applies to both).
 * `FERRY_BENCH_BASELINE=/path/to/other/checkout/bin/ferry` also times that build's `--writer auto`
 * in every round (e.g. the commit before a change), reported as "baseline".
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { startServer, type BenchServer } from './redis-procs.js';
import { median, range, timeFerry, timeNative, type FerryRun } from './timing.js';

const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 3);
const BASELINE = process.env.FERRY_BENCH_BASELINE;

/** Pipelined `cmd key …args` in commands of `per` elements, `inFlight` commands at a time. */
async function fillCollection(c: Redis, cmd: 'hset' | 'zadd', key: string, n: number, per: number, inFlight: number, element: (i: number) => [string | number | Buffer, string | number | Buffer]): Promise<void> {
  for (let i = 0; i < n; i += per * inFlight) {
    const p = c.pipeline();
    for (let j = i; j < Math.min(n, i + per * inFlight); j += per) {
      const args: Array<string | number | Buffer> = [key];
      for (let k = j; k < Math.min(n, j + per); k++) args.push(...element(k));
      p.call(cmd, ...args);
    }
    const res = (await p.exec()) ?? [];
    for (const [err] of res) if (err) throw err;
  }
}

async function fillHashAndZset(c: Redis): Promise<void> {
  await fillCollection(c, 'hset', 'big:hash', 3_000_000, 1000, 50, (k) => [`field:${k}`, `value:${k}`]);
  await fillCollection(c, 'zadd', 'big:zset', 2_000_000, 1000, 50, (k) => [k * 1.5, `member:${k}`]);
}

async function fillGigHash(c: Redis): Promise<void> {
  const noise = randomBytes(1 << 20);
  // 1 KiB values cut at different offsets of 1 MiB of noise: distinct, incompressible.
  await fillCollection(c, 'hset', 'big:1g', 1 << 20, 1000, 16, (k) => [`f:${k}`, noise.subarray((k * 7919) % ((1 << 20) - 1024), ((k * 7919) % ((1 << 20) - 1024)) + 1024)]);
}

interface Row {
  dataset: string;
  rdbMb: number;
  native: number[];
  nativeCpu: number[];
  auto: FerryRun[];
  commands: FerryRun[];
  baseline: FerryRun[];
}

async function measure(dataset: string, fill: (c: Redis) => Promise<void>): Promise<Row> {
  const source = await startServer(['--repl-backlog-size', '64mb']);
  try {
    const t0 = performance.now();
    await fill(source.client);
    const used = /used_memory_human:(\S+)/.exec(await source.client.info('memory'))?.[1];
    process.stdout.write(`${dataset}: filled in ${((performance.now() - t0) / 1000).toFixed(1)} s (source used_memory ${used})\n`);
    const want = String(await source.client.call('DEBUG', 'DIGEST'));
    const check = async (t: BenchServer): Promise<void> => {
      const got = String(await t.client.call('DEBUG', 'DIGEST'));
      if (got !== want) throw new Error(`${dataset}: target digest ${got} differs from the source's ${want}`);
    };
    const row: Row = { dataset, rdbMb: 0, native: [], nativeCpu: [], auto: [], commands: [], baseline: [] };
    for (let i = 0; i < ROUNDS; i++) {
      const n = await timeNative(source, check);
      row.native.push(n.secs);
      row.nativeCpu.push(n.cpu);
      row.auto.push(await timeFerry(source, ['--writer', 'auto'], check));
      row.commands.push(await timeFerry(source, ['--writer', 'commands'], check));
      if (BASELINE) row.baseline.push(await timeFerry(source, ['--writer', 'auto'], check, { ferry: BASELINE }));
      const a = row.auto[i];
      const c = row.commands[i];
      const base = BASELINE ? `; baseline ${row.baseline[i].secs.toFixed(2)} s ${row.baseline[i].rssMb.toFixed(0)} MB` : '';
      process.stdout.write(`  round ${i + 1}: native ${row.native[i].toFixed(2)} s; auto ${a.secs.toFixed(2)} s ${a.rssMb.toFixed(0)} MB (chunked keys ${a.report.chunkedKeys}); commands ${c.secs.toFixed(2)} s ${c.rssMb.toFixed(0)} MB${base}\n`);
    }
    row.rdbMb = Number(row.auto[0].report.rdbBytes ?? 0) / 1e6;
    return row;
  } finally {
    await source.stop();
  }
}

export async function run(): Promise<void> {
  const rows = [await measure('(c) 3M-field hash + 2M-member zset', fillHashAndZset), await measure('(d) 1 GiB hash (1M x 1 KiB)', fillGigHash)];
  const f = (s: number): string => `${s.toFixed(2)} s`;
  const mb = (xs: FerryRun[]): string => `${median(xs.map((x) => x.rssMb)).toFixed(0)} MB (max ${Math.max(...xs.map((x) => x.rssMb)).toFixed(0)})`;
  const lines = [
    `| dataset (medians of ${ROUNDS}) | RDB | native | auto | auto / native | auto peak RSS | commands | commands / native | commands peak RSS |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const n = median(r.native);
      const a = median(r.auto.map((x) => x.secs));
      const c = median(r.commands.map((x) => x.secs));
      return `| ${r.dataset} | ${r.rdbMb.toFixed(0)} MB | ${f(n)} | ${f(a)} | ${(a / n).toFixed(2)}x | ${mb(r.auto)} | ${f(c)} | ${(c / n).toFixed(2)}x | ${mb(r.commands)} |`;
    }),
    ...(BASELINE
      ? ['', `baseline (${BASELINE}) --writer auto:`, ...rows.map((r) => `| ${r.dataset} | ${f(median(r.baseline.map((x) => x.secs)))} | ${(median(r.baseline.map((x) => x.secs)) / median(r.native)).toFixed(2)}x native | ${mb(r.baseline)} | ferry CPU ${median(r.baseline.map((x) => x.ferryCpu)).toFixed(2)} s |`)]
      : []),
    '',
    `| CPU seconds (medians) | target: native | target: auto | target: commands | ferry: auto | ferry: commands |`,
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const m = (xs: number[]): string => median(xs).toFixed(2);
      return `| ${r.dataset} | ${m(r.nativeCpu)} | ${m(r.auto.map((x) => x.cpu))} | ${m(r.commands.map((x) => x.cpu))} | ${m(r.auto.map((x) => x.ferryCpu))} | ${m(r.commands.map((x) => x.ferryCpu))} |`;
    }),
    '',
    ...rows.map((r) => `${r.dataset}: native ${range(r.native)}, auto ${range(r.auto.map((x) => x.secs))}, commands ${range(r.commands.map((x) => x.secs))}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
