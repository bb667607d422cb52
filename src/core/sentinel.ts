/**
 * Redis Sentinel: finding the master of a `sentinel://` endpoint, reading what every Sentinel
 * knows about it (settings, replicas, other Sentinels, quorum), and watching for failovers.
 * Ground floor: used by the connections (connect.ts), preflight, the Sentinel steps and the engine's
 * re-resolution in `ferry sync`.
 *
 * Facts from the Redis source (src/sentinel.c, Oct 2024; cited by function):
 * - `SENTINEL GET-MASTER-ADDR-BY-NAME` answers the promoted replica as soon as a failover reached
 *   the reconf-slaves state (sentinelGetCurrentMasterAddress), before `+switch-master`.
 * - `SENTINEL MASTER` reports quorum, down-after-milliseconds, failover-timeout, parallel-syncs,
 *   config-epoch, flags and the scripts, but never auth-pass/auth-user, rename-command or
 *   master-reboot-down-after-period (addReplySentinelRedisInstance).
 * - `SENTINEL CKQUORUM` says whether enough Sentinels are usable for the quorum and for the
 *   majority that authorizes a failover (sentinelIsQuorumReachable).
 * - A Sentinel learns replicas only from the master's `INFO replication` (sentinelRefreshInstanceInfo,
 *   every `info-period` = 10 s) and each replica's `slave_priority` from that replica's own INFO.
 */
import { Redis } from 'ioredis';
import { connectOrThrow } from './connect-client.js';
import { UsageError } from './errors.js';
import { type Endpoint, type SentinelNode, hostPort, toPublicUrl } from './endpoint.js';

/** A host and port as Sentinel reports them. */
export interface Addr {
  host: string;
  port: number;
}

/** The settings of one master on one Sentinel that ferry records and restores (numbers). */
export interface SentinelSettings {
  quorum: number;
  'down-after-milliseconds': number;
  'failover-timeout': number;
  'parallel-syncs': number;
}

export const SETTING_NAMES = ['down-after-milliseconds', 'failover-timeout', 'parallel-syncs'] as const;

/** A replica as one Sentinel knows it (`SENTINEL REPLICAS`). */
export interface SentinelReplica extends Addr {
  flags: string;
  priority: number;
  /** `master-link-status` ok. */
  linkOk: boolean;
  /** ms since Sentinel last read its INFO. */
  infoRefreshMs: number;
}

/** What one Sentinel says about the master (no secret: auth is recorded as present or not). */
export interface SentinelView {
  node: string;
  reachable: boolean;
  error?: string;
  /** GET-MASTER-ADDR-BY-NAME, host:port. */
  master?: string;
  settings?: SentinelSettings;
  configEpoch?: number;
  flags?: string;
  /** notification-script / client-reconfig-script set for this master (REMOVE drops them). */
  scripts?: string[];
  /** True when the master needs a password and this Sentinel reaches it (so it has auth-pass). */
  authPassPresent?: boolean;
  authUserPresent?: boolean;
  replicas?: SentinelReplica[];
  /** Other Sentinels it knows for this master (host:port). */
  sentinels?: string[];
  quorumOk?: boolean;
  quorumMessage?: string;
}

/** Everything preflight reads from the Sentinels, stored in the state file. */
export interface SentinelFacts {
  name: string;
  /** The master ferry migrates from (host:port), as the Sentinels named it. */
  master: string;
  views: SentinelView[];
}

const CONNECT_MS = 2000;
const COMMAND_MS = 3000;

/**
 * The Sentinels' own credentials: the spec's (withSentinelAuth), else the environment's, so any
 * command that connects through a sentinel:// URL (verify too) finds them the same way.
 */
function sentinelAuth(e: Endpoint): { username?: string; password?: string } {
  const s = e.sentinel!;
  return { username: s.username ?? (process.env.FERRY_SENTINEL_USERNAME || undefined), password: s.password ?? (process.env.FERRY_SENTINEL_PASSWORD || undefined) };
}

/** A connection to one Sentinel (its own password comes from FERRY_SENTINEL_PASSWORD). */
export async function connectSentinel(node: SentinelNode, e: Endpoint): Promise<Redis> {
  const c = new Redis({
    host: node.host,
    port: node.port,
    ...sentinelAuth(e),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: CONNECT_MS,
    commandTimeout: COMMAND_MS,
  });
  return connectOrThrow(c, (err) => {
    const line = err.message.split('\n')[0];
    return new Error(err.code === 'ECONNREFUSED' ? 'connection refused' : /NOAUTH|WRONGPASS|invalid password/i.test(err.message) ? `${line} (set FERRY_SENTINEL_PASSWORD)` : line);
  });
}

