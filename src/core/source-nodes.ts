/**
 * The source masters: the servers the fence pauses, the cutover gate pauses, the drain watches and
 * retire changes. One general list, so the steps need no cluster special case:
 * - a single source (`--from host:port`) is a list of one: the run's source connection;
 * - a Redis Cluster source is every master that serves slots, read live from `CLUSTER NODES` of
 *   the `--from` node (after a source failover the promoted replica is in the list and the old
 *   master is not: the links follow it, engine/cluster/shard-link.ts). Every master is reached
 *   with the `--from` credentials and TLS, as `ferry sync` does.
 * Plans are pure: they name the masters preflight saw (`facts.source.cluster`).
 */
import type { Redis } from 'ioredis';
import { connectEndpoint } from './connect.js';
import { type Endpoint, type TlsOptions, hostPort } from './endpoint.js';
import type { Facts } from './facts.js';
import { parseClusterNodes } from '../engine/cluster/slots.js';

/** One source master as the plan names it. */
export interface PlannedNode {
  /** host:port */
  addr: string;
  /** The plan's `on`: `source` for a single source, `source host:port` for a cluster's master. */
  on: string;
}

/** True when the run's source is a Redis Cluster (preflight saw `cluster_enabled:1`). */
export function isClusterSource(facts: Facts | null | undefined): boolean {
  return !!facts?.source?.cluster;
}

/** The source masters preflight saw, for the plan (pure). */
export function plannedSourceMasters(from: Endpoint, facts: Facts | null | undefined): PlannedNode[] {
  const masters = facts?.source?.cluster?.masters;
  if (!masters) return [{ addr: hostPort(from), on: 'source' }];
  return masters.map((m) => ({ addr: m.addr, on: `source ${m.addr}` }));
}

/** `host:port` (IPv6 in brackets or not) → an endpoint with the source's credentials. */
export function nodeEndpoint(from: Endpoint, addr: string): Endpoint {
  const colon = addr.lastIndexOf(':');
  return { ...from, sentinel: undefined, host: addr.slice(0, colon).replace(/^\[|\]$/g, '') || from.host, port: Number(addr.slice(colon + 1)), db: 0 };
}

/** The masters with slots of the cluster `seed` belongs to, now (CLUSTER NODES: every version). */
export async function liveClusterMasters(seed: Redis, from: Endpoint): Promise<string[]> {
  const topo = parseClusterNodes(String(await seed.call('CLUSTER', 'NODES')));
  return topo.shards.filter((s) => s.ranges.length > 0 && s.master.healthy).map((s) => hostPort({ host: s.master.host || from.host, port: s.master.port }));
}

/** Connections to source nodes by address, made on first use, reconnected when dropped. */
export class NodePool {
  private readonly clients = new Map<string, Redis>();

  constructor(
    private readonly from: Endpoint,
    private readonly tls: TlsOptions | undefined,
  ) {}

  async get(addr: string): Promise<Redis> {
    const have = this.clients.get(addr);
    if (have?.status === 'ready') return have;
    have?.disconnect();
    const c = await connectEndpoint(nodeEndpoint(this.from, addr), { role: 'source', flag: '--from', tls: this.tls });
    this.clients.set(addr, c);
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.disconnect();
    this.clients.clear();
  }
}
