/**
 * Key filters and db mapping, applied the same way to RDB keys and to stream commands.
 *
 * - `--include GLOB` / `--exclude GLOB` (repeatable, Redis glob syntax: `*`, `?`, `[a-z]`, `[^x]`,
 *   `\` escapes): a key passes when it matches some include (or there is none) and no exclude.
 * - `--db-map SRC:DST`: writes to source db SRC go to target db DST; unmapped dbs keep their number.
 *
 * Stream commands (`filterCommand`):
 * - keyless commands (FLUSHALL, FLUSHDB, SWAPDB, FUNCTION, PUBLISH, …) are forwarded unchanged;
 * - DEL, UNLINK and MSET, whose keys are independent, are rewritten to keep only matching keys
 *   (dropped when none matches);
 * - any other multi-key command (RENAME, LMOVE, SUNIONSTORE, BITOP, …) is forwarded whole when at
 *   least one of its keys matches, and dropped when none does. A command whose keys cross the filter
 *   is reported once per command name (`crossing`), because it may write a key outside the filter
 *   on the target (e.g. RENAME in:a out:b creates out:b). This keeps every matching key exact.
 */

/** Compiles one Redis glob to a RegExp over latin1 text (so any byte is one char). */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < glob.length) re += escapeRe(glob[++i]);
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      const neg = body.startsWith('^');
      if (neg) body = body.slice(1);
      re += `[${neg ? '^' : ''}${body.replace(/[\\\]]/g, (m) => `\\${m}`)}]`;
      i = close;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

export interface FilterOptions {
  include?: string[];
  exclude?: string[];
  dbMap?: Record<number, number>;
}

/** Key positions of a command: first, last (negative = from the end), step. */
type KeySpec = [number, number, number];

const MULTI_KEY: Record<string, KeySpec> = {
  del: [1, -1, 1],
  unlink: [1, -1, 1],
  mset: [1, -1, 2],
  msetnx: [1, -1, 2],
  rename: [1, 2, 1],
  renamenx: [1, 2, 1],
  copy: [1, 2, 1],
  smove: [1, 2, 1],
  lmove: [1, 2, 1],
  blmove: [1, 2, 1],
  rpoplpush: [1, 2, 1],
  brpoplpush: [1, 2, 1],
  sunionstore: [1, -1, 1],
  sinterstore: [1, -1, 1],
  sdiffstore: [1, -1, 1],
  pfmerge: [1, -1, 1],
  bitop: [2, -1, 1],
  touch: [1, -1, 1],
};

const KEYLESS = new Set([
  'flushall', 'flushdb', 'swapdb', 'function', 'script', 'publish', 'spublish', 'ping', 'select', 'multi', 'exec',
  'replconf', 'lastsave',
]);

/** What `filterCommand` decided. */
export type FilterDecision = { action: 'keep' } | { action: 'drop' } | { action: 'rewrite'; argv: Buffer[] };

/** See the file comment. */
export class KeyFilter {
  /** Command names seen crossing the filter (reported once each). */
  readonly crossing = new Set<string>();
  private readonly include: RegExp[];
  private readonly exclude: RegExp[];
  private readonly dbMap: Map<number, number>;
  /** True when no include/exclude is set: every key passes. */
  readonly passAll: boolean;

  constructor(opts: FilterOptions = {}) {
    this.include = (opts.include ?? []).map(globToRegExp);
    this.exclude = (opts.exclude ?? []).map(globToRegExp);
    this.dbMap = new Map(Object.entries(opts.dbMap ?? {}).map(([k, v]) => [Number(k), v]));
    this.passAll = this.include.length === 0 && this.exclude.length === 0;
  }

  /** Target db for a source db. */
  mapDb(db: number): number {
    return this.dbMap.get(db) ?? db;
  }

  /** Does this key pass the include/exclude globs? */
  keyPasses(key: Buffer): boolean {
    if (this.passAll) return true;
    const s = key.toString('latin1');
    if (this.include.length && !this.include.some((r) => r.test(s))) return false;
    return !this.exclude.some((r) => r.test(s));
  }

  /** Decides what to do with one stream command (see the file comment). */
  filterCommand(argv: Buffer[]): FilterDecision {
    if (this.passAll || argv.length < 2) return { action: 'keep' };
    const name = argv[0].toString('latin1').toLowerCase();
    if (KEYLESS.has(name)) return { action: 'keep' };
    const spec = MULTI_KEY[name];
    let idx: number[];
    if (spec) {
      const [first, lastSpec, step] = spec;
      const last = lastSpec < 0 ? argv.length + lastSpec : Math.min(lastSpec, argv.length - 1);
      idx = [];
      for (let i = first; i <= last; i += step) idx.push(i);
    } else idx = keyIndexes(name, argv);
    let pass = 0;
    let fail = 0;
    for (const i of idx) {
      if (this.keyPasses(argv[i])) pass++;
      else fail++;
    }
    if (fail === 0) return { action: 'keep' };
    if (pass === 0) return { action: 'drop' };
    if (name === 'del' || name === 'unlink' || name === 'mset') {
      const step = spec ? spec[2] : 1;
      const out = [argv[0]];
      for (const i of idx) {
        if (this.keyPasses(argv[i])) for (let j = 0; j < step; j++) out.push(argv[i + j]);
      }
      return { action: 'rewrite', argv: out };
    }
    this.crossing.add(name);
    return { action: 'keep' };
  }
}

/** Key positions of commands not in MULTI_KEY: numkeys-style stores, else argv[1]. */
function keyIndexes(name: string, argv: Buffer[]): number[] {
  if (name === 'zunionstore' || name === 'zinterstore' || name === 'zdiffstore') {
    const n = Number(argv[2]?.toString());
    const out = [1];
    if (Number.isInteger(n)) for (let i = 0; i < n && 3 + i < argv.length; i++) out.push(3 + i);
    return out;
  }
  return [1];
}
