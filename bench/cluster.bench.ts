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
import { readFileSync } from 'node:fs';
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

/** Wall-clock seconds of a run, and the CPU seconds it cost: the tool's own plus every server's. */
interface Timed {
  secs: number;
  cpu: number;
}

/** CPU seconds a server has used, its forks (the RDB for a full sync) included (INFO cpu). */
async function serverCpu(s: BenchServer): Promise<number> {
  const info = await s.client.info('cpu');
  let n = 0;
  for (const f of ['used_cpu_user', 'used_cpu_sys', 'used_cpu_user_children', 'used_cpu_sys_children']) n += Number(new RegExp(`^${f}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return n;
}

/** CPU seconds of a process so far (/proc/PID/stat utime + stime, 100 ticks a second). */
function processCpu(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return -1;
  }
}

/**
 * Runs a command to exit 0 and times it; CPU = the process's (sampled every 10 ms until it exits)
 * + what `servers` used meanwhile (sources, the target masters, a fork included in its parent's).
 */
async function timeCommand(cmd: string, args: string[], servers: BenchServer[], env: Record<string, string> = {}): Promise<Timed> {
  const before = await Promise.all(servers.map(serverCpu));
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  let own = 0;
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const poll = setInterval(() => (own = Math.max(own, processCpu(child.pid!))), 10);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  clearInterval(poll);
  const secs = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`${cmd} exited ${code}: ${err.slice(-800)}`);
  const after = await Promise.all(servers.map(serverCpu));
  return { secs, cpu: own + after.reduce((n, a, i) => n + a - before[i], 0) };
}

/** `ferry sync --until-caught-up` into an emptied cluster target; checks the key count. */
async function timeFerry(sources: BenchServer[], target: BenchCluster, keys: number, env: Record<string, string> = {}): Promise<Timed> {
  await flushCluster(target);
  const t = await timeCommand(process.execPath, [FERRY, 'sync', '--from', `redis://127.0.0.1:${sources[0].port}`, '--to', `redis://127.0.0.1:${target.masters[0].port}`, '--until-caught-up', '--backlog', 'keep'], [...sources, ...target.masters], env);
  const n = await totalKeys(target);
  if (n !== keys) throw new Error(`ferry copied ${n} keys into the cluster, expected ${keys}`);
  return t;
}

/** `redis-cli --cluster import` of a standalone source into an emptied cluster target. */
async function timeImport(from: BenchServer, target: BenchCluster, keys: number): Promise<Timed> {
  await flushCluster(target);
  const t = await timeCommand('redis-cli', ['--cluster', 'import', `127.0.0.1:${target.masters[0].port}`, '--cluster-from', `127.0.0.1:${from.port}`, '--cluster-copy'], [from, ...target.masters]);
  const n = await totalKeys(target);
  if (n !== keys) throw new Error(`redis-cli --cluster import copied ${n} keys, expected ${keys}`);
  return t;
}

/** One REPLICAOF per source master into fresh standalone servers, in parallel, until all are synced. */
async function timeNativeShards(source: BenchCluster, keys: number): Promise<Timed> {
  const replicas = await Promise.all(source.masters.map(() => startServer()));
  try {
    const servers = [...source.masters, ...replicas];
    const before = await Promise.all(servers.map(serverCpu));
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
    const after = await Promise.all(servers.map(serverCpu));
    const n = (await Promise.all(replicas.map((r) => r.client.dbsize()))).reduce((a, b) => a + b, 0);
    if (n !== keys) throw new Error(`native replicas hold ${n} keys, expected ${keys}`);
    return { secs, cpu: after.reduce((c, a, i) => c + a - before[i], 0) };
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
      const ferry: Timed[] = [];
      const imports: Timed[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        ferry.push(await timeFerry([big], target, 1_000_000));
        imports.push(await timeImport(small, target, 200_000));
      }
      const [fs, is] = [median(ferry.map((t) => t.secs)), median(imports.map((t) => t.secs))];
      const [fc, ic] = [median(ferry.map((t) => t.cpu)), median(imports.map((t) => t.cpu))];
      const [fr, ir] = [1_000_000 / fs, 200_000 / is];
      process.stdout.write(`(a) ferry ${range(ferry.map((t) => t.secs))} (1M keys), import ${range(imports.map((t) => t.secs))} (200k keys) over ${ROUNDS} rounds\n`);
      lines.push(`| (a) standalone → 3-master cluster | ferry sync: 1M keys in ${fs.toFixed(2)} s = **${Math.round(fr / 1000)}k keys/s**; ${Math.round(1_000_000 / fc / 1000)}k keys per CPU s | redis-cli --cluster import: 200k keys in ${is.toFixed(2)} s = ${(ir / 1000).toFixed(1)}k keys/s; ${(200_000 / ic / 1000).toFixed(1)}k keys per CPU s | **${(fr / ir).toFixed(1)}x** keys/s (goal >= 30x); ${((1_000_000 / fc) / (200_000 / ic)).toFixed(1)}x per CPU s |`);
    } finally {
      await Promise.all([big.stop(), small.stop()]);
    }
    // (b) cluster → cluster
    const source = await startCluster(3, ['--repl-backlog-size', '64mb']);
    try {
      await fillCluster(source, 1_000_000);
      const ferry: Timed[] = [];
      const threaded: Timed[] = [];
      const native: Timed[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        native.push(await timeNativeShards(source, 1_000_000));
        ferry.push(await timeFerry(source.masters, target, 1_000_000));
        threaded.push(await timeFerry(source.masters, target, 1_000_000, { FERRY_TEST_SHARD_THREADS: '1' }));
      }
      const m = (xs: Timed[], k: keyof Timed): number => median(xs.map((t) => t[k]));
      process.stdout.write(`(b) native ${range(native.map((t) => t.secs))}, ferry ${range(ferry.map((t) => t.secs))}, ferry with a worker thread per link ${range(threaded.map((t) => t.secs))} over ${ROUNDS} rounds\n`);
      lines.push(`| (b) 3-master cluster → 3-master cluster, 1M keys | ferry sync: ${m(ferry, 'secs').toFixed(2)} s, ${m(ferry, 'cpu').toFixed(2)} CPU s (a worker thread per link: ${m(threaded, 'secs').toFixed(2)} s, ${m(threaded, 'cpu').toFixed(2)} CPU s) | per-shard native REPLICAOF (3 in parallel): ${m(native, 'secs').toFixed(2)} s, ${m(native, 'cpu').toFixed(2)} CPU s | **${(m(ferry, 'secs') / m(native, 'secs')).toFixed(2)}x** native's time (goal <= 1.5x); ${(m(ferry, 'cpu') / m(native, 'cpu')).toFixed(2)}x its CPU |`);
    } finally {
      await source.stop();
    }
  } finally {
    await target.stop();
  }
  process.stdout.write(`| case (medians of ${ROUNDS}) | ferry | baseline | ratio |\n|---|---|---|---|\n${lines.join('\n')}\n`);
}
