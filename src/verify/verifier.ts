/**
 * `runVerify`: compares two servers in both directions and returns the report (plain data; the
 * command renders it, the run's gate stores it).
 *
 *   full:    SCAN each source db, compare every key with its target db (compare.ts);
 *            at the same time SCAN each target db and look for keys the source lacks (EXISTS k1 …
 *            kn, one command per SCAN batch; only a batch that comes up short is looked at key by
 *            key): the first direction already read every source key's value, so the second only
 *            needs to know which target keys the source has
 *   sample:  per db, RANDOMKEY draws on the source and on the target (half each), compared the
 *            same way; a db with no more keys than the sample is checked whole
 *   then:    the rounds (rounds.ts) recheck what differed; what persists is reported
 *
 * Memory is bounded by the SCAN batches in flight (4 × --scan-count keys per direction; MGET
 * replies of at most 4 KiB per string), the DUMP byte budget,
 * one window per big key (two big keys at a time) and --max-recheck differing keys.
 */
import type { Endpoint, TlsOptions } from '../core/endpoint.js';
import { toPublicUrl } from '../core/endpoint.js';
import type { FilterOptions } from '../engine/apply/filter.js';
import { Comparer, type Finding } from './compare.js';
import { VerifyConn } from './conn.js';
import { RateLimiter } from './limits.js';
import { type DbReport, type NamedDifference, type VerifyReport, keyName } from './report.js';
import { Findings, infoMap, isChanging, refId, replicationSettle, runRounds } from './rounds.js';
import { type KeyRef, Scope } from './scope.js';
import { sampleStatement, upperBound } from './stats.js';

export interface VerifyOptions {
  from: Endpoint;
  to: Endpoint;
  tls?: TlsOptions;
  /** Keys drawn per db (--sample N); absent: every key. */
  sample?: number;
  filter?: FilterOptions;
  ttlToleranceMs?: number;
  /** Hash-field TTLs are not compared (a sync with --drop-field-ttl leaves them out on purpose). */
  ignoreFieldTtls?: boolean;
  /** Rechecks of a differing key (default 3). */
  rounds?: number;
  roundIntervalMs?: number;
  /** Keys per second read from each side (--rate). */
  rate?: number;
  /** Differing keys named in the report (default 100). */
  maxKeys?: number;
  /** Differing keys kept for the rounds (default 100,000). */
  maxRecheck?: number;
  scanCount?: number;
  bigKeyBytes?: number;
  signal?: AbortSignal;
  /**
   * How a recheck waits for the target to apply what the source had: a function (the run's gate
   * passes the driver's offsets), or 'auto' (default): replication offsets when the target is a
   * replica of the source or holds the engine's checkpoint, else nothing.
   */
  settle?: 'auto' | 'none' | (() => Promise<void>);
  progress?(p: { phase: string; done: number; total?: number; unit: string }): void;
  /** Stop reading new keys at this time (epoch ms): the report then says `partial`. */
  deadline?: number;
  /** Called with the findings that persisted, before the report is built (the gate's paused check). */
  afterRounds?(persisting: PersistingKeys): Promise<VerifyReport['pausedCheck'] | undefined>;
}

/** The keys that persisted through the rounds, for a last look with writes stopped. */
export interface PersistingKeys {
  changing: KeyRef[];
  /** Compares `refs` once more; returns those still differing. */
  recheck(refs: KeyRef[]): Promise<Finding[]>;
  /** Drops keys found equal. */
  settled(refs: KeyRef[]): void;
}

const DEFAULTS = { ttlToleranceMs: 1000, rounds: 3, roundIntervalMs: 1000, maxKeys: 100, maxRecheck: 100_000, scanCount: 1000 };
const INFLIGHT = 4;

