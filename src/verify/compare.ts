/**
 * Compares a batch of keys on both sides, pipelined (src/verify/conn.ts):
 *
 *   stage 0:  (the first pass, one server per side) MGET k1 … kn on both sides, PTTL k on both
 *             when TTLs are read: a plain string equal on both sides (and its TTL) is done; every
 *             other key (not a string, a long string, anything that differs) goes on to stage 1
 *   stage 1:  source PTTL k · MEMORY USAGE k; target PTTL k    (existence, TTL, size: all O(1))
 *   stage 2:  small keys: DUMP k on both sides                → canonical.ts compares the payloads
 *             big keys:   windows.ts (HSCAN/SSCAN/ZSCAN/LRANGE/XRANGE/GETRANGE windows)
 *
 * (No PTTL when neither db holds a key with a TTL; no MEMORY USAGE on the target: see `compare`.)
 * NOTE: every command costs the servers about a microsecond and a half on this machine whatever it
 * does (parse, dispatch, reply), so the fewest commands per key is what makes verify fast.
 *
 * A key is "big" when MEMORY USAGE (default 5 samples: cheap even on a 3M-field hash; redis 7.2
 * src/object.c OBJ_COMPUTE_SIZE_DEF_SAMPLES) says it takes more than `bigKeyBytes` on either
 * side, so no DUMP of a big value is ever made (it would be built whole in the server's memory and
 * ours) — and DUMP replies in flight are capped by a byte budget, so memory stays bounded.
 *
 * TTLs are compared as absolute expiry times (our clock when the reply arrived + PTTL), so the
 * time between reading the two sides does not count; they differ when one side has a TTL and the
 * other has none, or when they are more than `ttlToleranceMs` apart.
 */
import { RespError, type RespValue, SkippedBulk } from '../engine/resp/decoder.js';
import { type CompareWay, comparePayloads, type ValueDiff } from './canonical.js';
import type { VerifyConn } from './conn.js';
import { Budget } from './limits.js';
import type { KeyRef } from './scope.js';
import { compareBigKey, type Features } from './windows.js';

/** The classes of difference, in the order a key is classed when several apply. */
export const DIFF_CLASSES = ['missing', 'extra', 'type', 'value', 'ttl'] as const;
export type DiffClass = (typeof DIFF_CLASSES)[number];

/** A key that differs. `print` identifies the source's value (for "still changing" in the rounds). */
export interface Finding {
  ref: KeyRef;
  class: DiffClass;
  detail: string;
  print?: string;
}

export interface CompareOptions {
  ttlToleranceMs: number;
  /** See VerifyOptions.ignoreFieldTtls. */
  ignoreFieldTtls?: boolean;
  /** Above this MEMORY USAGE (either side) a key is compared in windows (default 1 MiB). */
  bigKeyBytes?: number;
  /** Cap on DUMP reply bytes in flight (default 64 MiB). */
  budgetBytes?: number;
  features: Features;
  /** Hash fields compared without their TTLs (the sync ran with --drop-field-ttl). */
  ignoreFieldTtl?: boolean;
}

/** What the comparisons did (the report's "how" figures). */
export interface CompareStats {
  keys: number;
  payloadEqual: number;
  bodyEqual: number;
  canonical: number;
  windowed: number;
  /** Gone from both sides between the scan and the read (deleted or expired meanwhile). */
  vanished: number;
  /** Plain strings found equal by MGET on both sides (stage 0). */
  stringEqual: number;
}

interface Meta {
  pttl: Int32Array | number[];
  mem: Array<number | null>;
  at: number;
}

const MiB = 1024 * 1024;
/** The smallest cap on a target DUMP reply (see `compare`). */
const TARGET_CAP_MIN = 4096;
/**
 * Stage 0 reads strings up to this length (longer ones arrive as a SkippedBulk and take stage 1),
 * so the MGET replies of the batches in flight stay small: 4,000 keys x 4 KiB = 16 MiB per side.
 */
const MGET_CAP = 4096;
/** Batches compared without stage 0 after a batch of mostly long strings (see `sameStrings`). */
const STAGE0_PAUSE = 16;

