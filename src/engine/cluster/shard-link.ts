/**
 * One link of a cluster source: the engine (sync.ts) replicating one source master, and the
 * resolver that finds that shard's master again before every reconnect.
 *
 * A shard is known by its nodes (the master and its replicas when the sync started). After a
 * failover — `CLUSTER FAILOVER` on a replica, or a master that died — one of them is the master:
 * the old master, turned replica, closes its replicas' links as soon as it joins the new master's
 * history (redis src/replication.c slaveTryPartialResynchronization: "Master ID changed" →
 * disconnectSlaves; after a full sync, when it loads the new data). ferry then asks the cluster
 * which node of the shard is master now, checks with ROLE, and PSYNCs there with the replication id
 * and offset it has. psync2 makes that a
 * partial resync: a promoted replica keeps its old master's id as replid2, valid up to the offset
 * it was promoted at (shiftReplicationId: second_replid_offset = master_repl_offset + 1; accepted by
 * masterTryPartialResynchronization when the offset asked is at most that).
 */
import type { Endpoint } from '../../core/endpoint.js';
import { ferryClientName } from '../../core/connect.js';
import { hostPort } from '../../core/endpoint.js';
import { TargetConn } from '../apply/target-conn.js';
import { RespError } from '../resp/decoder.js';
import { SyncEngine, type SyncOptions } from '../sync.js';
import { fetchTopology } from './router.js';
import { rangesText, type ClusterShard } from './slots.js';

export interface ShardLinkOptions {
  linkId: number;
  shard: ClusterShard;
  /** Every node of the source cluster known at the start (to ask where the master is). */
  seeds: Endpoint[];
  /** Credentials and TLS of the source (the same on every node). */
  from: Endpoint;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
  /** Options for the engine (from, targetRole and resolveSource are set here). */
  engine: Omit<SyncOptions, 'from' | 'targetRole' | 'resolveSource'>;
  /** How long a reconnect may look for the shard's master (default 30 s). */
  resolveMs?: number;
}

/** See the file comment. */
export class ShardLink {
  readonly engine: SyncEngine;
  readonly linkId: number;
  /** The shard as discovered at the start. */
  readonly shard: ClusterShard;
  /** The master replicated now. */
  master: Endpoint;
  private readonly nodeIds: Set<string>;
  private readonly known: Endpoint[];

  constructor(private readonly opts: ShardLinkOptions) {
    this.linkId = opts.linkId;
    this.shard = opts.shard;
    this.master = this.endpoint(opts.shard.master.host, opts.shard.master.port);
    this.nodeIds = new Set([opts.shard.master.id, ...opts.shard.replicas.map((r) => r.id)]);
    this.known = [...opts.seeds];
    this.engine = new SyncEngine({
      ...opts.engine,
      from: this.master,
      targetRole: { linkId: opts.linkId, shardOfCluster: true },
      resolveSource: () => this.resolve(),
    });
  }

  /** For messages: `host:port (slots a-b)`. */
  describe(): string {
    return `${hostPort(this.master)} (slots ${rangesText(this.opts.shard.ranges)})`;
  }

  /**
   * The shard's master now: the node of this shard (by id) that the cluster names master and that
   * says so itself (ROLE). Waits for a failover in progress, up to `resolveMs`.
   */
  async resolve(): Promise<Endpoint> {
    const deadline = Date.now() + (this.opts.resolveMs ?? 30_000);
    for (;;) {
      // What each node said in this round, for the error: every one of them, not only the last.
      const said: string[] = [];
      for (const node of [this.master, ...this.known]) {
        try {
          const found = await this.askNode(node);
          if (found) {
            this.master = found;
            return found;
          }
          said.push(`${hostPort(node)}: its view names no healthy master with slots among the shard's nodes`);
        } catch (e) {
          said.push(`${hostPort(node)}: ${(e as Error).message}`);
        }
      }
      if (Date.now() > deadline) throw new Error(`the source shard of ${this.describe()} has no reachable master (${said.join('; ') || 'no node to ask'})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async askNode(node: Endpoint): Promise<Endpoint | null> {
    const topo = await withConn(node, this.opts.tls, (conn) => fetchTopology((a) => conn.call(a)));
    for (const s of topo.shards) {
      for (const n of [s.master, ...s.replicas]) {
        const e = this.endpoint(n.host || node.host, n.port);
        if (!this.known.some((k) => k.host === e.host && k.port === e.port)) this.known.push(e);
      }
    }
    const shard = topo.shards.find((s) => this.nodeIds.has(s.master.id) && s.master.healthy && s.ranges.length > 0);
    if (!shard) return null;
    for (const r of shard.replicas) this.nodeIds.add(r.id);
    const e = this.endpoint(shard.master.host || node.host, shard.master.port);
    const role = await withConn(e, this.opts.tls, (conn) => conn.call(['ROLE']));
    if (Array.isArray(role) && String(role[0]) === 'master') return e;
    throw new Error(`its view names ${hostPort(e)} (node ${shard.master.id.slice(0, 8)}) master, which answers ROLE ${Array.isArray(role) ? String(role[0]) : 'with an error'}`);
  }

  private endpoint(host: string, port: number): Endpoint {
    return { ...this.opts.from, host, port, db: 0 };
  }
}

/** Runs `fn` on a short-lived connection (5 s to connect). */
export async function withConn<T>(e: Endpoint, tls: ShardLinkOptions['tls'], fn: (conn: TargetConn) => Promise<T>): Promise<T> {
  let failure: Error | null = null;
  const conn = new TargetConn({ endpoint: e, tls, onFatal: (err) => (failure = err) });
  try {
    await Promise.race([conn.connect(), new Promise((_, reject) => setTimeout(() => reject(new Error(`${hostPort(e)} did not answer within 5 s`)), 5000).unref())]);
    // Named as ferry's own (best effort: its reply is not checked), so `ferry run`'s drain, which
    // waits for the application's connections to leave every source master, never counts it.
    void conn.call(['CLIENT', 'SETNAME', ferryClientName('source')]).catch(() => {});
    const out = await fn(conn);
    if (failure) throw failure;
    if (out instanceof RespError) throw new Error(out.message);
    return out;
  } finally {
    conn.close();
  }
}
