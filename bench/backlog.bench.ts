/**
 * Reconnect at once (issue 9, item 1): the highest source write rate at which a dropped link of
 * the engine still gets `+CONTINUE` from a source with Redis' default 1 MB backlog, with the first
 * reconnect after 200 ms (the engine before the change) and at once (`firstReconnectDelayMs: 0`,
 * the default now), measured in the same run.
 *
 * A trial: a paced writer (bench/rate-writer.ts: SETs of 16 KiB values over 64 keys, in a process
 * of its own) writes at the rate under test; after a warm-up the source drops the engine's link (`CLIENT KILL TYPE replica`)
 * and the trial counts whether the reconnect got `+CONTINUE` (sync_partial_ok) or `+FULLRESYNC`
 * (sync_full). A rate passes when 2 of 3 trials continue. The search doubles the rate from
 * 0.5 MB/s while it passes, then bisects (geometrically) between the last pass and the first fail;
 * it runs SEARCHES times per setting and reports the medians. The rate reported is the replication
 * stream the source actually produced (master_repl_offset per second during the warm-up).
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRedisUrl } from '../src/core/endpoint.js';
import { SyncEngine } from '../src/engine/sync.js';
import { startServer, type BenchServer } from './redis-procs.js';

const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'rate-writer-process.js');

/** The paced writer in its own process (bench/rate-writer-process.ts); resolves once it writes. */
async function startWriterProcess(port: number, bytesPerSec: number): Promise<{ stop(): Promise<void> }> {
  const child = spawn(process.execPath, [WRITER, String(port), String(Math.round(bytesPerSec))], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    child.stdin.end();
    await exited;
  };
  const ready = await Promise.race([
    new Promise<boolean>((r) => child.stdout.on('data', (d: Buffer) => /ready/.test(d.toString()) && r(true))),
    exited.then(() => false),
    sleep(20_000).then(() => false),
  ]);
  if (!ready) {
    await stop();
    throw new Error('bench: the writer process did not start');
  }
  return { stop };
}

const MB = 1024 * 1024;
const SEARCHES = Number(process.env.FERRY_BENCH_SEARCHES ?? 3);
const TRIALS = 3;
const BISECTIONS = 4;
const MAX_RATE = 256 * MB;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function counters(s: BenchServer): Promise<{ full: number; partial: number; offset: number }> {
  const stats = await s.client.info('stats');
  const repl = await s.client.info('replication');
  const n = (text: string, k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { full: n(stats, 'sync_full'), partial: n(stats, 'sync_partial_ok'), offset: n(repl, 'master_repl_offset') };
}

async function until(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** One source + target + engine with the given first-reconnect delay. */
async function rig(delayMs: number) {
  const source = await startServer(['--repl-backlog-size', '1mb']);
  const target = await startServer();
  const engine = new SyncEngine({
    from: parseRedisUrl(`redis://127.0.0.1:${source.port}`, '--from'),
    to: parseRedisUrl(`redis://127.0.0.1:${target.port}`, '--to'),
    firstReconnectDelayMs: delayMs,
  });
  await engine.start();
  await until(() => engine.phase === 'stream', 20_000, 'the stream phase');
  return {
    /** One cut at `rate`: did the reconnect continue, and what stream rate did the source make? */
    async trial(rate: number): Promise<{ continued: boolean; streamRate: number }> {
      const writer = await startWriterProcess(source.port, rate);
      try {
        await sleep(300); // the writer reaches its pace
        const a = await counters(source);
        const t0 = Date.now();
        await sleep(700);
        const b = await counters(source);
        const streamRate = ((b.offset - a.offset) * 1000) / (Date.now() - t0);
        await source.client.call('CLIENT', 'KILL', 'TYPE', 'replica');
        let after = b;
        await until(async () => {
          after = await counters(source);
          return after.partial > b.partial || after.full > b.full;
        }, 15_000, 'the reconnect');
        return { continued: after.partial > b.partial, streamRate };
      } finally {
        await writer.stop();
        // Settle: back in the stream (after a full sync too) and caught up, before the next trial.
        await until(() => engine.phase === 'stream', 30_000, 'the stream after the trial');
        await engine.waitCaughtUp(20, undefined, 30_000);
      }
    },
    async close() {
      await engine.stop({ removeCheckpoint: true }).catch(() => {});
      await Promise.all([source.stop(), target.stop()]);
    },
  };
}

/** Does `rate` pass (2 of 3 trials continue)? Stops as soon as the outcome is decided. */
async function passes(r: Awaited<ReturnType<typeof rig>>, rate: number, seen: number[]): Promise<boolean> {
  let ok = 0;
  let bad = 0;
  while (ok < 2 && bad < 2 && ok + bad < TRIALS) {
    const t = await r.trial(rate);
    if (t.continued) {
      ok++;
      seen.push(t.streamRate);
    } else bad++;
  }
  return ok >= 2;
}

/** Highest passing rate: the stream rate measured at it (median of its passing trials). */
async function search(delayMs: number): Promise<{ nominal: number; stream: number }> {
  const r = await rig(delayMs);
  current = r;
  try {
    let lo = 0;
    let loSeen: number[] = [];
    let hi = 0;
    for (let rate = 0.5 * MB; rate <= MAX_RATE; rate *= 2) {
      const seen: number[] = [];
      if (await passes(r, rate, seen)) {
        lo = rate;
        loSeen = seen;
      } else {
        hi = rate;
        break;
      }
    }
    if (lo === 0) return { nominal: 0, stream: 0 };
    if (hi === 0) return { nominal: lo, stream: median(loSeen) }; // passed the ceiling
    for (let i = 0; i < BISECTIONS; i++) {
      const mid = Math.sqrt(lo * hi);
      const seen: number[] = [];
      if (await passes(r, mid, seen)) {
        lo = mid;
        loSeen = seen;
      } else hi = mid;
    }
    return { nominal: lo, stream: median(loSeen) };
  } finally {
    current = null;
    await r.close();
  }
}

/** The rig of the search running now: a Ctrl-C stops its servers instead of leaving them behind. */
let current: { close(): Promise<void> } | null = null;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void (current?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

export async function run(): Promise<void> {
  const rows: Array<{ label: string; delay: number; streams: number[]; nominals: number[] }> = [
    { label: 'first reconnect after 200 ms (before)', delay: 200, streams: [], nominals: [] },
    { label: 'first reconnect at once (after, default)', delay: 0, streams: [], nominals: [] },
  ];
  // Alternate the two settings, so a busier moment of the machine does not land on one only.
  for (let i = 0; i < SEARCHES; i++) {
    for (const row of rows) {
      const res = await search(row.delay);
      row.streams.push(res.stream);
      row.nominals.push(res.nominal);
      process.stdout.write(`${row.label}: search ${i + 1}: ${(res.stream / MB).toFixed(1)} MB/s of stream (writer ${(res.nominal / MB).toFixed(1)} MB/s)\n`);
    }
  }
  const mb = (x: number) => `${(x / MB).toFixed(1)} MB/s`;
  const lines = [
    `| setting (1 MB backlog, ${SEARCHES} searches) | highest write rate with +CONTINUE (median) | range | vs before |`,
    '|---|---:|---|---:|',
    ...rows.map((r) => `| ${r.label} | ${mb(median(r.streams))} | ${mb(Math.min(...r.streams))} - ${mb(Math.max(...r.streams))} | ${(median(r.streams) / median(rows[0].streams)).toFixed(1)}x |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n(load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
}
