/**
 * The rounds: under live traffic a key can differ only because it was read on the two sides at
 * different moments. Every key that differs is read again after `intervalMs`, up to `rounds`
 * times; a key that agrees once has settled and is dropped, and only the keys that differ in
 * every round are reported.
 *
 * A recheck reads the source first, then waits until the target has applied what the source had
 * (`settle`: the replication offsets, see `replicationSettle`), then reads the target, so a key
 * written once is not seen "in flight" again. A key whose source value changed between the last
 * two reads is marked `changing`: it is being written right now, and only a comparison with
 * writes stopped can say more (the run's gate does that, see src/steps/verify.ts).
 */
import { parseInfo } from '../core/connect.js';
import { CHECKPOINT_KEY, decodeCheckpoint } from '../engine/checkpoint.js';
import type { RespValue } from '../engine/resp/decoder.js';
import type { Comparer, DiffClass, Finding } from './compare.js';
import type { VerifyConn } from './conn.js';
import { sleep } from './limits.js';
import type { KeyRef } from './scope.js';

/** A differing key followed through the rounds. */
export interface Tracked {
  finding: Finding;
  /** Source prints of the last two reads (undefined when the read made none). */
  prev?: string;
  last?: string;
}

/** Identity of a key under comparison. */
export function refId(r: KeyRef): string {
  return `${r.db}\u0000${r.tdb}\u0000${r.key.toString('latin1')}`;
}

/**
 * The differing keys: up to `limit` are kept for the rounds (and named in the report); beyond
 * that only their number per class is kept, so memory stays bounded however much differs.
 */
export class Findings {
  readonly tracked = new Map<string, Tracked>();
  readonly untracked: Record<DiffClass, number> = { missing: 0, extra: 0, type: 0, value: 0, ttl: 0 };

  constructor(readonly limit: number) {}

  add(f: Finding): void {
    const id = refId(f.ref);
    const t = this.tracked.get(id);
    if (t) {
      t.finding = f;
      return;
    }
    if (this.tracked.size >= this.limit) {
      this.untracked[f.class]++;
      return;
    }
    // NOTE: its own copy of the key: a slice would keep the whole socket chunk it came in alive.
    this.tracked.set(id, { finding: { ...f, ref: { ...f.ref, key: Buffer.from(f.ref.key) } }, last: f.print });
  }

  get untrackedTotal(): number {
    return Object.values(this.untracked).reduce((a, b) => a + b, 0);
  }

  /** Persistent differences per class (tracked ones after the rounds, plus the untracked). */
  counts(): Record<DiffClass, number> {
    const c = { ...this.untracked };
    for (const t of this.tracked.values()) c[t.finding.class]++;
    return c;
  }
}

export interface RoundsOptions {
  rounds: number;
  intervalMs: number;
  settle?: () => Promise<void>;
  signal?: AbortSignal;
  onRecheck?(done: number, total: number, round: number): void;
}

/** What the rounds did: the number of differing keys after the first read and each recheck. */
export interface RoundsReport {
  rechecks: number;
  differing: number[];
  settled: number;
}

const BATCH = 500;

/** Rechecks the tracked keys until none differs or `rounds` rechecks are done. */
export async function runRounds(findings: Findings, comparer: Comparer, o: RoundsOptions): Promise<RoundsReport> {
  const differing = [findings.tracked.size];
  let settled = 0;
  let rechecks = 0;
  for (let round = 1; round <= o.rounds && findings.tracked.size > 0; round++) {
    await sleep(o.intervalMs, o.signal);
    rechecks++;
    const entries = [...findings.tracked.entries()];
    for (let i = 0; i < entries.length; i += BATCH) {
      const part = entries.slice(i, i + BATCH);
      const found = await comparer.compare(part.map(([, t]) => t.finding.ref), o.settle, true);
      const still = new Map(found.map((f) => [refId(f.ref), f]));
      for (const [id, t] of part) {
        const f = still.get(id);
        if (!f) {
          findings.tracked.delete(id);
          settled++;
          continue;
        }
        t.finding = f;
        t.prev = t.last;
        t.last = f.print;
      }
      o.onRecheck?.(Math.min(i + BATCH, entries.length), entries.length, round);
    }
    differing.push(findings.tracked.size);
  }
  return { rechecks, differing, settled };
}

/** True when the source's value changed between the last two reads of a tracked key. */
export function isChanging(t: Tracked): boolean {
  return t.prev !== undefined && t.last !== undefined && t.prev !== t.last;
}

/**
 * A `settle` for two servers ferry did not set up itself: when the target replicates from the
 * source (native REPLICAOF: its slave_repl_offset), or holds the engine's checkpoint for the
 * source's replication id (`ferry sync` running), a recheck waits up to `maxWaitMs` until the
 * target has applied the source's master_repl_offset read just after the source's keys. Otherwise
 * there is nothing to wait for (undefined).
 */
export async function replicationSettle(src: VerifyConn, tgt: VerifyConn, srcAddr: { host: string; port: number }, maxWaitMs = 2000): Promise<(() => Promise<void>) | undefined> {
  const tInfo = infoMap(await tgt.call(['INFO', 'replication']));
  const sInfo = infoMap(await src.call(['INFO', 'replication']));
  const replid = sInfo.master_replid;
  let targetOffset: (() => Promise<number | null>) | undefined;
  if (tInfo.role === 'slave' && Number(tInfo.master_port) === srcAddr.port) {
    targetOffset = async () => Number(infoMap(await tgt.call(['INFO', 'replication'])).slave_repl_offset ?? NaN);
  } else {
    const cp = decodeCheckpoint(bufOrNull(await tgt.call(['GET', CHECKPOINT_KEY], 0)));
    if (cp && cp.replid === replid) {
      targetOffset = async () => {
        const c = decodeCheckpoint(bufOrNull(await tgt.call(['GET', CHECKPOINT_KEY], 0)));
        return c && c.replid === replid ? c.offset : null;
      };
    }
  }
  if (!targetOffset) return undefined;
  const read = targetOffset;
  return async () => {
    const want = Number(infoMap(await src.call(['INFO', 'replication'])).master_repl_offset ?? 0);
    const deadline = Date.now() + maxWaitMs;
    while (Date.now() < deadline) {
      const at = await read();
      if (at === null || !(at < want)) return;
      await sleep(10);
    }
  };
}

function bufOrNull(v: RespValue): Buffer | null {
  return Buffer.isBuffer(v) ? v : null;
}

/** INFO text (a bulk reply) → field map. */
export function infoMap(v: RespValue): Record<string, string> {
  return parseInfo(Buffer.isBuffer(v) ? v.toString('latin1') : String(v ?? ''));
}
