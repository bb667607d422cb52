/**
 * What the engine driver runs, seen as a list of links, each replicating one source master:
 * - a single source: one SyncEngine (engine/sync.ts), whose master is `--from`;
 * - a Redis Cluster source: the orchestrator (engine/cluster/orchestrator.ts), one link per master,
 *   each following its shard's master (after a failover, the promoted replica).
 * The driver's offsets are then the same computation for both (see ReplicationOffsets): each
 * link's applied offset against its own master's master_repl_offset.
 */
import { hostPort } from '../core/endpoint.js';
import type { Endpoint } from '../core/endpoint.js';
import type { WriterChoice } from '../engine/apply/writer-choice.js';
import type { ClusterSync, ClusterSyncOptions } from '../engine/cluster/orchestrator.js';
import type { SyncEngine, SyncOptions, SyncReport } from '../engine/sync.js';
import type { ReplicationOffsets } from './driver.js';

export type LinkStatus = ReturnType<SyncEngine['status']>;

/** See the file comment. */
export interface EngineLinks {
  readonly choice: WriterChoice;
  /** Until done() settles. */
  readonly running: boolean;
  links(): Array<{ master: Endpoint; status(): LinkStatus }>;
  start(): Promise<void>;
  done(): Promise<SyncReport>;
  stop(opts: { removeCheckpoint: boolean }): Promise<SyncReport & { shards?: unknown[] }>;
  waitStreaming(): Promise<void>;
}

/** One engine, or one link per master of a cluster source. */
export async function engineLinks(opts: SyncOptions, clusterSource: boolean): Promise<EngineLinks> {
  const run = clusterSource ? clusterLinks(new (await import('../engine/cluster/orchestrator.js')).ClusterSync(opts as ClusterSyncOptions)) : oneLink(new (await import('../engine/sync.js')).SyncEngine(opts), opts.from);
  return run;
}

function oneLink(e: SyncEngine, from: Endpoint): EngineLinks {
  return {
    get choice() {
      return e.choice;
    },
    get running() {
      return e.phase !== 'stopped';
    },
    links: () => [{ master: from, status: () => e.status() }],
    start: () => e.start(),
    done: () => e.done(),
    stop: (o) => e.stop(o),
    waitStreaming: () => e.waitStreaming(),
  };
}

function clusterLinks(c: ClusterSync): EngineLinks {
  let running = true;
  return {
    get choice() {
      return c.choice;
    },
    get running() {
      return running;
    },
    links: () => c.links,
    async start() {
      await c.start();
      c.done().then(
        () => (running = false),
        () => (running = false),
      );
    },
    done: () => c.done(),
    stop: (o) => c.stop(o),
    waitStreaming: () => c.waitStreaming(),
  };
}

/**
 * The offsets of every link against its own master (`masterOffsets[i]`, read before the statuses),
 * summed as ReplicationOffsets says.
 */
export function linkOffsets(links: ReturnType<EngineLinks['links']>, masterOffsets: number[]): ReplicationOffsets {
  const per = links.map((l, i) => ({ master: hostPort(l.master), s: l.status(), masterOffset: masterOffsets[i] }));
  const sum = (f: (p: (typeof per)[number]) => number): number => per.reduce((n, p) => n + f(p), 0);
  const rdb = per.filter((p) => p.s.phase === 'rdb');
  return {
    masterOffset: sum((p) => p.masterOffset),
    replicaOffset: sum((p) => Math.min(Math.max(p.s.appliedOffset, 0), p.masterOffset)),
    receivedOffset: sum((p) => p.s.receivedOffset),
    linkUp: per.every((p) => p.s.linkUp),
    syncing: per.some((p) => p.s.phase !== 'stream'),
    syncBytes: rdb.length ? { done: rdb.reduce((n, p) => n + p.s.rdbBytes, 0), total: rdb.some((p) => p.s.rdbTotal <= 0) ? -1 : rdb.reduce((n, p) => n + p.s.rdbTotal, 0) } : undefined,
    keysApplied: sum((p) => p.s.keysApplied),
    ...(per.length > 1 ? { links: per.map((p) => ({ master: p.master, masterOffset: p.masterOffset, replicaOffset: Math.max(p.s.appliedOffset, 0), linkUp: p.s.linkUp })) } : {}),
  };
}
