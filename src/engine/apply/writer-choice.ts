/**
 * Which full-sync writer to use, and why (shown by `ferry plan`). RESTORE is fastest but refuses a
 * payload whose RDB version is newer than the target's own ("DUMP payload version or checksum are
 * wrong"), so the versions are derived from each server's INFO server (redis_version, and
 * valkey_version on Valkey) with the table of REPLICATION-FACTS B.
 */
import { RESTORE_LIMIT, type WriterMode } from './key-writer.js';

/** RDB version written by a server version (major.minor), or null when unknown. */
export function rdbVersionOf(info: { redisVersion?: string; valkeyVersion?: string }): number | null {
  if (info.valkeyVersion) {
    const [maj] = info.valkeyVersion.split('.').map(Number);
    if (maj >= 9) return 80; // NOTE: Valkey 9 writes its own RDB numbering (unverified); only Valkey 9+ reads it
    if (maj >= 7) return 11;
  }
  const v = info.redisVersion;
  if (!v) return null;
  const [maj, min] = v.split('.').map(Number);
  if (!Number.isFinite(maj)) return null;
  const n = maj * 100 + (min || 0);
  if (n >= 704) return 12;
  if (n >= 702) return 11;
  if (n >= 700) return 10;
  if (n >= 500) return 9;
  if (n >= 400) return 8;
  if (n >= 302) return 7;
  if (n >= 206) return 6;
  return 5;
}

/** Parses `INFO server` text into the fields rdbVersionOf needs. */
export function serverVersions(infoText: string): { redisVersion?: string; valkeyVersion?: string } {
  const get = (k: string): string | undefined => new RegExp(`^${k}:(\\S+)`, 'm').exec(infoText)?.[1];
  return { redisVersion: get('redis_version'), valkeyVersion: get('valkey_version') };
}

export interface WriterChoice {
  mode: WriterMode;
  reason: string;
  sourceRdb: number | null;
  targetRdb: number | null;
}

/** The RESTORE writer's per-key switch, as the plan shows it. */
const BIG_KEYS = `keys above ${RESTORE_LIMIT / (1024 * 1024)} MiB as chunked commands`;

/** Picks the writer; `forced` comes from `--writer`. */
export function chooseWriter(sourceInfo: string, targetInfo: string, forced?: WriterMode | 'auto'): WriterChoice {
  const s = serverVersions(sourceInfo);
  const t = serverVersions(targetInfo);
  const sourceRdb = rdbVersionOf(s);
  const targetRdb = rdbVersionOf(t);
  const names = `source ${s.valkeyVersion ? `valkey ${s.valkeyVersion}` : `redis ${s.redisVersion}`} (RDB ${sourceRdb ?? '?'}), target ${t.valkeyVersion ? `valkey ${t.valkeyVersion}` : `redis ${t.redisVersion}`} (RDB ${targetRdb ?? '?'})`;
  if (forced && forced !== 'auto') return { mode: forced, reason: `--writer ${forced}${forced === 'restore' ? `, ${BIG_KEYS}` : ''} (${names})`, sourceRdb, targetRdb };
  if (sourceRdb !== null && targetRdb !== null && targetRdb >= sourceRdb) {
    return { mode: 'restore', reason: `RESTORE of raw payloads (${BIG_KEYS}): the target reads RDB ${sourceRdb} payloads (${names})`, sourceRdb, targetRdb };
  }
  return {
    mode: 'commands',
    reason: `type commands: the target's RDB version is older than the source's or unknown, so it would refuse RESTORE payloads (${names})`,
    sourceRdb,
    targetRdb,
  };
}

/** The same choice from bare version strings (preflight facts: redis_version of each side). */
export function chooseWriterFromVersions(sourceVersion: string, targetVersion: string, forced?: WriterMode | 'auto'): WriterChoice {
  return chooseWriter(`redis_version:${sourceVersion}`, `redis_version:${targetVersion}`, forced);
}