/** See the file comment. One per verification (it holds the budget and the figures). */
export class Comparer {
  readonly stats: CompareStats = { keys: 0, payloadEqual: 0, bodyEqual: 0, canonical: 0, windowed: 0, vanished: 0, stringEqual: 0 };
  private readonly budget: Budget;
  private readonly bigKeyBytes: number;
  private readonly bigKeys = new Budget(2);
  /** Batches left to compare without stage 0 (after one whose strings were mostly too long for it). */
  private stage0Off = 0;

  constructor(
    private readonly src: VerifyConn,
    private readonly tgt: VerifyConn,
    private readonly opts: CompareOptions,
  ) {
    this.budget = new Budget(opts.budgetBytes ?? 64 * MiB);
    this.bigKeyBytes = opts.bigKeyBytes ?? MiB;
  }

  /**
   * Compares `refs`; resolves with the keys that differ. With `settle`, each stage reads the
   * source first, then calls `settle()` (which waits until the target has applied what the
   * source had), then reads the target: what the rounds use for keys that may be changing.
   * `prints` also DUMPs source keys missing on the target, so each finding carries a print.
   * Without `ttls` no PTTL is read (the db pair holds no key with a TTL: see verifier.ts).
   *
   * The target gets no MEMORY USAGE: its DUMP replies are capped instead (TargetConn's per-reply
   * `maxBulk`: 4 times the source's size, at least 4 KiB). A target value far bigger than the
   * source's is dropped as it arrives and compared in windows, so memory stays bounded.
   */
  async compare(refs: readonly KeyRef[], settle?: () => Promise<void>, prints = false, ttls = true): Promise<Finding[]> {
    if (refs.length === 0) return [];
    this.stats.keys += refs.length;
    // Stage 0 only in the first pass: the rechecks need stage 1's order (source, settle, target) and prints.
    if (!settle && !prints && !this.src.cluster && !this.tgt.cluster && oneDbPair(refs)) {
      if (this.stage0Off > 0) this.stage0Off--;
      else {
        const equal = await this.sameStrings(refs, ttls);
        refs = refs.filter((_, i) => !equal[i]);
        if (refs.length === 0) return [];
      }
    }
    return this.compareKeys(refs, settle, prints, ttls);
  }

  /**
   * Stage 0: which of `refs` (one db pair) are plain strings of at most MGET_CAP bytes with the
   * same bytes on both sides and, with `ttls`, TTLs within the tolerance. One MGET per side for
   * the batch instead of MEMORY USAGE and DUMP per key: each command costs a server about as much
   * as the lookups of a thousand keys (see the file comment). MGET answers nil for a key of
   * another type or none; such keys, strings that differ and long strings are not proven here,
   * and stage 1 reads them again as any other key.
   * NOTE: a string longer than the cap is still sent by the server in full (as a GET of it would
   * be) and dropped as it arrives; stage 1 then compares it in windows when it is big.
   */
  private async sameStrings(refs: readonly KeyRef[], ttls: boolean): Promise<boolean[]> {
    const keys = refs.map((r) => r.key);
    const read = (conn: VerifyConn, db: number) => Promise.all([conn.batchCapped([['MGET', ...keys]], [db], [MGET_CAP]), ttls ? readPttls(conn, refs, db) : null]);
    const [[[vs], ps], [[vt], pt]] = await Promise.all([read(this.src, refs[0].db), read(this.tgt, refs[0].tdb)]);
    const equal = new Array<boolean>(refs.length).fill(false);
    if (!Array.isArray(vs) || !Array.isArray(vt)) return equal; // an error reply: stage 1 says what is wrong
    // Strings over the cap were sent in full for nothing (stage 1 reads them again): when they are
    // more than a quarter of a batch, the next STAGE0_PAUSE batches go straight to stage 1.
    if (vs.filter((v) => v instanceof SkippedBulk).length * 4 > refs.length) this.stage0Off = STAGE0_PAUSE;
    for (let i = 0; i < refs.length; i++) {
      const a = vs[i];
      const b = vt[i];
      if (!Buffer.isBuffer(a) || !Buffer.isBuffer(b) || !a.equals(b)) continue;
      if (ps && pt && ttlDiff(ps.pttl[i], ps.at, pt.pttl[i], pt.at, this.opts.ttlToleranceMs) !== null) continue;
      equal[i] = true;
      this.stats.stringEqual++;
    }
    return equal;
  }

