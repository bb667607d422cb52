/**
 * Local Redis Clusters for tests: `masters` redis-server processes (plus `replicas` per master)
 * with `--cluster-enabled yes` and their own `nodes.conf` in their temp dirs, slots split evenly
 * (CLUSTER ADDSLOTSRANGE), joined with CLUSTER MEET, replicas attached with CLUSTER REPLICATE.
 * Every wait is bounded. Also: a cluster-aware ioredis client, and a per-key snapshot of a whole
 * cluster (or a single server) to compare source and target slot by slot.
 */
import { Cluster, type Redis } from 'ioredis';
import { keySlot } from '../../src/engine/cluster/slots.js';
import { pacer, trackLoad, untrackLoad } from './loads.js';
import { startRedis, type StartOptions, type TestServer } from './redis-server.js';

export interface TestCluster {
  masters: TestServer[];
  replicas: TestServer[];
  /** Every node (masters first). */
  nodes: TestServer[];
  /** redis:// URL of the first master (any node works as a seed). */
  url: string;
  /** A cluster-aware client (closed by stop()). */
  client(): Cluster;
  /** Node ids by port. */
  ids: Map<number, string>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  masters?: number;
  /** Replicas per master (default 0). */
  replicas?: number;
  args?: string[];
  /** Passed to startRedis (e.g. another server binary is not supported there: Debian's redis-server). */
  start?: StartOptions;
}

