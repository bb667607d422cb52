/**
 * Preflight's cluster rules (safety.ts calls them): what `ferry run` can and cannot do with a
 * Redis Cluster. Pure, like the rest of the assessment.
 *
 * - A cluster target is written by the engine (keys routed by slot, per-slot checkpoints); native
 *   replication cannot feed it (a cluster node refuses REPLICAOF of a server outside its cluster).
 * - `--retire replica` would make the old master a replica of ONE master of the cluster, that is a
 *   copy of one shard: no rollback copy, so it is refused; keep or shutdown name their risks.
 * - A cluster has only db 0: a source with keys elsewhere must map them (--db-map N:0).
 * - A cluster source (`ferry run` cuts over every master, source-nodes.ts): the engine only (one
 *   link per master: native REPLICAOF follows one server); redis >= 6.2 (the fence pauses every
 *   master with CLIENT PAUSE WRITE and reads their offsets while paused); no open slot migration
 *   (the orchestrator refuses it too); `--retire replica` is refused, because a cluster node
 *   refuses REPLICAOF ("ERR REPLICAOF not allowed in cluster mode.", redis 7.0.15 measured here;
 *   src/replication.c replicaofCommand checks server.cluster_enabled first); and into one server,
 *   the data must fit: the masters' used_memory summed against the target's maxmemory.
 */
import { hasWritePause } from './compat.js';
import type { Facts } from './facts.js';
import { fmtSize } from './size.js';
import type { MigrationSpec } from './spec.js';

/** Refusals and advice for a cluster source or target. */
export function clusterFindings(spec: MigrationSpec, facts: Facts): { refusals: string[]; warnings: string[] } {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const t = facts.target?.cluster;
  const c = facts.source.cluster;
  if (c && c.masters.length === 0) refusals.push(`the source ${spec.from.host}:${spec.from.port} is a Redis Cluster node, but no master of its cluster serves slots (CLUSTER NODES): there is nothing to migrate; point --from at a node of a working cluster`);
  if (t && t.masters.length === 0) refusals.push('the target is a Redis Cluster node, but no master of its cluster serves slots: assign the slots first (redis-cli --cluster create, or CLUSTER ADDSLOTS)');
  if (c && c.masters.length > 0) {
    const n = c.masters.length;
    if (spec.sync === 'native') refusals.push(`the source is a Redis Cluster (${n} masters), which native replication cannot follow (one REPLICAOF follows one server); use --sync engine (the default: one link per master)`);
    if (spec.retire === 'replica') refusals.push(`--retire replica: the source is a Redis Cluster, and a cluster node refuses REPLICAOF of a server outside its cluster ("REPLICAOF not allowed in cluster mode"); use --retire keep (the old masters take writes again, not copied) or --retire shutdown (every old master is shut down)`);
    if (!hasWritePause(facts.source)) refusals.push(`the source cluster runs redis ${facts.source.version}: the fence pauses every master with CLIENT PAUSE … WRITE, which needs redis 6.2 or later; upgrade it, or copy it with ferry sync and cut over yourself`);
    if (c.openMigration) refusals.push(`${c.openMigration}; ferry cannot migrate a cluster while slots move between its shards. Finish or cancel the resharding (redis-cli --cluster fix) first`);
    const used = c.masters.reduce((m, x) => m + (x.usedMemory ?? 0), 0);
    if (!t && facts.target && facts.target.maxmemory > 0 && used > facts.target.maxmemory) {
      refusals.push(`the source cluster's ${n} masters use ${fmtSize(used)} together, more than the target's maxmemory ${fmtSize(facts.target.maxmemory)}: the data does not fit in one server; raise its maxmemory or choose a bigger target`);
    } else if (!t && facts.target && facts.target.totalSystemMemory > 0 && used > 0.8 * facts.target.totalSystemMemory) {
      warnings.push(`the source cluster's ${n} masters use ${fmtSize(used)} together, ${Math.round((100 * used) / facts.target.totalSystemMemory)}% of the target machine's RAM (${fmtSize(facts.target.totalSystemMemory)})`);
    }
    warnings.push(`the source is a Redis Cluster of ${n} masters (${c.masters.map((m) => `${m.addr}: ${m.slots} slots, ${m.keys} keys`).join(', ')}): one engine link per master; the fence pauses writes on every master and waits for each link's offset`);
  }
  if (!t) return { refusals, warnings };
  if (spec.sync === 'native') refusals.push('the target is a Redis Cluster, which cannot REPLICAOF the source; use --sync engine (the default)');
  if (spec.retire === 'replica' && !c) refusals.push('--retire replica would make the old master a replica of one master of the target cluster (a copy of one shard, not a rollback copy); use --retire keep or --retire shutdown');
  for (const [db, n] of Object.entries(facts.source.keysByDb)) {
    const to = spec.dbMap?.[Number(db)] ?? Number(db);
    if (n > 0 && to !== 0) refusals.push(`the source has ${n} keys in db ${db}, and a cluster target has only db 0; map it with --db-map ${db}:0`);
  }
  warnings.push(`the target is a Redis Cluster of ${t.masters.length} masters (${t.masters.map((m) => `${m.addr}: ${m.slots} slots`).join(', ')}): keys are routed by slot, stream batches are one transaction per slot with a per-slot checkpoint`);
  return { refusals, warnings };
}