  /** Stages 1 and 2 (see the file comment and `compare`). */
  private async compareKeys(refs: readonly KeyRef[], settle: (() => Promise<void>) | undefined, prints: boolean, ttls: boolean): Promise<Finding[]> {
    let ms: Meta;
    let pt: { pttl: number[]; at: number } | null = null;
    const readT = async (): Promise<void> => {
      if (ttls) pt = await readPttls(this.tgt, refs);
    };
    if (settle) {
      ms = await readMeta(this.src, refs, false, ttls);
      await settle();
      await readT();
    } else [ms] = await Promise.all([readMeta(this.src, refs, false, ttls), readT()]);
    const tp = pt as { pttl: number[]; at: number } | null;

    const out: Finding[] = [];
    const small: number[] = [];
    const big: number[] = [];
    const ttl: Array<string | null> = new Array(refs.length).fill(null);
    const hasS: boolean[] = new Array(refs.length);
    for (let i = 0; i < refs.length; i++) {
      hasS[i] = ms.pttl[i] !== -2 && ms.mem[i] !== null;
      const hasT = tp ? tp.pttl[i] !== -2 : undefined;
      if (!hasS[i]) {
        if (hasT === false) this.stats.vanished++;
        else if (hasT === true) out.push({ ref: refs[i], class: 'extra', detail: 'not on the source' });
        else small.push(i); // the target's DUMP says whether it is there
        continue;
      }
      if (hasT === false) {
        if (prints && (ms.mem[i] ?? 0) <= this.bigKeyBytes) small.push(i);
        else out.push({ ref: refs[i], class: 'missing', detail: 'not on the target' });
        continue;
      }
      if (tp) ttl[i] = ttlDiff(ms.pttl[i], ms.at, tp.pttl[i], tp.at, this.opts.ttlToleranceMs);
      if (ms.mem[i]! > this.bigKeyBytes) big.push(i);
      else small.push(i);
    }

    if (small.length) {
      const cap = (i: number): number => (hasS[i] ? Math.max(TARGET_CAP_MIN, 4 * (ms.mem[i] ?? 0)) : TARGET_CAP_MIN);
      const mine = small.filter((i) => hasS[i]);
      const bytes = mine.reduce((n, i) => n + (ms.mem[i] ?? 0), 0) + small.reduce((n, i) => n + cap(i), 0);
      await this.budget.with(bytes, async () => {
        const dumpS = (): Promise<RespValue[]> => this.src.batch(mine.map((i) => ['DUMP', refs[i].key]), mine.map((i) => refs[i].db));
        const dumpT = (): Promise<RespValue[]> => this.tgt.batchCapped(small.map((i) => ['DUMP', refs[i].key]), small.map((i) => refs[i].tdb), small.map(cap));
        let ds: RespValue[];
        let dt: RespValue[];
        if (settle) {
          ds = await dumpS();
          await settle();
          dt = await dumpT();
        } else [ds, dt] = await Promise.all([dumpS(), dumpT()]);
        const src = new Map(mine.map((i, j) => [i, ds[j]]));
        small.forEach((i, j) => {
          const b = dt[j];
          if (b instanceof SkippedBulk) {
            // The target's value is much bigger than the source's: the windows say how it differs.
            if (hasS[i]) big.push(i);
            else out.push({ ref: refs[i], class: 'extra', detail: 'not on the source' });
            return;
          }
          const f = this.judge(refs[i], src.get(i) ?? null, b, ttl[i]);
          if (f) out.push(f);
        });
      });
    }
    const results = await Promise.all(big.map((i) => this.bigKeys.with(1, async () => {
      this.stats.windowed++;
      return compareBigKey(this.src, this.tgt, refs[i], { memS: ms.mem[i]!, memT: ms.mem[i]! }, this.opts.features);
    })));
    big.forEach((i, j) => {
      const d = results[j];
      if (d) out.push({ ref: refs[i], class: d.class, detail: ttl[i] ? `${d.detail}; TTL ${ttl[i]}` : d.detail });
      else if (ttl[i]) out.push({ ref: refs[i], class: 'ttl', detail: ttl[i]! });
    });
    return out;
  }

