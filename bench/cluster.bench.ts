/**
 * Redis Cluster benches, in one run on one machine (issue 12):
 * (a) a standalone source → a 3-master cluster: `ferry sync --until-caught-up` (1M small keys) vs
 *     `redis-cli --cluster import --cluster-copy` (the tool Redis ships: SCAN + one MIGRATE per
 *     key), compared in keys/s. The import is timed on 200k keys (as the issue measured; it takes
 *     about 25 s there, 2 minutes at 1M).
 * (b) a 3-master cluster → a 3-master cluster, 1M keys: `ferry sync --until-caught-up` vs native
 *     replication, i.e. one REPLICAOF per source master into a standalone server, the three in
 *     parallel, until all three are synced (a cluster node cannot REPLICAOF another cluster's master,
 *     so this is the fastest native copy of the same data).
 * Each side is timed ROUNDS times, alternating, and the medians are reported.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keySlot } from '../src/engine/cluster/slots.js';
import { startServer, type BenchServer } from './redis-procs.js';
import { median, range } from './timing.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FERRY = join(root, 'bin', 'ferry');
const ROUNDS = 3;
const CLUSTER_ARGS = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'];

interface BenchCluster {
  masters: BenchServer[];
  stop(): Promise<void>;
}

async function startCluster(masters = 3, args: string[] = []): Promise<BenchCluster> {
  const nodes = await Promise.all(Array.from({ length: masters }, () => startServer([...CLUSTER_ARGS, ...args])));
  for (let i = 0; i < masters; i++) {
    await nodes[i].client.call('CLUSTER', 'ADDSLOTSRANGE', String(Math.floor((i * 16384) / masters)), String(Math.floor(((i + 1) * 16384) / masters) - 1));
  }
  for (let i = 1; i < masters; i++) await nodes[0].client.call('CLUSTER', 'MEET', '127.0.0.1', String(nodes[i].port));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const states = await Promise.all(nodes.map((n) => n.client.call('CLUSTER', 'INFO')));
    if (states.every((s) => /cluster_state:ok/.test(String(s)))) break;
    if (Date.now() > deadline) throw new Error('the bench cluster did not reach cluster_state:ok');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { masters: nodes, stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))) };
}

/** `key:N` → `value:N` (as DEBUG POPULATE), each key written to the master owning its slot. */
async function fillCluster(c: BenchCluster, n: number): Promise<void> {
  const owner = new Int16Array(16384);
  c.masters.forEach((_, i) => owner.fill(i, Math.floor((i * 16384) / c.masters.length), Math.floor(((i + 1) * 16384) / c.masters.length)));
  for (let from = 0; from < n; from += 50_000) {
    const pipes = c.masters.map((m) => m.client.pipeline());
    for (let i = from; i < Math.min(n, from + 50_000); i++) {
      const k = `key:${i}`;
      pipes[owner[keySlot(k)]].set(k, `value:${i}`);
    }
    await Promise.all(pipes.map((p) => p.exec()));
  }
}

async function totalKeys(c: BenchCluster): Promise<number> {
  const sizes = await Promise.all(c.masters.map((m) => m.client.dbsize()));
  return sizes.reduce((a, b) => a + b, 0);
}

async function flushCluster(c: BenchCluster): Promise<void> {
  await Promise.all(c.masters.map((m) => m.client.call('FLUSHALL', 'SYNC')));
}

/** Runs a command to exit 0; resolves with the wall-clock seconds. */
function timeCommand(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-800)}`))));
  });
}

/** `ferry sync --until-caught-up` into an emptied cluster target; checks the key count. */
async function timeFerry(from: BenchServer, target: BenchCluster, keys: number, env: Record<string, string> = {}): Promise<number> {
  await flushCluster(target);
  const secs = await timeCommand(process.execPath, [FERRY, 'sync', '--from', `redis://127.0.0.1:${from.port}`, '--to', `redis://127.0.0.1:${target.masters[0].port}`, '--until-caught-up', '--backlog', 'keep'], env);
  const n = await totalKeys(target);
  if (n !== keys) throw new Error(`ferry copied ${n} keys into the cluster, expected ${keys}`);
  return secs;
}

