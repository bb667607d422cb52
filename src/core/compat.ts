/**
 * Version compatibility of a source → target pair (issue 11): what cannot be copied exactly is
 * refused here, in preflight, before anything changes (each refusal one line naming the keys'
 * count and the way out), or accepted with an opt-in flag; what is lost without being data (some
 * stream metadata) is said in a warning. Pure: `ferry plan` shows exactly what `ferry run` refuses.
 *
 * - Native replication from a newer RDB version into an older target: the replica cannot load the
 *   snapshot ("Can't handle RDB format version", rdb.c rdbLoadRio) and retries for ever; the engine
 *   rewrites the keys as commands instead.
 * - Hash-field TTLs (7.4's `INFO keyspace` … `subexpiry=N`) into a target without them:
 *   refused unless --drop-field-ttl.
 * - Function libraries into a target without FUNCTION (before 7.0).
 * - Module types the target lacks (MODULE LIST): refused, naming the modules and the keys' count;
 *   --exclude is the way out.
 * - Stream metadata: Redis 7.0 added entries-added, max-deleted-entry-id and a group's
 *   entries-read (RDB stream v2, rdb.h RDB_TYPE_STREAM_LISTPACKS_2), 7.2 a consumer's active-time
 *   (v3); an older target keeps the entries, groups, consumers and pending entries without them.
 * - The fence on a source without `CLIENT PAUSE … WRITE` (before 6.2): every client pauses.
 */
import { dialectOf } from '../engine/apply/dialect.js';
import { rdbVersionOf } from '../engine/apply/writer-choice.js';
import { missingModules, type Facts, type ServerFacts } from './facts.js';
import type { MigrationSpec } from './spec.js';

/** Findings of the version checks. */
export interface CompatFindings {
  refusals: string[];
  warnings: string[];
}

/** The name of a server for messages: "redis 7.4.1", "valkey 8.0.1". */
export function serverName(f: ServerFacts): string {
  return f.valkeyVersion ? `valkey ${f.valkeyVersion}` : `redis ${f.version}`;
}

function versions(f: ServerFacts): { redisVersion: string; valkeyVersion?: string } {
  return { redisVersion: f.version, valkeyVersion: f.valkeyVersion };
}

/** Redis major*100+minor of a server (Valkey counts as the Redis it forked from, 7.2). */
function redisNumber(f: ServerFacts): number {
  const [maj, min] = f.version.split('.').map(Number);
  return Number.isFinite(maj) ? maj * 100 + (min || 0) : 0;
}

/** True when the server has `CLIENT PAUSE ms WRITE` (Redis 6.2+, networking.c clientCommand). */
export function hasWritePause(f: ServerFacts): boolean {
  const n = redisNumber(f);
  return n === 0 || n >= 602 || !!f.valkeyVersion;
}

/** See the file comment. */
export function assessCompat(spec: Pick<MigrationSpec, 'sync' | 'dropFieldTtl' | 'pauseTimeoutMs'> & { from?: MigrationSpec['from'] }, f: Pick<Facts, 'source' | 'target'>): CompatFindings {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const s = f.source;
  const t = f.target;
  if (!hasWritePause(s) && spec.from?.sentinel) {
    // The sentinel step changes the old master while the fence holds it: before 6.2 that pause
    // holds every client, ferry's too, so the step would wait for the pause to end.
    refusals.push(
      `the source (${serverName(s)}) is managed by Sentinel and has no CLIENT PAUSE … WRITE (Redis 6.2+): the cutover cannot repoint the Sentinels while every client of the old master is paused; upgrade the source to 6.2+, or give --from as redis://host:port and repoint the Sentinels yourself`,
    );
  } else if (!hasWritePause(s)) {
    warnings.push(
      `the source (${serverName(s)}) has no CLIENT PAUSE … WRITE (Redis 6.2+): the fence pauses every client of the old master, reads too, for the whole --pause-timeout (${spec.pauseTimeoutMs} ms); lower it if that is too long`,
    );
  }
  if (!t) return { refusals, warnings };
  const sName = serverName(s);
  const tName = serverName(t);
  const sRdb = rdbVersionOf(versions(s));
  const tRdb = rdbVersionOf(versions(t));
  if (spec.sync === 'native' && sRdb !== null && tRdb !== null && sRdb > tRdb) {
    refusals.push(
      `native replication cannot work here: the target (${tName}, RDB ${tRdb}) cannot load the source's RDB ${sRdb} snapshot (${sName}) and would retry the full sync for ever; use --sync engine, which rewrites the keys as commands the target knows`,
    );
  }
  const sd = dialectOf(versions(s));
  const td = dialectOf(versions(t));
  const ttlKeys = s.subexpiryKeys ?? 0;
  if (!td.fieldTtl && ttlKeys > 0) {
    if (spec.sync !== 'engine' || !spec.dropFieldTtl) {
      refusals.push(
        `${ttlKeys} hash key(s) on the source have fields with a TTL (INFO keyspace subexpiry), which the target (${tName}) cannot hold; pass --drop-field-ttl to copy those fields without their TTL (engine), or use a Redis 7.4+ target`,
      );
    } else {
      warnings.push(`--drop-field-ttl: the fields with a TTL in ${ttlKeys} hash key(s) are copied without it (the count of fields is in the report); on the target they never expire`);
    }
  } else if (!td.fieldTtl && sd.fieldTtl && spec.sync === 'engine' && !spec.dropFieldTtl) {
    warnings.push(`the source (${sName}) has hash-field TTLs and the target (${tName}) has not: if a client sets one (HEXPIRE …) during the migration, the sync stops; --drop-field-ttl copies such fields without their TTL instead`);
  }
  const libs = s.functionLibraries ?? 0;
  if (libs > 0 && !td.functions) {
    refusals.push(
      `the source holds ${libs} function librar${libs === 1 ? 'y' : 'ies'} (FUNCTION LIST) and the target (${tName}) has no FUNCTION command; use a Redis 7.0+ target, or move the libraries off the source (FUNCTION DUMP, FUNCTION DELETE) first`,
    );
  }
  const missing = missingModules(s, t);
  if (missing.length > 0) {
    const byType = Object.entries(s.moduleKeys ?? {});
    const count = byType.reduce((n, [, c]) => n + c, 0);
    if (count > 0 || s.moduleKeys === undefined) {
      const types = byType.map(([type, c]) => `${c} ${type}`).join(', ');
      refusals.push(
        `the source uses module(s) ${missing.join(', ')} that the target (${tName}) does not load${count > 0 ? `: ${count} key(s) of module types (${types}) cannot be copied` : ''}; load the module(s) on the target, or leave their keys out with --exclude`,
      );
    } else {
      warnings.push(`the source loads module(s) ${missing.join(', ')} that the target does not; no key of a module type is to be copied, so only the modules' own data (if any) stays behind`);
    }
  }
  if (spec.sync === 'engine' && sd.streamMeta && !td.streamMeta) {
    warnings.push(
      `the target (${tName}) cannot hold the stream metadata Redis 7.0 added: streams arrive with their entries, consumer groups, consumers and pending entries, but without entries-added, max-deleted-entry-id and the groups' entries-read (XINFO shows no lag)`,
    );
  } else if (spec.sync === 'engine' && (sRdb ?? 0) >= 11 && (tRdb ?? 99) < 11) {
    warnings.push(`the target (${tName}) keeps no consumer active-time (Redis 7.2, XINFO CONSUMERS inactive): consumers arrive with their pending entries, their idle times restart`);
  }
  return { refusals, warnings };
}