  private judge(ref: KeyRef, a: RespValue, b: RespValue, ttl: string | null): Finding | null {
    const pa = Buffer.isBuffer(a) ? a : null;
    const pb = Buffer.isBuffer(b) ? b : null;
    if (a instanceof RespError || b instanceof RespError) {
      return { ref, class: 'value', detail: `DUMP failed: ${String(a instanceof RespError ? a : b).split('\n')[0]}` };
    }
    const print = pa ? printOf(pa) : undefined;
    if (!pa && !pb) {
      this.stats.vanished++;
      return null;
    }
    if (!pb) return { ref, class: 'missing', detail: 'not on the target', print };
    if (!pa) return { ref, class: 'extra', detail: 'not on the source' };
    const way = { way: 'payload' as CompareWay };
    const d: ValueDiff | null = comparePayloads(pa, pb, way, { ignoreFieldTtls: this.opts.ignoreFieldTtls });
    if (way.way === 'payload') this.stats.payloadEqual++;
    else if (way.way === 'body') this.stats.bodyEqual++;
    else this.stats.canonical++;
    if (d) return { ref, class: d.class, detail: ttl ? `${d.detail}; TTL ${ttl}` : d.detail, print };
    if (ttl) return { ref, class: 'ttl', detail: ttl, print };
    return null;
  }
}

/** True when every ref is in the same source db and target db. */
function oneDbPair(refs: readonly KeyRef[]): boolean {
  const { db, tdb } = refs[0];
  return refs.every((r) => r.db === db && r.tdb === tdb);
}

/** PTTL of each key (the target's stage 1; in `db` when given), pipelined. */
function readPttls(conn: VerifyConn, refs: readonly KeyRef[], db?: number): Promise<{ pttl: number[]; at: number }> {
  return new Promise((resolve, reject) => {
    const pttl = new Array<number>(refs.length);
    let left = refs.length;
    let failed: Error | null = null;
    refs.forEach((r, i) => {
      conn.use(db ?? r.tdb);
      conn.send(['PTTL', r.key], (v) => {
        if (typeof v === 'number') pttl[i] = v;
        else failed ??= conn.unexpected(['PTTL', r.key], v);
        if (--left > 0) return;
        if (failed) reject(failed);
        else resolve({ pttl, at: Date.now() });
      });
    });
  });
}

/** A short identity of a DUMP payload: its CRC64 trailer (computed by the server anyway). */
function printOf(p: Buffer): string {
  return p.length >= 8 ? p.toString('hex', p.length - 8) : p.toString('hex');
}

/**
 * PTTL and MEMORY USAGE of each key, pipelined; `at` is when the replies came. Without `ttls`
 * only MEMORY USAGE (nil: no such key), and every key counts as having no TTL.
 */
function readMeta(conn: VerifyConn, refs: readonly KeyRef[], target: boolean, ttls = true): Promise<Meta> {
  return new Promise((resolve, reject) => {
    const n = refs.length;
    const pttl = new Array<number>(n);
    const mem = new Array<number | null>(n);
    let left = (ttls ? 2 : 1) * n;
    let failed: Error | null = null;
    const done = (): void => {
      if (--left > 0) return;
      if (failed) reject(failed);
      else resolve({ pttl, mem, at: Date.now() });
    };
    for (let i = 0; i < n; i++) {
      const r = refs[i];
      conn.use(target ? r.tdb : r.db);
      if (ttls) {
        conn.send(['PTTL', r.key], (v) => {
          if (typeof v === 'number') pttl[i] = v;
          else failed ??= conn.unexpected(['PTTL', r.key], v);
          done();
        });
      }
      conn.send(['MEMORY', 'USAGE', r.key], (v) => {
        if (typeof v === 'number' || v === null) mem[i] = v;
        else failed ??= conn.unexpected(['MEMORY', 'USAGE', r.key], v);
        if (!ttls) pttl[i] = v === null ? -2 : -1;
        done();
      });
    }
  });
}

/** The TTL difference in words ("none on the source, 98 s on the target"), or null when the TTLs agree. */
export function ttlDiff(pttlS: number, atS: number, pttlT: number, atT: number, toleranceMs: number): string | null {
  const s = pttlS >= 0 ? atS + pttlS : null;
  const t = pttlT >= 0 ? atT + pttlT : null;
  if (s === null && t === null) return null;
  if (s === null) return `none on the source, ${secs(pttlT)} on the target`;
  if (t === null) return `${secs(pttlS)} on the source, none on the target`;
  const apart = Math.abs(s - t);
  return apart > toleranceMs ? `expires ${secs(apart)} apart (${secs(pttlS)} on the source, ${secs(pttlT)} on the target)` : null;
}

function secs(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}
