/**
 * Preflight's judgement of the facts: refusals (exit 3, each one sentence naming the fix) and
 * advice (warnings). Pure, so `ferry plan` shows exactly what `ferry run` would refuse.
 */
import { assessCompat } from './compat.js';
import { clusterFindings } from './cluster-safety.js';
import { backlogInputs, decideBacklog } from './backlog.js';
import { type Facts, type ServerFacts, otherReplicas } from './facts.js';
import { sentinelFindings } from './sentinel-safety.js';
import { fmtSize } from './size.js';
import type { MigrationSpec } from './spec.js';

/** Findings of the safety checks. */
export interface Assessment {
  refusals: string[];
  warnings: string[];
}

const MB = 1024 * 1024;

/** Applies the safety checks and the sizing advice to `facts`. */
export function assess(spec: MigrationSpec, facts: Facts): Assessment {
  // Versions and forks (compat.ts): what cannot be copied exactly between these two servers.
  const compat = assessCompat(spec, facts);
  const sentinel = sentinelFindings(spec, facts);
  const cluster = clusterFindings(spec, facts);
  return {
    refusals: [...refusals(spec, facts), ...compat.refusals, ...sentinel.refusals, ...cluster.refusals],
    warnings: [...advice(spec, facts), ...compat.warnings, ...sentinel.warnings, ...cluster.warnings],
  };
}

function refusals(spec: MigrationSpec, f: Facts): string[] {
  const out: string[] = [];
  for (const m of f.missingPermissions ?? []) {
    out.push(`the ${m.side} user may not run ${m.command} (${m.steps}): add the ACL rule ${m.rule} to the user of ${m.side === 'source' ? '--from' : '--to'}${m.instead ? `, or ${m.instead}` : ''}`);
  }
  out.push(...backlogRefusals(spec, f));
  const s = f.source;
  const t = f.target;
  if (s.role === 'replica') {
    out.push(`the source ${s.url} is a replica of ${s.masterOf}; point --from at the master`);
  }
  if (t && t.runId && t.runId === s.runId) {
    out.push(`--from and --to are the same server (run_id ${s.runId.slice(0, 8)}…); point --to at the new instance`);
  }
  if (t && s.keys === 0 && t.keys > 0 && t.runId !== s.runId) {
    out.push(`the source is empty but the target holds ${t.keys} keys: are --from and --to swapped? Check them (or empty the target yourself)`);
  } else if (t && t.keys > 0 && !spec.flushTarget && t.runId !== s.runId) {
    out.push(`the target ${t.url} holds ${t.keys} keys, which the sync would delete; pass --flush-target to accept that, or use an empty target`);
  }
  if (t && t.role === 'replica' && t.runId !== s.runId && !isReplicaOf(t, spec)) {
    out.push(`the target ${t.url} is a replica of ${t.masterOf}; detach it (REPLICAOF NO ONE) or choose another target`);
  }
  return out;
}

/**
 * `--backlog SIZE` needs CONFIG on the source, and must fit under its maxmemory: the backlog
 * counts towards maxmemory (core/backlog.ts), so a bigger one would make the source evict keys.
 */
function backlogRefusals(spec: MigrationSpec, f: Facts): string[] {
  const p = spec.backlog;
  if (p.kind !== 'size') return [];
  const s = f.source;
  if (!s.config) return [`--backlog ${fmtSize(p.bytes)} needs CONFIG SET on the source, which it does not allow; size repl-backlog-size with your provider and pass --backlog keep`];
  const room = s.maxmemory - s.usedMemory;
  if (s.maxmemory > 0 && p.bytes > Number(s.config['repl-backlog-size'] ?? 0) && p.bytes > room) {
    return [`--backlog ${fmtSize(p.bytes)} does not fit in the ${fmtSize(Math.max(0, room))} left under the source's maxmemory ${fmtSize(s.maxmemory)}: the source would evict keys; choose a smaller size or --backlog auto`];
  }
  return [];
}

/** Advice about the backlog the migration will have (see the backlog step for what it changes). */
function backlogAdvice(spec: MigrationSpec, f: Facts): string[] {
  const rate = f.writeRateBytesPerSec;
  const d = decideBacklog(spec.backlog, backlogInputs(f));
  const size = d.set ?? d.current ?? 0;
  if (rate <= 0 || d.current === null) return [];
  if (spec.backlog.kind === 'keep') {
    // NOTE: the backlog is what lets a replica resume after a short link drop instead of a new
    // full sync; one minute of writes is a comfortable margin.
    if (size >= rate * d.windowSec) return [];
    return [`--backlog keep: repl-backlog-size ${fmtSize(size)} holds ${(size / rate).toFixed(2)} s of writes at ${fmtSize(rate)}/s; a longer link drop means a full sync: drop --backlog keep (auto raises it for the migration only), or CONFIG SET repl-backlog-size ${Math.ceil((rate * d.windowSec) / MB)}mb on the source`];
  }
  if (d.wanted !== undefined && d.wanted > size && d.cap) {
    return [`--backlog auto: ${d.windowSec} s of writes at ${fmtSize(rate)}/s need ${fmtSize(d.wanted)}, but the memory cap is ${fmtSize(d.cap.bytes)} (${d.cap.rule}): the backlog will hold ${(size / rate).toFixed(1)} s of writes`];
  }
  if (spec.backlog.kind === 'size' && d.set !== null && d.cap && d.set > d.cap.bytes) {
    return [`--backlog ${fmtSize(d.set)} is above ferry's memory cap of ${fmtSize(d.cap.bytes)} (${d.cap.rule}); make sure the source has the memory`];
  }
  return [];
}