/** Starts and forms a cluster; see the file comment. */
export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const m = opts.masters ?? 3;
  const r = opts.replicas ?? 0;
  const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--enable-debug-command', 'yes', ...(opts.args ?? [])];
  const nodes = await Promise.all(Array.from({ length: m * (1 + r) }, () => startRedis({ args })));
  const clients: Array<Redis | Cluster> = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    const masters = nodes.slice(0, m);
    const replicas = nodes.slice(m);
    const ctl = nodes.map((n) => n.client());
    const ids = new Map<number, string>();
    for (let i = 0; i < nodes.length; i++) ids.set(nodes[i].port, String(await ctl[i].call('CLUSTER', 'MYID')));
    for (let i = 0; i < m; i++) {
      const a = Math.floor((i * 16384) / m);
      const b = Math.floor(((i + 1) * 16384) / m) - 1;
      await ctl[i].call('CLUSTER', 'ADDSLOTSRANGE', String(a), String(b));
    }
    for (let i = 1; i < nodes.length; i++) await ctl[0].call('CLUSTER', 'MEET', '127.0.0.1', String(nodes[i].port));
    await until(async () => {
      for (const c of ctl) if (String(await c.call('CLUSTER', 'NODES')).trim().split('\n').length !== nodes.length) return false;
      return true;
    }, 20_000, 'every node to know every other');
    for (let i = 0; i < replicas.length; i++) {
      const master = masters[i % m];
      await ctl[m + i].call('CLUSTER', 'REPLICATE', ids.get(master.port)!);
    }
    await until(async () => {
      for (const c of ctl) if (!/cluster_state:ok/.test(String(await c.call('CLUSTER', 'INFO')))) return false;
      for (let i = 0; i < replicas.length; i++) if (!/master_link_status:up/.test(await ctl[m + i].info('replication'))) return false;
      return true;
    }, 30_000, 'cluster_state:ok');
    for (const c of ctl) c.disconnect();
    return {
      masters,
      replicas,
      nodes,
      url: masters[0].url,
      ids,
      client() {
        const c = new Cluster(masters.map((s) => ({ host: '127.0.0.1', port: s.port })), {
          redisOptions: { maxRetriesPerRequest: 3 },
          clusterRetryStrategy: (n) => (n > 50 ? null : 100),
        });
        c.on('error', () => {});
        clients.push(c);
        return c;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * CLUSTER FAILOVER on `replica`; resolves once it is a master. A manual failover gives up when the
 * replica does not catch up with its paused master within 5 s (CLUSTER_MF_TIMEOUT in redis
 * src/cluster_legacy.h), which a busy machine can cause: it is asked again, up to 45 s in all.
 */
export async function failover(replica: TestServer): Promise<void> {
  const c = replica.client();
  const deadline = Date.now() + 45_000;
  while (((await c.call('ROLE')) as unknown[])[0] !== 'master') {
    if (Date.now() > deadline) throw new Error(`${replica.port} was not promoted within 45 s`);
    await c.call('CLUSTER', 'FAILOVER').catch(() => {});
    const asked = Date.now();
    while (Date.now() - asked < 7000 && ((await c.call('ROLE')) as unknown[])[0] !== 'master') await new Promise((r) => setTimeout(r, 50));
  }
}

/** The current masters of a cluster (after failovers), as clients on `nodes`. */
export async function currentMasters(nodes: TestServer[]): Promise<TestServer[]> {
  const out: TestServer[] = [];
  for (const n of nodes) {
    const c = n.client();
    try {
      const role = (await c.call('ROLE')) as unknown[];
      if (role[0] === 'master' && Number(/cluster_slots_assigned:(\d+)/.exec(String(await c.call('CLUSTER', 'INFO')))?.[1] ?? 0) > 0) {
        const mine = String(await c.call('CLUSTER', 'NODES')).split('\n').find((l) => l.includes('myself'));
        if (mine && mine.split(' ').length > 8) out.push(n);
      }
    } catch {
      /* down */
    } finally {
      c.disconnect();
    }
  }
  return out;
}

/**
 * Every key of the given masters (or one server), as key → "type/ttl?/value digest", by
 * DEBUG DIGEST-VALUE (the servers run with --enable-debug-command yes). Keys starting with
 * `__ferry:` are left out unless `withFerryKeys`.
 */
export async function keyDigests(servers: TestServer[], withFerryKeys = false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const s of servers) {
    const c = s.client();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await c.scanBuffer(cursor, 'COUNT', 1000);
        cursor = String(next);
        const wanted = keys.filter((k) => withFerryKeys || !k.toString('latin1').startsWith('__ferry:'));
        if (wanted.length === 0) continue;
        const p = c.pipeline();
        for (const k of wanted) {
          p.type(k);
          p.pttl(k);
          p.call('DEBUG', 'DIGEST-VALUE', k);
        }
        const res = (await p.exec()) ?? [];
        wanted.forEach((k, i) => {
          const [t, ttl, d] = [res[3 * i][1], res[3 * i + 1][1], res[3 * i + 2][1]];
          out.set(printableKey(k), `${t}/${Number(ttl) > 0 ? 'ttl' : '-'}/${String(d)}`);
        });
      } while (cursor !== '0');
    } finally {
      c.disconnect();
    }
  }
  return out;
}

/** A key as text: itself when printable ASCII, else `hex:…`. */
function printableKey(k: Buffer): string {
  const s = k.toString('latin1');
  return /^[\x20-\x7e]*$/.test(s) ? s : `hex:${k.toString('hex')}`;
}

/** Differences between two key maps, grouped by slot (empty when equal). */
export function diffBySlot(a: Map<string, string>, b: Map<string, string>, limit = 10): string[] {
  const out: string[] = [];
  const slot = (k: string): number => keySlot(k.startsWith('hex:') ? Buffer.from(k.slice(4), 'hex') : k);
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`slot ${slot(k)} ${k}: ${v} vs ${b.get(k) ?? 'missing'}`);
  for (const k of b.keys()) if (!a.has(k)) out.push(`slot ${slot(k)} ${k}: missing vs ${b.get(k)}`);
  return out.slice(0, limit);
}

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** A background writer; `stop()` resolves with the number of commands acknowledged. */
export interface SlotWorkload {
  stop(): Promise<number>;
  readonly error: Error | null;
}