/** `SENTINEL GET-MASTER-ADDR-BY-NAME`: null when this Sentinel does not monitor `name`. */
export async function askMaster(c: Redis, name: string): Promise<Addr | null> {
  const r = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
  return r ? { host: r[0], port: Number(r[1]) } : null;
}

/** Runs `fn` on every Sentinel of `e` in parallel; unreachable ones come back as errors. */
export async function onEachSentinel<T>(e: Endpoint, fn: (c: Redis, node: SentinelNode) => Promise<T>, nodes: SentinelNode[] = e.sentinel!.nodes): Promise<Array<{ node: SentinelNode; value?: T; error?: string }>> {
  return Promise.all(
    nodes.map(async (node) => {
      let c: Redis | undefined;
      try {
        c = await connectSentinel(node, e);
        return { node, value: await fn(c, node) };
      } catch (err) {
        return { node, error: (err as Error).message.split('\n')[0] };
      } finally {
        c?.disconnect();
      }
    }),
  );
}

/**
 * The master the Sentinels name now: the answer most reachable Sentinels give (during a failover
 * they may briefly differ). A UsageError (exit 2) when none answers or none monitors the name.
 */
export async function resolveMaster(e: Endpoint): Promise<Addr> {
  const s = e.sentinel!;
  const answers = await onEachSentinel(e, (c) => askMaster(c, s.name));
  const votes = new Map<string, { addr: Addr; n: number }>();
  for (const a of answers) {
    if (!a.value) continue;
    const k = hostPort(a.value);
    votes.set(k, { addr: a.value, n: (votes.get(k)?.n ?? 0) + 1 });
  }
  const best = [...votes.values()].sort((a, b) => b.n - a.n)[0];
  if (best) return best.addr;
  const where = toPublicUrl(e);
  if (answers.some((a) => !a.error)) throw new UsageError(`no Sentinel of ${where} monitors a master named "${s.name}"; check the name after the last / in --from`);
  const why = answers.map((a) => `${hostPort(a.node)}: ${a.error}`).join('; ');
  throw new UsageError(`cannot reach any Sentinel of ${where} (${why}); check --from`);
}

/** For a `sentinel://` endpoint not yet resolved: a copy with the master's host and port. */
export async function resolveEndpoint(e: Endpoint): Promise<Endpoint> {
  if (!e.sentinel || e.host) return e;
  const m = await resolveMaster(e);
  return { ...e, host: m.host, port: m.port };
}

/** A copy of a resolved `sentinel://` endpoint that asks the Sentinels again on its next use. */
export function unresolved(e: Endpoint): Endpoint {
  return e.sentinel ? { ...e, host: '', port: 0 } : e;
}

/** `[k1, v1, k2, v2…]` → map. */
function pairs(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const a = flat as string[];
  for (let i = 0; i + 1 < a.length; i += 2) out[String(a[i])] = String(a[i + 1]);
  return out;
}

/** `SENTINEL REPLICAS name` as records. */
export async function sentinelReplicas(c: Redis, name: string): Promise<SentinelReplica[]> {
  return ((await c.call('SENTINEL', 'REPLICAS', name)) as unknown[]).map((r) => {
    const f = pairs(r);
    return { host: f.ip, port: Number(f.port), flags: f.flags ?? '', priority: Number(f['slave-priority'] ?? 100), linkOk: f['master-link-status'] === 'ok', infoRefreshMs: Number(f['info-refresh'] ?? 0) };
  });
}

/** `SENTINEL MASTER name` as a map. */
export async function sentinelMaster(c: Redis, name: string): Promise<Record<string, string>> {
  return pairs(await c.call('SENTINEL', 'MASTER', name));
}

