/**
 * The source's replication backlog, sized for the migration (`--backlog auto|keep|SIZE`).
 *
 * Why: a replica that loses its link resumes with `PSYNC <replid> <offset>`, and the master
 * accepts only while `offset` is still inside its backlog (redis src/replication.c,
 * masterTryPartialResynchronization: `psync_offset < backlog->offset || psync_offset >
 * backlog->offset + histlen` → "Unable to partial resync … for lack of backlog"). The default
 * `repl-backlog-size` of 1 MB holds 0.17 s of a 5.8 MB/s write stream, so under load every
 * reconnect becomes a full sync, and full syncs can loop.
 *
 * The rule (`auto`, the default), stated in README "The replication backlog":
 * - wanted = the write rate preflight measured × BACKLOG_WINDOW_S (60 s), rounded up to whole MB;
 * - cap = half of the smallest memory headroom preflight sees: (maxmemory − used_memory) when
 *   maxmemory is set, and (total_system_memory − 2 × used_memory) when the system size is known
 *   (the second used_memory is the worst-case copy-on-write of the fork that makes the RDB);
 *   FALLBACK_CAP when neither is known. The backlog counts towards maxmemory (redis src/evict.c,
 *   freeMemoryGetNotCountedMemory leaves only the replication buffer beyond repl_backlog_size
 *   uncounted), so a backlog past the maxmemory headroom would evict keys on the source;
 * - the backlog is only ever raised: to min(wanted, cap), and only when that is above the
 *   current value. `SIZE` raises it to SIZE (never lowers it); `keep` never touches it.
 *
 * The value found is recorded (run state / sync state file) before the CONFIG SET and put back
 * when the migration ends, on rollback and on abort, but only while the server still has the
 * value ferry set: a value someone changed since is theirs, and is left alone (with a warning).
 */
import type { Redis } from 'ioredis';
import type { Facts } from './facts.js';
import { fmtSize, MB, roundUpMbFlag, parseSize } from './size.js';

/** `--backlog`: auto (size it from the write rate), keep (never touch it) or a size in bytes. */
export type BacklogPolicy = { kind: 'auto' } | { kind: 'keep' } | { kind: 'size'; bytes: number };

/** Seconds of writes `auto` sizes the backlog for. */
export const BACKLOG_WINDOW_S = 60;
/** Redis' smallest backlog (CONFIG_REPL_BACKLOG_MIN_SIZE, src/server.h): 16 KB. */
export const MIN_BACKLOG = 16 * 1024;
/** The cap when the source reports neither maxmemory nor total_system_memory. */
export const FALLBACK_CAP = 512 * MB;

/** Parses `auto`, `keep` or a size (`64mb`, `1gb`, `67108864`); null when it is none of them. */
export function parseBacklogPolicy(text: string): BacklogPolicy | null {
  const t = text.trim().toLowerCase();
  if (t === 'auto' || t === 'keep') return { kind: t };
  const bytes = parseSize(t);
  return bytes === null ? null : { kind: 'size', bytes };
}

/** The policy as it is written on a command line (for plans and messages). */
export function policyText(p: BacklogPolicy): string {
  return p.kind === 'size' ? fmtSize(p.bytes) : p.kind;
}

/** What the decision is made from (preflight's facts, or a live read for `ferry sync`). */
export interface BacklogInputs {
  /** repl-backlog-size now; null when CONFIG is not available on the source. */
  current: number | null;
  /** Replication stream bytes per second on the source. */
  writeRate: number;
  usedMemory: number;
  /** 0 = no maxmemory. */
  maxmemory: number;
  /** 0 = unknown. */
  totalSystemMemory: number;
}

/** The memory cap on the backlog, and the bound that set it (for the plan's note). */
export interface BacklogCap {
  bytes: number;
  rule: string;
}

/** See the module comment: half of the smallest headroom, whole MB, never negative. */
export function backlogCap(i: Pick<BacklogInputs, 'usedMemory' | 'maxmemory' | 'totalSystemMemory'>): BacklogCap {
  const bounds: BacklogCap[] = [];
  if (i.maxmemory > 0) {
    bounds.push({ bytes: (i.maxmemory - i.usedMemory) / 2, rule: `half the room under maxmemory: (${fmtSize(i.maxmemory)} - ${fmtSize(i.usedMemory)} used) / 2` });
  }
  if (i.totalSystemMemory > 0) {
    bounds.push({ bytes: (i.totalSystemMemory - 2 * i.usedMemory) / 2, rule: `half the RAM left after the data and a fork's copy: (${fmtSize(i.totalSystemMemory)} - 2 x ${fmtSize(i.usedMemory)} used) / 2` });
  }
  if (bounds.length === 0) return { bytes: FALLBACK_CAP, rule: 'the source reports no maxmemory and no system memory: fixed cap' };
  const min = bounds.reduce((a, b) => (b.bytes < a.bytes ? b : a));
  return { bytes: Math.max(0, Math.floor(min.bytes / MB) * MB), rule: min.rule };
}