/** `redis-cli --cluster import` of a standalone source into an emptied cluster target. */
async function timeImport(from: BenchServer, target: BenchCluster, keys: number): Promise<number> {
  await flushCluster(target);
  const secs = await timeCommand('redis-cli', ['--cluster', 'import', `127.0.0.1:${target.masters[0].port}`, '--cluster-from', `127.0.0.1:${from.port}`, '--cluster-copy']);
  const n = await totalKeys(target);
  if (n !== keys) throw new Error(`redis-cli --cluster import copied ${n} keys, expected ${keys}`);
  return secs;
}

/** One REPLICAOF per source master into fresh standalone servers, in parallel, until all are synced. */
async function timeNativeShards(source: BenchCluster, keys: number): Promise<number> {
  const replicas = await Promise.all(source.masters.map(() => startServer()));
  try {
    const t0 = performance.now();
    await Promise.all(replicas.map(async (r, i) => {
      await r.client.call('REPLICAOF', '127.0.0.1', String(source.masters[i].port));
      for (;;) {
        const info = await r.client.info('replication');
        if (/master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info)) return;
        await new Promise((res) => setTimeout(res, 5));
      }
    }));
    const secs = (performance.now() - t0) / 1000;
    const n = (await Promise.all(replicas.map((r) => r.client.dbsize()))).reduce((a, b) => a + b, 0);
    if (n !== keys) throw new Error(`native replicas hold ${n} keys, expected ${keys}`);
    return secs;
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

export async function run(): Promise<void> {
  const lines: string[] = [];
  const target = await startCluster(3);
  try {
    // (a) standalone → cluster
    const big = await startServer(['--repl-backlog-size', '64mb']);
    const small = await startServer();
    try {
      await big.client.call('DEBUG', 'POPULATE', '1000000');
      await small.client.call('DEBUG', 'POPULATE', '200000');
      const ferry: number[] = [];
      const imports: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        ferry.push(await timeFerry(big, target, 1_000_000));
        imports.push(await timeImport(small, target, 200_000));
      }
      const fr = 1_000_000 / median(ferry);
      const ir = 200_000 / median(imports);
      process.stdout.write(`(a) ferry ${range(ferry)} (1M keys), import ${range(imports)} (200k keys) over ${ROUNDS} rounds\n`);
      lines.push(`| (a) standalone → 3-master cluster | ferry sync: 1M keys in ${median(ferry).toFixed(2)} s = **${Math.round(fr / 1000)}k keys/s** | redis-cli --cluster import: 200k keys in ${median(imports).toFixed(2)} s = ${(ir / 1000).toFixed(1)}k keys/s | **${(fr / ir).toFixed(1)}x** (goal >= 30x) |`);
    } finally {
      await Promise.all([big.stop(), small.stop()]);
    }
    // (b) cluster → cluster
    const source = await startCluster(3, ['--repl-backlog-size', '64mb']);
    try {
      await fillCluster(source, 1_000_000);
      const ferry: number[] = [];
      const oneThread: number[] = [];
      const native: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        native.push(await timeNativeShards(source, 1_000_000));
        ferry.push(await timeFerry(source.masters[0], target, 1_000_000));
        oneThread.push(await timeFerry(source.masters[0], target, 1_000_000, { FERRY_TEST_SHARD_THREADS: '0' }));
      }
      process.stdout.write(`(b) native ${range(native)}, ferry ${range(ferry)}, ferry with the links in one thread ${range(oneThread)} over ${ROUNDS} rounds\n`);
      lines.push(`| (b) 3-master cluster → 3-master cluster, 1M keys | ferry sync (a worker thread per link): ${median(ferry).toFixed(2)} s; links in one thread: ${median(oneThread).toFixed(2)} s | per-shard native REPLICAOF (3 in parallel): ${median(native).toFixed(2)} s | **${(median(ferry) / median(native)).toFixed(2)}x** native's time (goal <= 1.5x); one thread ${(median(oneThread) / median(native)).toFixed(2)}x |`);
    } finally {
      await source.stop();
    }
  } finally {
    await target.stop();
  }
  process.stdout.write(`| case (medians of ${ROUNDS}) | ferry | baseline | ratio |\n|---|---|---|---|\n${lines.join('\n')}\n`);
}
