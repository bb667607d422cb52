/**
 * Preflight's cluster rules (safety.ts calls them): what `ferry run` can and cannot do with a
 * Redis Cluster. Pure, like the rest of the assessment.
 *
 * - A cluster target is written by the engine (keys routed by slot, per-slot checkpoints); native
 *   replication cannot feed it (a cluster node refuses REPLICAOF of a server outside its cluster).
 * - `--retire replica` would make the old master a replica of ONE master of the cluster, that is a
 *   copy of one shard: no rollback copy, so it is refused; keep or shutdown name their risks.
 * - A cluster has only db 0: a source with keys elsewhere must map them (--db-map N:0).
 * - A cluster source: `ferry sync` handles it (one link per master); the cutover of every master
 *   at once is not built into `ferry run` yet, so it refuses instead of half doing it.
 */
import type { Facts } from './facts.js';
import type { MigrationSpec } from './spec.js';

/** Refusals and advice for a cluster source or target. */
export function clusterFindings(spec: MigrationSpec, facts: Facts): { refusals: string[]; warnings: string[] } {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const t = facts.target?.cluster;
  if (facts.source.cluster) {
    refusals.push(`the source is a Redis Cluster (${facts.source.cluster.masters.length} masters): ferry run does not cut over a cluster source yet; use ferry sync --from ${spec.from.host}:${spec.from.port} (one link per master) and repoint the clients yourself`);
  }
  if (!t) return { refusals, warnings };
  if (spec.sync === 'native') refusals.push('the target is a Redis Cluster, which cannot REPLICAOF the source; use --sync engine (the default)');
  if (spec.retire === 'replica') refusals.push('--retire replica would make the old master a replica of one master of the target cluster (a copy of one shard, not a rollback copy); use --retire keep or --retire shutdown');
  for (const [db, n] of Object.entries(facts.source.keysByDb)) {
    const to = spec.dbMap?.[Number(db)] ?? Number(db);
    if (n > 0 && to !== 0) refusals.push(`the source has ${n} keys in db ${db}, and a cluster target has only db 0; map it with --db-map ${db}:0`);
  }
  warnings.push(`the target is a Redis Cluster of ${t.masters.length} masters (${t.masters.map((m) => `${m.addr}: ${m.slots} slots`).join(', ')}): keys are routed by slot, stream batches are one transaction per slot with a per-slot checkpoint`);
  return { refusals, warnings };
}