/** What the backlog step will do, with the numbers behind it. */
export interface BacklogDecision {
  policy: BacklogPolicy['kind'];
  /** repl-backlog-size found (null: CONFIG unavailable). */
  current: number | null;
  /** The value to CONFIG SET, or null: no change. */
  set: number | null;
  writeRate: number;
  windowSec: number;
  /** auto: rate × window, whole MB. */
  wanted?: number;
  /** auto and SIZE: the memory cap. */
  cap?: BacklogCap;
  /** Seconds of writes the backlog holds after the step (at `writeRate`; null when no writes). */
  coversSec: number | null;
  /** One sentence with the numbers (the plan's note, the step's message). */
  why: string;
}

/** Decides the backlog step (pure). */
export function decideBacklog(policy: BacklogPolicy, i: BacklogInputs): BacklogDecision {
  const rate = i.writeRate;
  const base = { policy: policy.kind, current: i.current, writeRate: rate, windowSec: BACKLOG_WINDOW_S };
  const covers = (b: number | null) => (b === null || rate <= 0 ? null : b / rate);
  const holds = (b: number) => (rate > 0 ? ` = ${seconds(b / rate)} of writes at ${fmtSize(rate)}/s` : ' (no writes measured)');
  if (policy.kind === 'keep') {
    return { ...base, set: null, coversSec: covers(i.current), why: `--backlog keep: repl-backlog-size is not touched${i.current === null ? '' : ` (${fmtSize(i.current)}${holds(i.current)})`}` };
  }
  if (i.current === null) {
    return { ...base, set: null, coversSec: null, why: 'CONFIG is not available on the source: ferry cannot read or raise repl-backlog-size; size it with your provider' };
  }
  const cap = backlogCap(i);
  if (policy.kind === 'size') {
    if (policy.bytes <= i.current) {
      return { ...base, set: null, cap, coversSec: covers(i.current), why: `--backlog ${fmtSize(policy.bytes)}: repl-backlog-size is ${fmtSize(i.current)} already; ferry never lowers it` };
    }
    return { ...base, set: policy.bytes, cap, coversSec: covers(policy.bytes), why: `--backlog ${fmtSize(policy.bytes)}${holds(policy.bytes)}; was ${fmtSize(i.current)}` };
  }
  const wanted = Math.ceil((rate * BACKLOG_WINDOW_S) / MB) * MB;
  const auto = { ...base, wanted, cap };
  const need = `${fmtSize(rate)}/s of writes x ${BACKLOG_WINDOW_S} s = ${fmtSize(wanted)}`;
  if (wanted <= i.current) {
    return { ...auto, set: null, coversSec: covers(i.current), why: `auto: ${need}; repl-backlog-size ${fmtSize(i.current)} covers it already: not changed` };
  }
  const target = Math.min(wanted, cap.bytes);
  if (target <= i.current) {
    return { ...auto, set: null, coversSec: covers(i.current), why: `auto: ${need}, but the memory cap is ${fmtSize(cap.bytes)} (${cap.rule}), not above the current ${fmtSize(i.current)}: not changed` };
  }
  const capped = target < wanted ? `, capped at ${fmtSize(cap.bytes)} (${cap.rule}): holds ${seconds(target / rate)} of writes` : ` (cap ${fmtSize(cap.bytes)})`;
  return { ...auto, set: target, coversSec: covers(target), why: `auto: ${need}${capped}; was ${fmtSize(i.current)}` };
}

function seconds(s: number): string {
  return s >= 10 ? `${s.toFixed(0)} s` : `${s.toFixed(2)} s`;
}

/**
 * The warning for a partial resync the source refused (+FULLRESYNC where ferry asked for
 * `PSYNC replid offset`), naming the cause and the fix with numbers.
 */