/** Reads one Sentinel's view of the master (read-only SENTINEL subcommands). */
export async function readSentinelView(c: Redis, node: SentinelNode, e: Endpoint): Promise<SentinelView> {
  const name = e.sentinel!.name;
  const addr = await askMaster(c, name);
  if (!addr) return { node: hostPort(node), reachable: true, error: `does not monitor a master named "${name}"` };
  const m = await sentinelMaster(c, name);
  const replicas = await sentinelReplicas(c, name);
  const sentinels = ((await c.call('SENTINEL', 'SENTINELS', name)) as unknown[]).map((r) => {
    const f = pairs(r);
    return hostPort({ host: f.ip, port: Number(f.port) });
  });
  let quorumOk = true;
  let quorumMessage = '';
  try {
    quorumMessage = String(await c.call('SENTINEL', 'CKQUORUM', name));
  } catch (err) {
    quorumOk = false;
    quorumMessage = (err as Error).message;
  }
  const flags = m.flags ?? '';
  const up = !/s_down|o_down|disconnected/.test(flags);
  return {
    node: hostPort(node),
    reachable: true,
    master: hostPort(addr),
    settings: {
      quorum: Number(m.quorum),
      'down-after-milliseconds': Number(m['down-after-milliseconds']),
      'failover-timeout': Number(m['failover-timeout']),
      'parallel-syncs': Number(m['parallel-syncs']),
    },
    configEpoch: Number(m['config-epoch'] ?? 0),
    flags,
    scripts: ['notification-script', 'client-reconfig-script'].filter((k) => m[k]),
    // NOTE: Sentinel never reports auth-pass; a Sentinel that reaches a password-protected master
    // (its PINGs are answered, so it is not s_down) must hold one.
    authPassPresent: !!e.password && up,
    authUserPresent: !!e.username && up,
    replicas,
    sentinels,
    quorumOk,
    quorumMessage: quorumMessage.split('\n')[0],
  };
}

/**
 * Reads every Sentinel's view: those in the URL and every other Sentinel they know for the
 * master (all of them must be repointed at the cutover, so all of them count).
 */
export async function gatherSentinelFacts(e: Endpoint, master: Addr): Promise<SentinelFacts> {
  const seen = new Set<string>();
  const views: SentinelView[] = [];
  let todo: SentinelNode[] = e.sentinel!.nodes;
  while (todo.length) {
    for (const n of todo) seen.add(hostPort(n));
    const got = await onEachSentinel(e, (c, node) => readSentinelView(c, node, e), todo);
    const next: SentinelNode[] = [];
    for (const g of got) {
      const v = g.value ?? { node: hostPort(g.node), reachable: false, error: g.error };
      views.push(v);
      for (const s of v.sentinels ?? []) if (!seen.has(s)) next.push(parseNode(s));
    }
    todo = next.filter((n, i) => next.findIndex((m) => hostPort(m) === hostPort(n)) === i);
  }
  return { name: e.sentinel!.name, master: hostPort(master), views };
}

/** Every Sentinel ferry must act on: the URL's and those discovered in preflight. */
export function allSentinels(e: Endpoint, facts?: SentinelFacts | null): SentinelNode[] {
  const nodes = [...e.sentinel!.nodes];
  for (const v of facts?.views ?? []) if (!nodes.some((n) => hostPort(n) === v.node)) nodes.push(parseNode(v.node));
  return nodes;
}

/** `host:port` or `[v6]:port` → node. */
export function parseNode(s: string): SentinelNode {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

/** True when two addresses are the same server (loopback spellings count as one host). */
export function sameAddr(a: Addr, b: Addr): boolean {
  if (a.port !== b.port) return false;
  const local = /^(127\.0\.0\.1|localhost|::1)$/;
  return a.host === b.host || (local.test(a.host) && local.test(b.host));
}

/**
 * Calls `onSwitch` when any Sentinel publishes `+switch-master` for the master (a failover
 * finished; payload `<name> <old-ip> <old-port> <new-ip> <new-port>`, sentinelFailoverSwitchToPromotedSlave).
 * Subscriptions reconnect by themselves; `close()` ends them.
 */
export function watchSwitchMaster(e: Endpoint, onSwitch: (to: Addr) => void): { close(): void } {
  const s = e.sentinel!;
  const subs = s.nodes.map((node) => {
    // NOTE: the SUBSCRIBE waits in the offline queue until the Sentinel answers, and ioredis
    // subscribes again after every reconnect.
    const c = new Redis({ host: node.host, port: node.port, ...sentinelAuth(e), connectTimeout: CONNECT_MS, maxRetriesPerRequest: null, retryStrategy: () => 1000 });
    c.on('error', () => {});
    c.on('message', (_channel: string, message: string) => {
      const p = message.split(' ');
      if (p[0] === s.name && p.length >= 5) onSwitch({ host: p[3], port: Number(p[4]) });
    });
    c.subscribe('+switch-master').catch(() => {});
    return c;
  });
  return {
    close() {
      for (const c of subs) c.disconnect();
    },
  };
}
