/**
 * What preflight reads from the servers: the facts the plan and the safety checks are built from.
 * Plain data (no secret), stored in the state file so a resumed run sees what the first one saw.
 */
import type { Redis } from 'ioredis';
import { info, parseInfoFields } from './connect.js';
import { type MissingPermission, type Permission, probePermissions } from './permissions.js';

/** One server as preflight saw it. */
export interface ServerFacts {
  url: string;
  version: string;
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
}

/** The CONFIG parameters preflight reads. */
export const CONFIG_KEYS = ['repl-backlog-size', 'client-output-buffer-limit', 'replica-read-only', 'save', 'appendonly', 'maxmemory', 'masteruser', 'repl-diskless-sync', 'repl-diskless-sync-delay', 'tls-replication'];

/** Reads one server's facts (read-only commands only: INFO, CONFIG GET). */
export async function readServerFacts(client: Redis, url: string): Promise<ServerFacts> {
  const i = await info(client, 'all');
  const keysByDb: Record<string, number> = {};
  let keys = 0;
  for (const [k, v] of Object.entries(i)) {
    if (!/^db\d+$/.test(k)) continue;
    const n = Number(parseInfoFields(v).keys ?? 0);
    keysByDb[k.slice(2)] = n;
    keys += n;
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
  };
}

async function readConfig(client: Redis): Promise<Record<string, string> | null> {
  try {
    const flat = (await client.call('CONFIG', 'GET', ...CONFIG_KEYS)) as string[];
    const out: Record<string, string> = {};
    for (let j = 0; j + 1 < flat.length; j += 2) out[flat[j]] = flat[j + 1];
    return out;
  } catch {
    // NOTE: managed services often rename or forbid CONFIG; preflight then advises instead of failing.
    return null;
  }
}

/**
 * Replication-stream bytes per second on a master: the growth of `master_repl_offset` over
 * `ms`. That is the number that sizes the backlog and the replica output buffer.
 */
export async function sampleWriteRate(client: Redis, ms = 1000): Promise<number> {
  const a = Number((await info(client, 'replication')).master_repl_offset ?? 0);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  const b = Number((await info(client, 'replication')).master_repl_offset ?? 0);
  return Math.max(0, ((b - a) * 1000) / Math.max(1, Date.now() - t0));
}

/**
 * Reads all facts: source, target (unless ferry will start it), write rate, and — given the run's
 * `perms` — the ACL rules either user lacks (harmless probes, see core/permissions.ts).
 */
export async function gatherFacts(source: Redis, sourceUrl: string, target: Redis | null, targetUrl: string, sampleMs = 1000, perms?: Permission[]): Promise<Facts> {
  const [s, t] = await Promise.all([readServerFacts(source, sourceUrl), target ? readServerFacts(target, targetUrl) : Promise.resolve(null)]);
  const writeRateBytesPerSec = await sampleWriteRate(source, sampleMs);
  const facts: Facts = { source: s, target: t, writeRateBytesPerSec, sampleMs };
  if (perms) {
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
  return facts.source.replicas.filter((r) => r.port !== targetPort);
}
