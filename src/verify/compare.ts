/**
 * Compares a batch of keys on both sides, pipelined (src/verify/conn.ts):
 *
 *   stage 1, both sides:  PTTL k · MEMORY USAGE k            (existence, TTL, size: all O(1))
 *   stage 2, small keys:  DUMP k on both sides               → canonical.ts compares the payloads
 *            big keys:    windows.ts (HSCAN/SSCAN/ZSCAN/LRANGE/XRANGE/GETRANGE windows)
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
import { RespError, type RespValue } from '../engine/resp/decoder.js';
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
}

interface Meta {
  pttl: Int32Array | number[];
  mem: Array<number | null>;
  at: number;
}

const MiB = 1024 * 1024;

/** See the file comment. One per verification (it holds the budget and the figures). */
export class Comparer {
  readonly stats: CompareStats = { keys: 0, payloadEqual: 0, bodyEqual: 0, canonical: 0, windowed: 0, vanished: 0 };
  private readonly budget: Budget;
  private readonly bigKeyBytes: number;
  private readonly bigKeys = new Budget(2);

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
   */
  async compare(refs: readonly KeyRef[], settle?: () => Promise<void>, prints = false): Promise<Finding[]> {
    if (refs.length === 0) return [];
    this.stats.keys += refs.length;
    let ms: Meta;
    let mt: Meta;
    if (settle) {
      ms = await readMeta(this.src, refs, false);
      await settle();
      mt = await readMeta(this.tgt, refs, true);
    } else [ms, mt] = await Promise.all([readMeta(this.src, refs, false), readMeta(this.tgt, refs, true)]);

    const out: Finding[] = [];
    const small: number[] = [];
    const big: number[] = [];
    const ttl: Array<string | null> = new Array(refs.length).fill(null);
    for (let i = 0; i < refs.length; i++) {
      const hasS = ms.pttl[i] !== -2 && ms.mem[i] !== null;
      const hasT = mt.pttl[i] !== -2 && mt.mem[i] !== null;
      if (!hasS && !hasT) {
        this.stats.vanished++;
        continue;
      }
      if (hasS && !hasT) {
        if (prints && (ms.mem[i] ?? 0) <= this.bigKeyBytes) small.push(i);
        else out.push({ ref: refs[i], class: 'missing', detail: 'not on the target' });
        continue;
      }
      if (!hasS && hasT) {
        out.push({ ref: refs[i], class: 'extra', detail: 'not on the source' });
        continue;
      }
      ttl[i] = ttlDiff(ms.pttl[i], ms.at, mt.pttl[i], mt.at, this.opts.ttlToleranceMs);
      if (Math.max(ms.mem[i]!, mt.mem[i]!) > this.bigKeyBytes) big.push(i);
      else small.push(i);
    }

    const bigDone = big.map((i) => this.bigKeys.with(1, async () => {
      this.stats.windowed++;
      return compareBigKey(this.src, this.tgt, refs[i], { memS: ms.mem[i]!, memT: mt.mem[i]! }, this.opts.features);
    }));
    if (small.length) {
      const bytes = small.reduce((n, i) => n + (ms.mem[i] ?? 0) + (mt.mem[i] ?? 0), 0);
      await this.budget.with(bytes, async () => {
        let ds: RespValue[];
        let dt: RespValue[];
        const dumps = (side: VerifyConn, tdb: boolean) => side.batch(small.map((i) => ['DUMP', refs[i].key]), small.map((i) => (tdb ? refs[i].tdb : refs[i].db)));
        if (settle) {
          ds = await dumps(this.src, false);
          await settle();
          dt = await dumps(this.tgt, true);
        } else [ds, dt] = await Promise.all([dumps(this.src, false), dumps(this.tgt, true)]);
        small.forEach((i, j) => {
          const f = this.judge(refs[i], ds[j], dt[j], ttl[i]);
          if (f) out.push(f);
        });
      });
    }
    const results = await Promise.all(bigDone);
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

/** A short identity of a DUMP payload: its CRC64 trailer (computed by the server anyway). */
function printOf(p: Buffer): string {
  return p.length >= 8 ? p.toString('hex', p.length - 8) : p.toString('hex');
}

/** PTTL and MEMORY USAGE of each key, pipelined; `at` is when the replies came. */
function readMeta(conn: VerifyConn, refs: readonly KeyRef[], target: boolean): Promise<Meta> {
  return new Promise((resolve, reject) => {
    const n = refs.length;
    const pttl = new Array<number>(n);
    const mem = new Array<number | null>(n);
    let left = 2 * n;
    let failed: Error | null = null;
    const done = (): void => {
      if (--left > 0) return;
      if (failed) reject(failed);
      else resolve({ pttl, mem, at: Date.now() });
    };
    for (let i = 0; i < n; i++) {
      const r = refs[i];
      conn.use(target ? r.tdb : r.db);
      conn.send(['PTTL', r.key], (v) => {
        if (typeof v === 'number') pttl[i] = v;
        else failed ??= conn.unexpected(['PTTL', r.key], v);
        done();
      });
      conn.send(['MEMORY', 'USAGE', r.key], (v) => {
        if (typeof v === 'number' || v === null) mem[i] = v;
        else failed ??= conn.unexpected(['MEMORY', 'USAGE', r.key], v);
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