function isReplicaOf(t: ServerFacts, spec: MigrationSpec): boolean {
  return t.masterOf === `${spec.from.host}:${spec.from.port}`;
}

function advice(spec: MigrationSpec, f: Facts): string[] {
  const out: string[] = [];
  const s = f.source;
  const rate = f.writeRateBytesPerSec;
  const cfg = s.config;
  if (!cfg) {
    out.push(`CONFIG is not available on the source ${s.url}: ferry cannot check backlog and buffer sizes; check them with your provider`);
  } else {
    out.push(...backlogAdvice(spec, f));
    const delay = Number(cfg['repl-diskless-sync-delay'] ?? 0);
    if (cfg['repl-diskless-sync'] === 'yes' && delay > 0) {
      // NOTE: a diskless master waits this long after a replica asks for a full sync, for more
      // replicas to share the transfer; users saw a 5 s stall at replicate and took it for a hang.
      out.push(`the source waits repl-diskless-sync-delay ${delay} s before a diskless full sync starts; CONFIG SET repl-diskless-sync-delay 0 on the source starts it at once`);
    }
    const replicaLimit = parseReplicaBufferLimit(cfg['client-output-buffer-limit'] ?? '');
    if (replicaLimit) {
      // During the full sync the source buffers every write for the replica; estimate the sync at
      // 50 MB/s of dataset plus 10 s, and compare what accumulates with the limits.
      const syncSeconds = s.usedMemory / (50 * MB) + 10;
      const buffered = rate * syncSeconds;
      if ((replicaLimit.hard > 0 && buffered > replicaLimit.hard) || (replicaLimit.soft > 0 && rate * replicaLimit.softSeconds > replicaLimit.soft)) {
        out.push(
          `client-output-buffer-limit replica (${fmt(replicaLimit.hard)} hard, ${fmt(replicaLimit.soft)}/${replicaLimit.softSeconds}s soft) may cut the sync of ${fmt(s.usedMemory)} at ${fmt(rate)}/s of writes; consider raising it on the source`,
        );
      }
    }
  }
  if (s.totalSystemMemory > 0 && s.usedMemory * 2 > s.totalSystemMemory) {
    out.push(`the source uses ${fmt(s.usedMemory)} of ${fmt(s.totalSystemMemory)} RAM: the fork for the sync snapshot may need up to as much again (copy-on-write under writes)`);
  }
  if (s.maxmemory > 0 && s.usedMemory > 0.9 * s.maxmemory) {
    out.push(`the source is at ${((100 * s.usedMemory) / s.maxmemory).toFixed(0)}% of maxmemory: evictions during the migration would be replicated as deletes`);
  }
  if (s.bgsaveInProgress) out.push('the source is saving an RDB right now; the sync will wait for or share that fork');
  const t = f.target;
  if (t && t.maxmemory > 0 && t.maxmemory < s.usedMemory) {
    out.push(`the target's maxmemory ${fmt(t.maxmemory)} is below the source's used memory ${fmt(s.usedMemory)}; raise it or the target will evict or refuse writes`);
  }
  if (t && !t.aofEnabled && !t.rdbSaveRules) {
    out.push(`the target ${t.url} has no persistence (no save rules, appendonly no): a restart after the migration loses the data`);
  }
  if (!t && spec.to.kind === 'start' && !spec.serverArgs.some((a) => /^(appendonly\s+yes|save\s+\S)/i.test(a))) {
    out.push("the started target will use redis-server's default persistence (RDB snapshots); pass --server-arg 'appendonly yes' for an append-only file");
  }
  const targetPort = spec.to.kind === 'attach' ? spec.to.endpoint.port : spec.to.port;
  const others = otherReplicas(f, targetPort);
  if (others.length > 0) out.push(`the source has ${others.length} replica(s): reparent will point them at the new master`);
  if (spec.retire === 'keep') out.push('--retire keep: writes that still reach the old master after the cutover will be lost; prefer --retire replica');
  if (spec.retire === 'shutdown') out.push('--retire shutdown: the old master is shut down at the end; there is no rollback copy');
  if (spec.from.tls && spec.sync === 'native') out.push('native replication over TLS needs tls-replication yes and certificates configured on the target');
  // NOTE: found by the TLS test: without it the retired old master's link to the new one stays down.
  if (spec.from.tls && spec.retire === 'replica' && cfg && cfg['tls-replication'] !== 'yes') {
    out.push('--retire replica over TLS: the old master can follow the new one only with tls-replication yes (CONFIG SET tls-replication yes on the source); without it there is no rollback copy');
  }
  return out;
}

/** `normal 0 0 0 replica 268435456 67108864 60 pubsub …` → the replica class limits in bytes. */
export function parseReplicaBufferLimit(value: string): { hard: number; soft: number; softSeconds: number } | null {
  const parts = value.split(/\s+/);
  for (let i = 0; i + 3 < parts.length; i += 4) {
    if (parts[i] === 'replica' || parts[i] === 'slave') {
      return { hard: Number(parts[i + 1]), soft: Number(parts[i + 2]), softSeconds: Number(parts[i + 3]) };
    }
  }
  return null;
}

/** Bytes for humans (`1.0mb`): see core/size.ts. */
export const fmt = fmtSize;
