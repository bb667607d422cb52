/**
 * What preflight reads from the servers: the facts the plan and the safety checks are built from.
 * Plain data (no secret), stored in the state file so a resumed run sees what the first one saw.
 */
import { Redis as RedisClient, type Redis } from 'ioredis';
import { info, parseInfoFields } from './connect.js';
import { type MissingPermission, type Permission, probePermissions } from './permissions.js';
import type { SentinelFacts } from './sentinel.js';

/** One server as preflight saw it. */
export interface ServerFacts {
  url: string;
  version: string;
  /** Valkey's own version (INFO valkey_version); Valkey reports redis_version 7.2.4 as well. */
  valkeyVersion?: string;
  runId: string;
  role: 'master' | 'replica';
  /** For a replica: its master's host:port. */
  masterOf?: string;
  keys: number;
  keysByDb: Record<string, number>;
  usedMemory: number;
  totalSystemMemory: number;
  maxmemory: number;
  masterReplOffset: number;
  replicas: Array<{ host: string; port: number; state: string }>;
  /** Selected CONFIG values, or null when CONFIG is disabled/renamed on the server. */
  config: Record<string, string> | null;
  aofEnabled: boolean;
  rdbSaveRules: string;
  bgsaveInProgress: boolean;
  /** Hash keys with field TTLs (7.4+ `INFO keyspace` … `subexpiry=N`, summed over dbs). */
  subexpiryKeys?: number;
  /** Function libraries (FUNCTION LIST), or null when the server has no FUNCTION (before 7.0). */
  functionLibraries?: number | null;
  /** Loaded modules (MODULE LIST), or null when MODULE is not available (renamed, managed). */
  modules?: Array<{ name: string; ver: number }> | null;
  /**
   * Source only, when it loads modules the target lacks: keys of non-core types (TYPE replies such
   * as ReJSON-RL) that the run's key filter would copy, by type name.
   */
  moduleKeys?: Record<string, number>;
  /**
   * A Redis Cluster node (`cluster_enabled:1`): its masters with their slot counts and key counts
   * (`keys` and `keysByDb` are then the sums over the masters).
   */
  cluster?: {
    masters: Array<{ addr: string; slots: number; keys: number; usedMemory?: number }>;
    /** An open slot migration a master reports on its own line of CLUSTER NODES (`[slot->-id]`), as text. */
    openMigration?: string;
  };
}

/** Everything the plan depends on. */
export interface Facts {
  source: ServerFacts;
  /** null when ferry will start the target itself (`--to start`). */
  target: ServerFacts | null;
  /** Replication stream bytes per second on the source, sampled over `sampleMs`. */
  writeRateBytesPerSec: number;
  sampleMs: number;
  /** ACL rules the users lack (core/permissions.ts probes); absent when not probed. */
  missingPermissions?: MissingPermission[];
  /** For a `sentinel://` source: what every Sentinel says about the master (src/core/sentinel.ts). */
  sentinel?: SentinelFacts | null;
  /** How the rate was measured (absent in states written before it was recorded: repl-offset). */
  writeRateMethod?: WriteRateMethod;
}

/** The CONFIG parameters preflight reads. */
export const CONFIG_KEYS = ['repl-backlog-size', 'client-output-buffer-limit', 'replica-read-only', 'save', 'appendonly', 'maxmemory', 'masteruser', 'repl-diskless-sync', 'repl-diskless-sync-delay', 'tls-replication'];

/** Reads one server's facts (read-only commands only: INFO, CONFIG GET). */
export async function readServerFacts(client: Redis, url: string): Promise<ServerFacts> {
  const i = await info(client, 'all');
  const keysByDb: Record<string, number> = {};
  let keys = 0;
  let subexpiryKeys = 0;
  for (const [k, v] of Object.entries(i)) {
    if (!/^db\d+$/.test(k)) continue;
    const fields = parseInfoFields(v);
    const n = Number(fields.keys ?? 0);
    keysByDb[k.slice(2)] = n;
    keys += n;
    subexpiryKeys += Number(fields.subexpiry ?? 0);
  }
  const replicas: ServerFacts['replicas'] = [];
  for (const [k, v] of Object.entries(i)) {
    if (!/^slave\d+$/.test(k)) continue;
    const f = parseInfoFields(v);
    replicas.push({ host: f.ip, port: Number(f.port), state: f.state });
  }
  const role = i.role === 'slave' ? 'replica' : 'master';
  const config = await readConfig(client);
  return {
    url,
    version: i.redis_version ?? 'unknown',
    ...(i.valkey_version ? { valkeyVersion: i.valkey_version } : {}),
    runId: i.run_id ?? '',
    role,
    masterOf: role === 'replica' ? `${i.master_host}:${i.master_port}` : undefined,
    keys,
    keysByDb,
    usedMemory: Number(i.used_memory ?? 0),
    totalSystemMemory: Number(i.total_system_memory ?? 0),
    maxmemory: Number(i.maxmemory ?? 0),
    masterReplOffset: Number(i.master_repl_offset ?? 0),
    replicas,
    config,
    aofEnabled: i.aof_enabled === '1',
    rdbSaveRules: config?.save ?? '',
    bgsaveInProgress: i.rdb_bgsave_in_progress === '1',
    subexpiryKeys,
    functionLibraries: await countFunctionLibraries(client),
    modules: await listModules(client),
    ...(i.cluster_enabled === '1' ? await clusterFacts(client) : {}),
  };
}