export function partialResyncAdvice(o: { backlogBytes: number | null; rate: number; downMs: number | null; behindBytes: number; replidChanged: boolean }): string {
  // downMs null: the position came from an earlier ferry process (its checkpoint), not a link drop.
  const down = o.downMs === null ? 'the engine resumed from an earlier run' : `the link was down ${(o.downMs / 1000).toFixed(2)} s`;
  if (o.replidChanged) {
    return `the source refused a partial resync (+FULLRESYNC): its replication id changed (it restarted or failed over), so no backlog could serve the engine's position; ${down}`;
  }
  const behind = `${fmtSize(Math.max(0, o.behindBytes))} of writes were missing`;
  if (o.backlogBytes === null) {
    return `the source refused a partial resync (+FULLRESYNC): ${down} and ${behind}, more than its backlog holds; raise it with --backlog ${roundUpMbFlag(Math.max(o.rate * BACKLOG_WINDOW_S, 2 * o.behindBytes))}`;
  }
  const b = o.backlogBytes;
  const holds = o.rate > 0 ? ` = ${seconds(b / o.rate)} of writes at ${fmtSize(o.rate)}/s` : '';
  if (o.behindBytes >= 0 && o.behindBytes <= b) {
    // Redis 6.2 and older empty the backlog when repl-backlog-size changes (resizeReplicationBacklog).
    return `the source refused a partial resync (+FULLRESYNC) although its backlog ${fmtSize(b)} is larger than the ${fmtSize(o.behindBytes)} missing (${down}): its backlog history was shorter than its size (repl-backlog-size changed, the backlog is new, or it was freed after repl-backlog-ttl)`;
  }
  const suggest = roundUpMbFlag(Math.max(o.rate * BACKLOG_WINDOW_S, 2 * o.behindBytes));
  return `the source refused a partial resync (+FULLRESYNC): its backlog ${fmtSize(b)}${holds}; ${down} and ${behind}; raise it with --backlog ${suggest} (or CONFIG SET repl-backlog-size ${suggest} on the source)`;
}

/** The original value ferry recorded before raising it, and the value it set. */
export interface BacklogRecord {
  original: number;
  set: number;
}

/** repl-backlog-size from CONFIG GET; null when CONFIG is refused (renamed, ACL). */
export async function readBacklogSize(client: Redis): Promise<number | null> {
  try {
    const [, v] = (await client.call('CONFIG', 'GET', 'repl-backlog-size')) as string[];
    const n = Number(v);
    return v !== undefined && Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/** `CONFIG SET repl-backlog-size <bytes>`. */
export async function setBacklogSize(client: Redis, bytes: number): Promise<void> {
  await client.call('CONFIG', 'SET', 'repl-backlog-size', String(bytes));
}

/** What putting the backlog back did. */
export type RestoreOutcome = { kind: 'restored' } | { kind: 'unchanged' } | { kind: 'changed-since'; now: number };

/**
 * Puts the recorded original back, if the server still has the value ferry set (see the module
 * comment). Throws when the server cannot be reached or refuses.
 */
export async function restoreBacklogSize(client: Redis, rec: BacklogRecord): Promise<RestoreOutcome> {
  const now = await readBacklogSize(client);
  if (now === null) throw new Error('CONFIG GET repl-backlog-size was refused');
  if (now === rec.original) return { kind: 'unchanged' };
  if (now !== rec.set) return { kind: 'changed-since', now };
  await setBacklogSize(client, rec.original);
  return { kind: 'restored' };
}

/** One line for the outcome of a restore (events, warnings). */
export function restoreMessage(rec: BacklogRecord, o: RestoreOutcome, where = 'the source'): string {
  switch (o.kind) {
    case 'restored':
      return `repl-backlog-size on ${where} put back to ${fmtSize(rec.original)} (ferry had raised it to ${fmtSize(rec.set)})`;
    case 'unchanged':
      return `repl-backlog-size on ${where} is ${fmtSize(rec.original)} already`;
    case 'changed-since':
      return `repl-backlog-size on ${where} is ${fmtSize(o.now)}, not the ${fmtSize(rec.set)} ferry set: someone changed it, so ferry leaves it (it was ${fmtSize(rec.original)} before the migration)`;
  }
}

/** The decision's inputs from preflight's facts about the source. */
export function backlogInputs(f: Facts): BacklogInputs {
  const s = f.source;
  const raw = s.config?.['repl-backlog-size'];
  return {
    current: raw === undefined || !Number.isFinite(Number(raw)) ? null : Number(raw),
    writeRate: f.writeRateBytesPerSec,
    usedMemory: s.usedMemory,
    maxmemory: s.maxmemory,
    totalSystemMemory: s.totalSystemMemory,
  };
}