/** See the file comment. */
export async function runVerify(opts: VerifyOptions): Promise<VerifyReport> {
  const o = { ...DEFAULTS, ...stripUndefined(opts) };
  const started = Date.now();
  const src = await VerifyConn.open(o.from, 'source', o.tls);
  let tgt: VerifyConn | undefined;
  try {
    tgt = await VerifyConn.open(o.to, 'target', o.tls);
    const run = new Run(o, src, tgt);
    return await run.go(started);
  } finally {
    src.close();
    tgt?.close();
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

type Opts = typeof DEFAULTS & VerifyOptions;

class Run {
  readonly scope: Scope;
  readonly findings: Findings;
  readonly limiter: RateLimiter;
  comparer!: Comparer;
  readonly dbs = new Map<string, DbReport>();
  outsideScope = 0;
  checked = { source: 0, target: 0 };
  /** The deadline stopped the first pass early. */
  partial = false;
  private sExpires = new Map<number, number>();
  private tExpires = new Map<number, number>();
  private done = 0;
  private total = 0;
  private readonly phases = { sourcePassMs: 0, targetPassMs: 0, roundsMs: 0 };
  /** Sample draws per db pair: the ids of the drawn keys (their outcome is read after the rounds). */
  private draws = new Map<string, { source: string[]; target: string[]; rejected: number }>();

  constructor(
    readonly o: Opts,
    readonly src: VerifyConn,
    readonly tgt: VerifyConn,
  ) {
    this.scope = new Scope(o.filter);
    this.findings = new Findings(o.maxRecheck);
    this.limiter = new RateLimiter(o.rate, o.signal);
  }

  async go(started: number): Promise<VerifyReport> {
    const [sSpace, tSpace, tServer] = await Promise.all([keyspace(this.src), keyspace(this.tgt), this.tgt.call(['INFO', 'server'])]);
    const [sKeys, tKeys] = [sSpace.keys, tSpace.keys];
    this.sExpires = sSpace.expires;
    this.tExpires = tSpace.expires;
    this.comparer = new Comparer(this.src, this.tgt, {
      ttlToleranceMs: this.o.ttlToleranceMs,
      ignoreFieldTtls: this.o.ignoreFieldTtls,
      bigKeyBytes: this.o.bigKeyBytes,
      features: { multiMember: atLeast(infoMap(tServer).redis_version, 6, 2) },
    });
    const pairs = this.pairs(sKeys, tKeys);
    if (this.o.sample === undefined) {
      this.total = [...sKeys.values()].reduce((a, b) => a + b, 0) + [...tKeys.values()].reduce((a, b) => a + b, 0);
      // The two directions at once: each pass's SCAN chain waits for its own server's replies,
      // so together they keep both servers busy (the source's SCAN and MGETs and EXISTS, the
      // target's MGETs and SCAN) instead of one pass leaving a server idle.
      const t0 = Date.now();
      await Promise.all([
        (async () => {
          for (const p of pairs) await this.scanSource(p.db, p.targetDb);
          this.phases.sourcePassMs = Date.now() - t0;
        })(),
        (async () => {
          for (const [tdb] of tKeys) await this.scanTarget(tdb, [...sKeys.keys()]);
          this.phases.targetPassMs = Date.now() - t0;
        })(),
      ]);
    } else {
      for (const p of pairs) await this.sample(p, sKeys, tKeys);
    }
    this.progress('compare', this.done, this.total);
    const firstPassMs = Date.now() - started;
    const t2 = Date.now();
    const settle = await this.settleFn();
    const rounds = await runRounds(this.findings, this.comparer, {
      rounds: this.o.rounds,
      intervalMs: this.o.roundIntervalMs,
      settle,
      signal: this.o.signal,
      onRecheck: (done, total) => this.progress('recheck', done, total),
    });
    this.phases.roundsMs = Date.now() - t2;
    const pausedCheck = this.o.afterRounds && this.findings.tracked.size > 0 ? await this.o.afterRounds(this.persisting(settle)) : undefined;
    return this.report(started, firstPassMs, rounds, pausedCheck);
  }

  /** Source dbs with keys and their target dbs, plus target dbs with keys that some source db maps to. */
  private pairs(sKeys: Map<number, number>, tKeys: Map<number, number>): DbReport[] {
    const out: DbReport[] = [];
    const seen = new Set<number>();
    for (const [db] of sKeys) {
      const t = this.scope.targetDb(db);
      out.push(this.db(db, t, sKeys, tKeys));
      seen.add(t);
    }
    for (const [t] of tKeys) {
      if (seen.has(t)) continue;
      const from = this.scope.sourceDbs(t, [...sKeys.keys()]);
      if (from.length) out.push(this.db(from[0], t, sKeys, tKeys));
    }
    return out;
  }

  private db(db: number, t: number, sKeys: Map<number, number>, tKeys: Map<number, number>): DbReport {
    const key = `${db}/${t}`;
    let d = this.dbs.get(key);
    if (!d) {
      d = { db, targetDb: t, sourceKeys: sKeys.get(db) ?? 0, targetKeys: tKeys.get(t) ?? 0, checked: { source: 0, target: 0 } };
      this.dbs.set(key, d);
    }
    return d;
  }

  /** Full pass, source side: every key of source db `db` against target db `tdb`. */
  private async scanSource(db: number, tdb: number): Promise<void> {
    const d = this.dbs.get(`${db}/${tdb}`)!;
    const ttls = this.readTtls(db, tdb);
    await this.scan(this.src, db, async (keys) => {
      const refs: KeyRef[] = [];
      for (const key of keys) if (this.scope.includes(key, db)) refs.push({ db, tdb, key });
      this.advance(keys.length);
      d.checked.source += refs.length;
      this.checked.source += refs.length;
      await this.limiter.take(refs.length);
      for (const f of await this.comparer.compare(refs, undefined, false, ttls)) this.findings.add(f);
    });
  }

  /**
   * Whether the first pass reads TTLs for a db pair: not when INFO keyspace says neither db holds
   * a key with a TTL (`expires=0` on both sides) — then every key has none, and one PTTL per key and
   * side is saved. (A key given a TTL while the pass runs was written meanwhile: like any key
   * written during the pass, it is not covered.) The rechecks always read TTLs.
   */
  private readTtls(db: number, tdb: number): boolean {
    return (this.sExpires.get(db) ?? 0) > 0 || (this.tExpires.get(tdb) ?? 0) > 0;
  }

  /** Full pass, target side: target db `tdb` for keys that no source db it maps from holds. */
  private async scanTarget(tdb: number, sourceDbs: number[]): Promise<void> {
    const from = this.scope.sourceDbs(tdb, sourceDbs);
    await this.scan(this.tgt, tdb, async (keys) => {
      this.advance(keys.length);
      const mine = keys.filter((k) => this.scope.includes(k, tdb));
      this.outsideScope += from.length ? keys.length - mine.length : keys.length;
      if (!from.length || !mine.length) return;
      const d = this.dbs.get(`${from[0]}/${tdb}`);
      if (d) d.checked.target += mine.length;
      this.checked.target += mine.length;
      await this.limiter.take(mine.length);
      const absent = await this.absentFromSource(mine, from);
      if (absent.length) for (const f of await this.comparer.compare(absent.map((key) => ({ db: from[0], tdb, key })))) this.findings.add(f);
    });
  }

  /** Which of `keys` no source db in `from` holds: one EXISTS per db, per key only when short. */
  private async absentFromSource(keys: Buffer[], from: number[]): Promise<Buffer[]> {
    if (from.length === 1) {
      const n = Number(await this.src.call(['EXISTS', ...keys], from[0]));
      if (n === keys.length) return [];
    }
    const cmds: Buffer[][] = [];
    const dbs: number[] = [];
    for (const db of from) for (const k of keys) {
      cmds.push([Buffer.from('EXISTS'), k]);
      dbs.push(db);
    }
    const r = await this.src.batch(cmds, dbs);
    return keys.filter((_, i) => from.every((_, j) => Number(r[j * keys.length + i]) === 0));
  }

  /** SCAN a db, handing each batch to `each` with up to INFLIGHT batches at once. */
  private async scan(conn: VerifyConn, db: number, each: (keys: Buffer[]) => Promise<void>): Promise<void> {
    const inflight: Array<Promise<void>> = [];
    let failure: unknown;
    let cursor = '0';
    do {
      this.throwIfAborted();
      if (this.expired()) break;
      const r = (await conn.call(['SCAN', cursor, 'COUNT', this.o.scanCount], db)) as [Buffer, Buffer[]];
      cursor = String(r[0]);
      const p = each(r[1]).catch((e) => {
        failure ??= e;
      });
      inflight.push(p);
      if (inflight.length >= INFLIGHT) await inflight.shift();
      if (failure) throw failure;
    } while (cursor !== '0');
    await Promise.all(inflight);
    if (failure) throw failure;
  }

  /** Sample mode for one db pair (see the file comment). */
  private async sample(p: DbReport, sKeys: Map<number, number>, tKeys: Map<number, number>): Promise<void> {
    const n = this.o.sample!;
    const sCount = sKeys.get(p.db) ?? 0;
    const tCount = tKeys.get(p.targetDb) ?? 0;
    const only = this.scope.sourceDbs(p.targetDb, [...sKeys.keys()]).length === 1;
    if (sCount + tCount <= n) {
      // Small enough to check whole: exact, no statistics needed.
      this.total += sCount + tCount;
      await this.scanSource(p.db, p.targetDb);
      if (only && tCount) await this.scanTarget(p.targetDb, [...sKeys.keys()]);
      return;
    }
    const nS = sCount === 0 ? 0 : tCount === 0 || !only ? n : Math.ceil(n / 2);
    const nT = n - nS;
    this.total += n;
    const draws = { source: [] as string[], target: [] as string[], rejected: 0 };
    this.draws.set(`${p.db}/${p.targetDb}`, draws);
    await this.drawFrom(this.src, p.db, p, nS, draws.source, draws);
    await this.drawFrom(this.tgt, p.targetDb, p, nT, draws.target, draws);
  }

  /** `count` RANDOMKEY draws in `db` on one side, compared as they come. */
  private async drawFrom(conn: VerifyConn, db: number, p: DbReport, count: number, ids: string[], draws: { rejected: number }): Promise<void> {
    let attempts = 0;
    // NOTE: RANDOMKEY picks fairly among the db's keys (dictGetFairRandomKey, redis 6.0+ src/db.c
    // dbRandomKey; 5.0 used dictGetRandomKey, slightly biased towards keys in short chains). Draws
    // the filter refuses are drawn again (at most 20 attempts per wanted key).
    while (ids.length < count && attempts < 20 * count) {
      this.throwIfAborted();
      if (this.expired()) return;
      const want = Math.min(1000, count - ids.length);
      attempts += want;
      const got = (await conn.batch(Array.from({ length: want }, () => ['RANDOMKEY']), db)).filter((k): k is Buffer => Buffer.isBuffer(k));
      if (got.length === 0) return;
      const refs: KeyRef[] = [];
      for (const key of got) {
        if (!this.scope.includes(key, db)) {
          draws.rejected++;
          continue;
        }
        refs.push({ db: p.db, tdb: p.targetDb, key });
      }
      await this.limiter.take(refs.length);
      for (const r of refs) ids.push(refId(r));
      if (conn.side === 'source') p.checked.source += refs.length;
      else p.checked.target += refs.length;
      this.checked[conn.side] += refs.length;
      this.advance(refs.length);
      for (const f of await this.comparer.compare(refs, undefined, false, this.readTtls(p.db, p.targetDb))) this.findings.add(f);
    }
  }

  private async settleFn(): Promise<(() => Promise<void>) | undefined> {
    const s = this.o.settle ?? 'auto';
    if (typeof s === 'function') return s;
    if (s === 'none' || this.findings.tracked.size === 0) return undefined;
    return replicationSettle(this.src, this.tgt, this.o.from);
  }

  private persisting(settle: (() => Promise<void>) | undefined): PersistingKeys {
    return {
      changing: [...this.findings.tracked.values()].filter(isChanging).map((t) => t.finding.ref),
      recheck: (refs) => this.comparer.compare(refs, settle, true),
      settled: (refs) => {
        for (const r of refs) this.findings.tracked.delete(refId(r));
      },
    };
  }

  private report(started: number, firstPassMs: number, rounds: Awaited<ReturnType<typeof runRounds>>, pausedCheck: VerifyReport['pausedCheck']): VerifyReport {
    const differences = this.findings.counts();
    const total = Object.values(differences).reduce((a, b) => a + b, 0);
    const keys: NamedDifference[] = [];
    for (const t of this.findings.tracked.values()) {
      if (keys.length >= this.o.maxKeys) break;
      const f = t.finding;
      keys.push({ db: f.ref.db, targetDb: f.ref.tdb, key: keyName(f.ref.key), class: f.class, detail: f.detail, ...(isChanging(t) ? { changing: true } : {}) });
    }
    for (const [pair, draws] of this.draws) {
      const d = this.dbs.get(pair)!;
      const bad = (ids: string[]) => ids.filter((id) => this.findings.tracked.has(id)).length;
      const k = bad(draws.source) + bad(draws.target);
      const nDraws = draws.source.length + draws.target.length;
      const perSide = Math.min(draws.source.length || Infinity, draws.target.length || Infinity);
      const bound = upperBound(k, nDraws);
      d.sample = {
        draws: nDraws,
        sourceDraws: draws.source.length,
        targetDraws: draws.target.length,
        differing: k,
        bound,
        // NOTE: draws alternate between the sides, so the bound is on the average of the two sides'
        // fractions; one side alone is bounded by its own draws (or twice the bound, the larger).
        boundPerSide: Number.isFinite(perSide) ? Math.min(1, Math.max(upperBound(k, perSide), 0)) : bound,
        statement: sampleStatement(k, nDraws),
        rejected: draws.rejected,
      };
    }
    const ms = Date.now() - started;
    const f = this.o.filter;
    const filtered = f && (f.include?.length || f.exclude?.length || Object.keys(f.dbMap ?? {}).length);
    return {
      agree: total === 0,
      mode: this.o.sample === undefined ? 'full' : 'sample',
      source: toPublicUrl(this.o.from),
      target: toPublicUrl(this.o.to),
      ...(this.o.sample !== undefined ? { sampleSize: this.o.sample } : {}),
      ms,
      // Source keys verified per second of the first pass (both directions, all reads included).
      keysPerSecond: (this.checked.source * 1000) / Math.max(1, firstPassMs),
      phases: this.phases,
      checked: this.checked,
      differences,
      totalDifferences: total,
      notRechecked: this.findings.untrackedTotal,
      keys,
      rounds: { ...rounds, intervalMs: this.o.roundIntervalMs, max: this.o.rounds },
      dbs: [...this.dbs.values()].sort((a, b) => a.db - b.db || a.targetDb - b.targetDb),
      outsideScope: this.outsideScope,
      values: this.comparer.stats,
      ttlToleranceMs: this.o.ttlToleranceMs,
      ...(filtered ? { filter: f } : {}),
      ...(pausedCheck ? { pausedCheck } : {}),
      ...(this.partial ? { partial: true } : {}),
    };
  }

  private advance(n: number): void {
    this.done += n;
    this.progress('compare', this.done, this.total);
  }

  private progress(phase: string, done: number, total?: number): void {
    this.o.progress?.({ phase, done, total: total && total > 0 ? Math.max(total, done) : undefined, unit: 'keys' });
  }

  /** True (and the report partial) once the deadline has passed. */
  private expired(): boolean {
    if (this.o.deadline === undefined || Date.now() < this.o.deadline) return false;
    this.partial = true;
    return true;
  }

  private throwIfAborted(): void {
    if (this.o.signal?.aborted) throw this.o.signal.reason;
  }
}

/** INFO keyspace → db → keys (non-empty dbs). */
async function keyspace(conn: VerifyConn): Promise<{ keys: Map<number, number>; expires: Map<number, number> }> {
  const info = infoMap(await conn.call(['INFO', 'keyspace']));
  const m = new Map<number, number>();
  const expires = new Map<number, number>();
  for (const [k, v] of Object.entries(info)) {
    const db = /^db(\d+)$/.exec(k);
    const keys = /(?:^|,)keys=(\d+)/.exec(v);
    if (db && keys && Number(keys[1]) > 0) m.set(Number(db[1]), Number(keys[1]));
    if (db) expires.set(Number(db[1]), Number(/(?:^|,)expires=(\d+)/.exec(v)?.[1] ?? 1));
  }
  return { keys: new Map([...m].sort((a, b) => a[0] - b[0])), expires };
}

function atLeast(version: string | undefined, major: number, minor: number): boolean {
  const [a, b] = String(version ?? '0').split('.').map(Number);
  return a > major || (a === major && (b || 0) >= minor);
}

