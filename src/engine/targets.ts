/**
 * Picks how the engine writes its target: one server (apply/standalone-target.ts) or a Redis
 * Cluster (cluster/cluster-target.ts), detected with `INFO cluster` (`cluster_enabled:1`).
 */
import type { Endpoint } from '../core/endpoint.js';
import { StandaloneTarget } from './apply/standalone-target.js';
import type { EngineTarget } from './apply/target.js';
import { TargetConn } from './apply/target-conn.js';
import { ClusterTarget, linkCheckpointKey } from './cluster/cluster-target.js';
import { shardStreamRefusal } from './cluster/shard-refusal.js';

/** How one engine link writes the target (set by the cluster orchestrator for its links). */
export interface TargetRole {
  /** Default: detected from the target. */
  kind?: 'standalone' | 'cluster';
  /** Which link of a cluster source this is: its checkpoint keys are its own (default 0). */
  linkId?: number;
  /**
   * The source is one master of a cluster, synced beside the others into the same target: the
   * orchestrator empties the target once for all links, so a link never flushes it, and a FLUSHALL
   * in one shard's stream (which empties that shard only) cannot be applied.
   */
  shardOfCluster?: boolean;
}

export interface OpenTargetOptions {
  endpoint: Endpoint;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
  windowBytes?: number;
  role?: TargetRole;
  /** The target cannot be written any more: the sync stops. */
  onFatal(err: Error): void;
  /** The target changed under the sync (a master lost): restart the link from the checkpoint. */
  onRestart(err: Error): void;
  warn(message: string): void;
  info(message: string): void;
}

/** Connects to the target and returns the writer that fits it. */
export async function openTarget(o: OpenTargetOptions): Promise<EngineTarget> {
  const kind = o.role?.kind ?? ((await isCluster(o)) ? 'cluster' : 'standalone');
  const linkId = o.role?.linkId ?? 0;
  const shard = !!o.role?.shardOfCluster;
  const refuse = shard ? shardStreamRefusal : undefined;
  const target: EngineTarget = kind === 'cluster'
    ? new ClusterTarget({ seed: o.endpoint, tls: o.tls, windowBytes: o.windowBytes, linkId, shardOfCluster: shard, refuse, onFatal: o.onFatal, onRestart: o.onRestart, warn: o.warn, info: o.info })
    : new StandaloneTarget({ endpoint: o.endpoint, tls: o.tls, windowBytes: o.windowBytes, checkpointKey: linkCheckpointKey(linkId), shardOfCluster: shard, refuse, onFatal: o.onFatal });
  await target.connect();
  return target;
}

/**
 * Deletes the engine's checkpoint from a target (a run resumed after the engine stopped, or rolled
 * back): the one key of a single server, or the link and slot checkpoint keys of a cluster; for
 * a cluster source, those of each link in `linkIds`.
 */
export async function removeEngineCheckpoint(endpoint: Endpoint, tls?: OpenTargetOptions['tls'], linkIds: number[] = [0]): Promise<void> {
  for (const linkId of linkIds) {
    let failure: Error | null = null;
    const target = await openTarget({
      endpoint,
      tls,
      role: { linkId },
      onFatal: (e) => (failure = e),
      onRestart: (e) => (failure = e),
      warn: () => {},
      info: () => {},
    });
    try {
      await target.removeCheckpoint();
      if (failure) throw failure;
    } finally {
      target.close();
    }
  }
}

async function isCluster(o: OpenTargetOptions): Promise<boolean> {
  let failure: Error | null = null;
  const probe = new TargetConn({ endpoint: o.endpoint, tls: o.tls, onFatal: (e) => (failure = e) });
  await probe.connect();
  try {
    const info = await probe.call(['INFO', 'cluster']);
    if (failure) throw failure;
    return /^cluster_enabled:1/m.test(String(info));
  } finally {
    probe.close();
  }
}