/**
 * A cluster's masters (CLUSTER NODES: every version) and their key counts (DBSIZE on each, with
 * the same credentials); `keys`/`keysByDb` become the sums (a cluster has only db 0).
 */
async function clusterFacts(client: Redis): Promise<Partial<ServerFacts>> {
  const text = String(await client.call('CLUSTER', 'NODES'));
  const masters: Array<{ addr: string; slots: number; keys: number; usedMemory: number }> = [];
  let openMigration: string | undefined;
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8 || !f[2].split(',').includes('master')) continue;
    let slots = 0;
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue;
      const [a, b] = s.split('-').map(Number);
      slots += (b ?? a) - a + 1;
    }
    if (slots === 0) continue;
    const hostPort = f[1].split('@')[0];
    const colon = hostPort.lastIndexOf(':');
    const host = hostPort.slice(0, colon) || String(client.options.host);
    const port = Number(hostPort.slice(colon + 1));
    const node = new RedisClient({ ...client.options, host, port, lazyConnect: true, enableOfflineQueue: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    node.on('error', () => {});
    try {
      const mem = Number(/^used_memory:(\d+)/m.exec(await node.info('memory'))?.[1] ?? 0);
      masters.push({ addr: `${host}:${port}`, slots, keys: await node.dbsize(), usedMemory: mem });
      // A master reports its open migrations only on its own (`myself`) line: redis 7.0 src/cluster.c
      // clusterGenNodeDescription, "Just for MYSELF node we also dump info about slots that we are migrating".
      const own = String(await node.call('CLUSTER', 'NODES')).split('\n').find((l) => l.split(' ')[2]?.split(',').includes('myself'));
      const mig = /\[(\d+)-([<>])-([0-9a-f]+)\]/.exec(own ?? '');
      if (mig && !openMigration) openMigration = `slot ${mig[1]} is ${mig[2] === '>' ? 'migrating' : 'importing'} on the source master ${host}:${port}`;
    } finally {
      node.disconnect();
    }
  }
  const keys = masters.reduce((n, m) => n + m.keys, 0);
  return { cluster: { masters, ...(openMigration ? { openMigration } : {}) }, keys, keysByDb: keys ? { 0: keys } : {} };
}

/** FUNCTION LIST's library count; null before 7.0 (no FUNCTION command) or when it is refused. */
async function countFunctionLibraries(client: Redis): Promise<number | null> {
  try {
    return ((await client.call('FUNCTION', 'LIST')) as unknown[]).length;
  } catch {
    return null;
  }
}

/** MODULE LIST as [{ name, ver }]; null when MODULE is not available. */
async function listModules(client: Redis): Promise<Array<{ name: string; ver: number }> | null> {
  try {
    const rows = (await client.call('MODULE', 'LIST')) as unknown[][];
    return rows.map((r) => {
      const o: Record<string, unknown> = {};
      for (let j = 0; j + 1 < r.length; j += 2) o[String(r[j])] = r[j + 1];
      return { name: String(o.name), ver: Number(o.ver ?? 0) };
    });
  } catch {
    return null;
  }
}

/** The types every server knows; any other TYPE reply is a module's. */
const CORE_TYPES = new Set(['string', 'list', 'set', 'zset', 'hash', 'stream', 'none']);

/**
 * Counts the keys of module types in every db (SCAN + TYPE, read-only), those for which `passes`
 * is true (the run's --include/--exclude). Only called when the source loads modules the target
 * lacks, so an ordinary migration pays nothing.
 */
export async function countModuleKeys(client: Redis, dbs: number[], passes: (key: Buffer) => boolean): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    for (const db of dbs) {
      await client.select(db);
      let cursor = '0';
      do {
        const [next, keys] = (await client.scanBuffer(cursor, 'COUNT', 1000)) as unknown as [Buffer, Buffer[]];
        cursor = next.toString();
        const p = client.pipeline();
        for (const k of keys) p.type(k);
        const types = (await p.exec()) ?? [];
        types.forEach(([, t], j) => {
          const type = String(t);
          if (!CORE_TYPES.has(type) && passes(keys[j])) out[type] = (out[type] ?? 0) + 1;
        });
      } while (cursor !== '0');
    }
  } finally {
    await client.select(0);
  }
  return out;
}

/** Modules the source loads and the target does not (by name). */
export function missingModules(source: ServerFacts, target: ServerFacts): string[] {
  const have = new Set((target.modules ?? []).map((m) => m.name.toLowerCase()));
  return (source.modules ?? []).map((m) => m.name).filter((n) => !have.has(n.toLowerCase()));
}