export interface SlotWorkloadOptions {
  prefix?: string;
  /** A standalone source only: MSET, DEL and one MULTI/EXEC in ten span slots. */
  crossSlot?: boolean;
  /** Commands per second at most (default 10,000). */
  opsPerSec?: number;
  /** The load stops by itself after this long (default 60 s). */
  maxMs?: number;
}

/**
 * Mixed writes in rounds of 50 concurrent commands (a plain or a cluster-aware client): strings,
 * INCR, hashes, lists, sets, zsets, expiries, deletes, MSET, and MULTI/EXEC blocks whose keys share
 * a slot (hash tag). A round with failed commands (a failover under way) is retried after 50 ms;
 * only acknowledged commands count. Registered as a background load (helpers/loads.ts): it ends at
 * stop(), when the client is closed, or at `maxMs`.
 */
export function slotWorkload(c: Redis | Cluster, opts: SlotWorkloadOptions = {}): SlotWorkload {
  const p = opts.prefix ?? 'w';
  const pace = pacer(opts.opsPerSec ?? 10_000);
  const maxMs = opts.maxMs ?? 60_000;
  const started = Date.now();
  let stop = false;
  let error: Error | null = null;
  let acked = 0;
  let n = 0;
  const run = (async () => {
    while (!stop && !error) {
      if (c.status === 'end') error = new Error('the client was closed');
      else if (Date.now() - started > maxMs) error = new Error(`still running after its limit of ${maxMs} ms`);
      if (error) break;
      const round: Array<Promise<unknown>> = [];
      for (let i = 0; i < 50; i++, n++) {
        const k = `${p}:${n % 500}`;
        const t = `{${p}t${n % 7}}`;
        switch (n % 12) {
          case 0: round.push(c.set(k, `v${n}`)); break;
          case 1: round.push(c.incr(`${p}:ctr:${n % 17}`)); break;
          case 2: round.push(c.hset(`${p}:h:${n % 31}`, `f${n % 7}`, n)); break;
          case 3: round.push(c.rpush(`${p}:l:${n % 13}`, `e${n}`)); break;
          case 4: round.push(c.sadd(`${p}:s:${n % 11}`, `m${n % 97}`)); break;
          case 5: round.push(c.zadd(`${p}:z:${n % 5}`, n % 1000, `m${n % 50}`)); break;
          case 6: round.push(c.pexpire(k, 600_000 + n)); break;
          case 7: round.push(c.del(`${p}:${(n + 250) % 500}`)); break;
          case 8: round.push(opts.crossSlot ? c.mset(`${p}:m:${n % 50}`, n, `${p}:n:${n % 50}`, n) : c.mset(`${t}:m`, n, `${t}:n`, n)); break;
          case 9: round.push(c.multi().incr(`${t}:tx`).lpush(`${t}:txl`, n).exec()); break;
          case 10: round.push(opts.crossSlot && n % 5 === 0 ? c.multi().incr(`${p}:xa`).incr(`${p}:xb`).exec() : c.append(`${t}:ap`, 'x')); break;
          case 11: round.push(opts.crossSlot ? c.del(`${p}:${(n + 100) % 500}`, `${p}:${(n + 101) % 500}`) : c.unlink(`${p}:${(n + 100) % 500}`)); break;
        }
      }
      const res = await Promise.allSettled(round);
      const ok = res.filter((r) => r.status === 'fulfilled').length;
      acked += ok;
      if (ok < res.length) await new Promise((r) => setTimeout(r, 50));
      await pace(round.length);
    }
  })();
  const load = {
    name: `slots ${p}`,
    get error() {
      return error;
    },
    async halt() {
      stop = true;
      await run;
    },
  };
  trackLoad(load);
  return {
    get error() {
      return error;
    },
    async stop() {
      await load.halt();
      untrackLoad(load);
      if (error) throw new Error(`background load "${load.name}" had stopped by itself: ${error.message}`);
      return acked;
    },
  };
}
