/**
 * What a verification covers: the keys that pass the sync's `--include/--exclude` (the same
 * KeyFilter the engine uses, src/engine/apply/filter.ts) in the dbs the `--db-map` pairs up, so a
 * filtered sync is verified with the filter and mapping it ran with. ferry's own checkpoint keys
 * (db 0: `__ferry:sync:checkpoint`, a cluster source's `__ferry:sync:checkpoint:<link>`, and a
 * cluster target's per-slot `__ferry:sync:slot:{tag}:<link>`, engine/cluster/cluster-target.ts)
 * are never compared.
 */
import { CHECKPOINT_KEY } from '../engine/checkpoint.js';
import { type FilterOptions, KeyFilter } from '../engine/apply/filter.js';

const CHECKPOINT = Buffer.from(CHECKPOINT_KEY);

/** A key under comparison: its source db, the target db it maps to, its name. */
export interface KeyRef {
  db: number;
  tdb: number;
  key: Buffer;
}

/** See the file comment. */
export class Scope {
  readonly filter: KeyFilter;
  /** True when no include/exclude/db-map is set. */
  readonly plain: boolean;

  constructor(opts: FilterOptions = {}) {
    this.filter = new KeyFilter(opts);
    this.plain = this.filter.passAll && Object.keys(opts.dbMap ?? {}).length === 0;
    this.mapped = Object.keys(opts.dbMap ?? {}).map(Number);
  }

  private readonly mapped: number[];

  /** The target db a source db's keys go to. */
  targetDb(db: number): number {
    return this.filter.mapDb(db);
  }

  /**
   * The source dbs whose keys go to target db `tdb`, among `sourceDbs` (the source's non-empty
   * dbs), the mapped dbs and `tdb` itself (an empty source db still maps to its target db).
   */
  sourceDbs(tdb: number, sourceDbs: readonly number[]): number[] {
    const candidates = new Set<number>([...sourceDbs, ...this.mapped, tdb]);
    return [...candidates].filter((s) => this.targetDb(s) === tdb).sort((a, b) => a - b);
  }

  /** Does a key of source db `db` (or target db `db` on the target side) take part? */
  includes(key: Buffer, db: number): boolean {
    // NOTE: the first byte and the length first: this runs once per key compared.
    if (db === 0 && key[0] === 0x5f && key.length >= CHECKPOINT.length && isCheckpointKey(key)) return false;
    return this.filter.keyPasses(key);
  }
}

/** `__ferry:sync:checkpoint`, `…:checkpoint:<n>` or `__ferry:sync:slot:{tag}:<n>`. */
function isCheckpointKey(key: Buffer): boolean {
  return /^__ferry:sync:(checkpoint(:\d+)?|slot:\{[0-9a-z]+\}:\d+)$/.test(key.toString('latin1'));
}