async function readConfig(client: Redis): Promise<Record<string, string> | null> {
  const out: Record<string, string> = {};
  try {
    const flat = (await client.call('CONFIG', 'GET', ...CONFIG_KEYS)) as string[];
    for (let j = 0; j + 1 < flat.length; j += 2) out[flat[j]] = flat[j + 1];
    return out;
  } catch {
    // NOTE: CONFIG GET takes several parameters only from 7.0 (src/commands/config-get.json at
    // 7.0.15, history "7.0.0"; 5.0 and 6.2 answer "wrong number of arguments"): ask one at a time.
  }
  try {
    const p = client.pipeline();
    for (const k of CONFIG_KEYS) p.call('CONFIG', 'GET', k);
    const replies = (await p.exec()) ?? [];
    if (replies.every(([err]) => err)) return null;
    for (const [err, flat] of replies) {
      if (err) continue;
      const f = flat as string[];
      for (let j = 0; j + 1 < f.length; j += 2) out[f[j]] = f[j + 1];
    }
    return out;
  } catch {
    // NOTE: managed services often rename or forbid CONFIG; preflight then advises instead of failing.
    return null;
  }
}

/** How `sampleWriteRate` measured: the replication offset, or the bytes clients sent. */
export type WriteRateMethod = 'repl-offset' | 'client-input';

/**
 * Replication-stream bytes per second on a master: the growth of `master_repl_offset` over
 * `ms`. That is the number that sizes the backlog and the replica output buffer.
 *
 * NOTE: a master that has never had a replica has no backlog, and then does not feed a
 * replication stream at all: its master_repl_offset stands still however much is written (redis
 * src/replication.c, replicationFeedSlaves: "If there aren't slaves, and there is no backlog
 * buffer to populate, we can return ASAP"). There the growth of `total_net_input_bytes` (INFO
 * stats: every byte clients sent) stands in: an upper bound of the stream the writes will make,
 * reads included, which errs on the side of a bigger backlog.
 */
export async function sampleWriteRate(client: Redis, ms = 1000): Promise<number> {
  return (await sampleWriteRateWith(client, ms)).rate;
}

/** `sampleWriteRate` with the method it used. */
export async function sampleWriteRateWith(client: Redis, ms = 1000): Promise<{ rate: number; method: WriteRateMethod }> {
  const read = async () => {
    const [r, st] = await Promise.all([info(client, 'replication'), info(client, 'stats')]);
    return { offset: Number(r.master_repl_offset ?? 0), active: r.repl_backlog_active === '1', input: Number(st.total_net_input_bytes ?? 0), t: Date.now() };
  };
  const a = await read();
  await new Promise((r) => setTimeout(r, ms));
  const b = await read();
  const secs = Math.max(1, b.t - a.t) / 1000;
  if (a.active && b.active) return { rate: Math.max(0, (b.offset - a.offset) / secs), method: 'repl-offset' };
  return { rate: Math.max(0, (b.input - a.input) / secs), method: 'client-input' };
}

/**
 * Reads all facts: source, target (unless ferry will start it), write rate; when the source loads
 * modules the target lacks, the keys of module types that `keyPasses` (the run's filter) copies;
 * given the run's `perms`, the ACL rules either user lacks.
 */
export async function gatherFacts(source: Redis, sourceUrl: string, target: Redis | null, targetUrl: string, sampleMs = 1000, keyPasses: (key: Buffer) => boolean = () => true, perms?: Permission[]): Promise<Facts> {
  const [s, t] = await Promise.all([readServerFacts(source, sourceUrl), target ? readServerFacts(target, targetUrl) : Promise.resolve(null)]);
  if (t && missingModules(s, t).length > 0) s.moduleKeys = await countModuleKeys(source, Object.keys(s.keysByDb).map(Number), keyPasses);
  const { rate, method } = await sampleWriteRateWith(source, sampleMs);
  const facts: Facts = { source: s, target: t, writeRateBytesPerSec: rate, sampleMs, writeRateMethod: method };
  if (perms) {
    // The ACL rules either user lacks (harmless probes, see core/permissions.ts).
    facts.missingPermissions = [
      ...(await probePermissions(source, 'source', perms, s.version)),
      ...(target && t ? await probePermissions(target, 'target', perms, t.version) : []),
    ];
  }
  return facts;
}

/**
 * The source's replicas other than the target (matched by port: the address a replica reports
 * is the one the source sees, which need not be the one ferry was given).
 */
export function otherReplicas(facts: Facts, targetPort: number | undefined): ServerFacts['replicas'] {
  // A cluster source's replicas belong to its cluster: they cannot REPLICAOF a server outside it
  // (see core/cluster-safety.ts), so reparent leaves them alone (retire says what becomes of them).
  if (facts.source.cluster) return [];
  return facts.source.replicas.filter((r) => r.port !== targetPort);
}
