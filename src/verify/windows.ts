/**
 * Big keys, compared in windows and never held whole: at most one window per side is in memory
 * (about `WINDOW_BYTES` of elements), whatever the key's size.
 *
 *   string  STRLEN both, then GETRANGE windows of 1 MiB at the same offsets
 *   list    LLEN both, then LRANGE windows at the same indexes
 *   hash    HLEN both, then HSCAN the source and HMGET the window's fields on the target
 *   set     SCARD both, then SSCAN the source and SMISMEMBER (SISMEMBER before 6.2) on the target
 *   zset    ZCARD both, then ZSCAN the source and ZMSCORE (ZSCORE before 6.2) on the target
 *   stream  XLEN both, XRANGE pages at the same IDs, then XINFO STREAM / XINFO GROUPS / XPENDING
 *           pages / XINFO CONSUMERS for the metadata and the consumer groups
 *
 * Equal counts plus "every element the source SCANs is on the target, equal" means equal values:
 * a full SCAN returns every element present for the whole scan at least once (redis
 * src/dict.c dictScan guarantee), and the target cannot hold extra elements with the same count.
 * The next HSCAN/SSCAN/ZSCAN is sent while the target answers the current window, so both sides
 * work at once. The first differing window ends the comparison (the key differs).
 */
import { RespError, type RespValue } from '../engine/resp/decoder.js';
import { type ValueDiff, count, parseScore } from './canonical.js';
import type { VerifyConn } from './conn.js';
import type { KeyRef } from './scope.js';

/** What the target's version offers (from INFO server). */
export interface Features {
  /** SMISMEMBER and ZMSCORE (redis >= 6.2). */
  multiMember: boolean;
}

/** Bytes of elements per window and side (the window's element count follows the key's average size). */
const WINDOW_BYTES = 1024 * 1024;

/** Compares a big key; null when equal. `hint` is each side's MEMORY USAGE. */
export async function compareBigKey(src: VerifyConn, tgt: VerifyConn, ref: KeyRef, hint: { memS: number; memT: number }, f: Features): Promise<ValueDiff | { class: 'missing'; detail: string } | null> {
  const [ts, tt] = await Promise.all([src.call(['TYPE', ref.key], ref.db), tgt.call(['TYPE', ref.key], ref.tdb)]);
  const typeS = String(ts);
  const typeT = String(tt);
  if (typeS === 'none') return null; // gone from the source meanwhile: the rounds look again
  if (typeT === 'none') return { class: 'missing', detail: 'not on the target' };
  if (typeS !== typeT) return { class: 'type', detail: `${typeS} on the source, ${typeT} on the target` };
  const k = new KeyCmp(src, tgt, ref);
  switch (typeS) {
    case 'string':
      return k.string();
    case 'list':
      return k.counted('LLEN', 'list', 'elements', hint.memS, (n, per) => k.list(n, per));
    case 'hash':
      return k.counted('HLEN', 'hash', 'fields', hint.memS, (_n, per) => k.hash(per));
    case 'set':
      return k.counted('SCARD', 'set', 'members', hint.memS, (_n, per) => k.set(per, f));
    case 'zset':
      return k.counted('ZCARD', 'zset', 'members', hint.memS, (_n, per) => k.zset(per, f));
    case 'stream':
      return k.counted('XLEN', 'stream', 'entries', hint.memS, (_n, per) => k.stream(per));
    case 'none':
      return null; // gone from both sides meanwhile
    default:
      return { class: 'value', detail: `${typeS} values are compared only by DUMP, and this one is too big for that` };
  }
}

/** One big key's comparison. */
class KeyCmp {
  constructor(
    private readonly src: VerifyConn,
    private readonly tgt: VerifyConn,
    private readonly ref: KeyRef,
  ) {}

  private s(args: Array<string | number | Buffer>): Promise<RespValue> {
    return this.src.call(args, this.ref.db);
  }

  private t(args: Array<string | number | Buffer>): Promise<RespValue> {
    return this.tgt.call(args, this.ref.tdb);
  }

  /** Counts on both sides; equal counts go on to `windows(count, elements per window)`. */
  async counted(cmd: string, type: string, unit: string, memS: number, windows: (n: number, per: number) => Promise<ValueDiff | null>): Promise<ValueDiff | null> {
    const [a, b] = await Promise.all([this.s([cmd, this.ref.key]), this.t([cmd, this.ref.key])]);
    const n = Number(a);
    if (n !== Number(b)) return { class: 'value', detail: `${type}: ${count(n, unit)} on the source, ${Number(b)} on the target` };
    const avg = n > 0 ? memS / n : 64;
    // NOTE: up to 5,000 small elements per window: a 3M-field hash is 600 windows, not 3,000 round trips.
    const per = Math.max(16, Math.min(5000, Math.floor(WINDOW_BYTES / Math.max(1, avg))));
    return windows(n, per);
  }

  async string(): Promise<ValueDiff | null> {
    const [a, b] = await Promise.all([this.s(['STRLEN', this.ref.key]), this.t(['STRLEN', this.ref.key])]);
    const n = Number(a);
    if (n !== Number(b)) return { class: 'value', detail: `string: ${n} bytes on the source, ${Number(b)} on the target` };
    for (let off = 0; off < n; off += WINDOW_BYTES) {
      const end = Math.min(n, off + WINDOW_BYTES) - 1;
      const [x, y] = await Promise.all([this.s(['GETRANGE', this.ref.key, off, end]), this.t(['GETRANGE', this.ref.key, off, end])]);
      if (!bufEq(x, y)) return { class: 'value', detail: `string: bytes ${off}-${end} differ` };
    }
    return null;
  }

  async list(n: number, per: number): Promise<ValueDiff | null> {
    for (let i = 0; i < n; i += per) {
      const [x, y] = await Promise.all([this.s(['LRANGE', this.ref.key, i, i + per - 1]), this.t(['LRANGE', this.ref.key, i, i + per - 1])]);
      const a = x as Buffer[];
      const b = y as Buffer[];
      if (a.length !== b.length) return { class: 'value', detail: `list: window at index ${i} has ${a.length} elements on the source, ${b.length} on the target` };
      for (let j = 0; j < a.length; j++) if (!a[j].equals(b[j])) return { class: 'value', detail: `list: element ${i + j} differs` };
    }
    return null;
  }

  /** HSCAN/SSCAN/ZSCAN the source, the next window requested while the current one is checked. */
  private async scanSource(cmd: string, per: number, check: (items: Buffer[]) => Promise<string | null>): Promise<string | null> {
    let next = this.s([cmd, this.ref.key, '0', 'COUNT', per]);
    for (;;) {
      const r = (await next) as [Buffer, Buffer[]];
      const cursor = String(r[0]);
      if (cursor !== '0') next = this.s([cmd, this.ref.key, cursor, 'COUNT', per]);
      const d = r[1].length ? await check(r[1]) : null;
      if (d) {
        if (cursor !== '0') next.catch(() => {}); // its reply comes and goes unused
        return d;
      }
      if (cursor === '0') return null;
    }
  }

  async hash(per: number): Promise<ValueDiff | null> {
    const d = await this.scanSource('HSCAN', per, async (items) => {
      const fields = items.filter((_, i) => i % 2 === 0);
      const values = (await this.t(['HMGET', this.ref.key, ...fields])) as Array<Buffer | null>;
      let missing = 0;
      let differ = 0;
      for (let i = 0; i < fields.length; i++) {
        if (values[i] === null) missing++;
        else if (!values[i]!.equals(items[2 * i + 1])) differ++;
      }
      return missing || differ ? `hash: ${[differ ? `${count(differ, 'fields')} with a different value` : '', missing ? `${count(missing, 'fields')} not on the target` : ''].filter(Boolean).join(', ')} (in one window)` : null;
    });
    return d ? { class: 'value', detail: d } : null;
  }

  async set(per: number, f: Features): Promise<ValueDiff | null> {
    const d = await this.scanSource('SSCAN', per, async (members) => {
      const found = f.multiMember
        ? ((await this.t(['SMISMEMBER', this.ref.key, ...members])) as number[])
        : await this.tgt.batch(members.map((m) => ['SISMEMBER', this.ref.key, m]), this.ref.tdb) as number[];
      const missing = found.filter((x) => x !== 1).length;
      return missing ? `set: ${count(missing, 'members')} not on the target (in one window)` : null;
    });
    return d ? { class: 'value', detail: d } : null;
  }

  async zset(per: number, f: Features): Promise<ValueDiff | null> {
    const d = await this.scanSource('ZSCAN', per, async (items) => {
      const members = items.filter((_, i) => i % 2 === 0);
      const scores = f.multiMember
        ? ((await this.t(['ZMSCORE', this.ref.key, ...members])) as Array<Buffer | null>)
        : ((await this.tgt.batch(members.map((m) => ['ZSCORE', this.ref.key, m]), this.ref.tdb)) as Array<Buffer | null>);
      let missing = 0;
      let differ = 0;
      for (let i = 0; i < members.length; i++) {
        const t = scores[i];
        if (t === null) missing++;
        else if (parseScore(String(t)) !== parseScore(String(items[2 * i + 1]))) differ++;
      }
      return missing || differ ? `zset: ${[differ ? `${count(differ, 'members')} with a different score` : '', missing ? `${count(missing, 'members')} not on the target` : ''].filter(Boolean).join(', ')} (in one window)` : null;
    });
    return d ? { class: 'value', detail: d } : null;
  }

  async stream(per: number): Promise<ValueDiff | null> {
    let start = '-';
    for (;;) {
      const [x, y] = await Promise.all([this.s(['XRANGE', this.ref.key, start, '+', 'COUNT', per]), this.t(['XRANGE', this.ref.key, start, '+', 'COUNT', per])]);
      const a = x as Array<[Buffer, Buffer[]]>;
      const b = y as Array<[Buffer, Buffer[]]>;
      if (a.length !== b.length) return { class: 'value', detail: `stream: entries from ${start} differ in number` };
      for (let i = 0; i < a.length; i++) {
        if (!a[i][0].equals(b[i][0])) return { class: 'value', detail: `stream: entry ID ${a[i][0]} on the source, ${b[i][0]} on the target` };
        const fa = a[i][1];
        const fb = b[i][1];
        if (fa.length !== fb.length || fa.some((v, j) => !v.equals(fb[j]))) return { class: 'value', detail: `stream: the fields of entry ${a[i][0]} differ` };
      }
      if (a.length < per) break;
      start = nextId(String(a[a.length - 1][0]));
    }
    return this.streamMeta(per);
  }

  /** XINFO STREAM / GROUPS / CONSUMERS and the PELs (XPENDING pages). */
  private async streamMeta(per: number): Promise<ValueDiff | null> {
    const [x, y] = await Promise.all([this.s(['XINFO', 'STREAM', this.ref.key]), this.t(['XINFO', 'STREAM', this.ref.key])]);
    const a = flatMap(x);
    const b = flatMap(y);
    for (const field of ['last-generated-id', 'max-deleted-entry-id', 'entries-added']) {
      if (a.has(field) && b.has(field) && String(a.get(field)) !== String(b.get(field))) {
        return { class: 'value', detail: `stream: ${field} ${String(a.get(field))} on the source, ${String(b.get(field))} on the target` };
      }
    }
    const [gx, gy] = await Promise.all([this.s(['XINFO', 'GROUPS', this.ref.key]), this.t(['XINFO', 'GROUPS', this.ref.key])]);
    const ga = (gx as RespValue[]).map(flatMap);
    const gb = new Map((gy as RespValue[]).map(flatMap).map((g) => [String(g.get('name')), g]));
    if (ga.length !== gb.size) return { class: 'value', detail: `stream: ${ga.length} consumer groups on the source, ${gb.size} on the target` };
    for (const g of ga) {
      const name = String(g.get('name'));
      const h = gb.get(name);
      if (!h) return { class: 'value', detail: `stream: group ${JSON.stringify(name)} is not on the target` };
      // NOTE: not entries-read, nor the pending count (see canonical.ts compareGroups).
      for (const field of ['last-delivered-id']) {
        if (g.has(field) && h.has(field) && String(g.get(field)) !== String(h.get(field))) {
          return { class: 'value', detail: `stream: group ${JSON.stringify(name)} ${field} ${String(g.get(field))} on the source, ${String(h.get(field))} on the target` };
        }
      }
      const pel = await this.comparePel(name, per, firstId(a.get('first-entry')), firstId(b.get('first-entry')));
      if (pel) return { class: 'value', detail: pel };
      const [cx, cy] = await Promise.all([this.s(['XINFO', 'CONSUMERS', this.ref.key, name]), this.t(['XINFO', 'CONSUMERS', this.ref.key, name])]);
      const names = (v: RespValue) => (v as RespValue[]).map((c) => String(flatMap(c).get('name'))).sort().join('\0');
      if (names(cx) !== names(cy)) return { class: 'value', detail: `stream: group ${JSON.stringify(name)} has other consumers on the target` };
    }
    return null;
  }

  /**
   * The group's pending entries whose stream entry exists, page by page: ID, consumer and delivery
   * count must match (idle time differs by nature). Pending entries of deleted or trimmed entries
   * are left out, as the canonical comparison leaves them out (canonical.ts compareGroups: native
   * replication does not keep them exact). Both sides are paged from the same ID; a page that
   * comes back full ends at its last ID, so each step compares what both sides hold up to the
   * lower of those, and which of its IDs still exist is asked of the source's stream (its entries
   * were found equal to the target's just before), one `XRANGE key id id` each.
   */
  private async comparePel(group: string, per: number, firstS: string | null, firstT: string | null): Promise<string | null> {
    if (firstS === null || firstT === null) return null; // an empty stream: every pending entry is gone
    // Below the first entry every pending entry is a trimmed one.
    let start = cmpId(firstS, firstT) <= 0 ? firstS : firstT;
    for (;;) {
      const [x, y] = await Promise.all([this.s(['XPENDING', this.ref.key, group, start, '+', per]), this.t(['XPENDING', this.ref.key, group, start, '+', per])]);
      const a = x as PelRow[];
      const b = y as PelRow[];
      const ends = [a, b].filter((p) => p.length >= per).map((p) => String(p[p.length - 1][0]));
      const upto = ends.length === 0 ? null : ends.reduce((m, id) => (cmpId(id, m) < 0 ? id : m));
      const within = (r: PelRow): boolean => upto === null || cmpId(String(r[0]), upto) <= 0;
      const ids = [...new Set([...a, ...b].filter(within).map((r) => String(r[0])))];
      const found = await this.src.batch(ids.map((id) => ['XRANGE', this.ref.key, id, id]), this.ref.db);
      const live = new Set(ids.filter((_, i) => Array.isArray(found[i]) && (found[i] as RespValue[]).length > 0));
      const pa = a.filter((r) => within(r) && live.has(String(r[0])));
      const pb = b.filter((r) => within(r) && live.has(String(r[0])));
      if (pa.length !== pb.length) return `stream: group ${JSON.stringify(group)} pending entries from ${start} differ in number`;
      for (let i = 0; i < pa.length; i++) {
        if (String(pa[i][0]) !== String(pb[i][0]) || String(pa[i][1]) !== String(pb[i][1]) || pa[i][3] !== pb[i][3]) {
          return `stream: group ${JSON.stringify(group)} pending entry ${String(pa[i][0])} differs (ID, consumer or delivery count)`;
        }
      }
      if (upto === null) return null;
      start = nextId(upto);
    }
  }
}

/** One XPENDING extended-form row: ID, consumer, idle ms, delivery count. */
type PelRow = [Buffer, Buffer, number, number];

/** Orders two stream IDs (`ms-seq`). */
export function cmpId(x: string, y: string): number {
  const [a, b] = x.split('-').map((v) => BigInt(v));
  const [c, d] = y.split('-').map((v) => BigInt(v));
  return a !== c ? (a < c ? -1 : 1) : b !== (d ?? 0n) ? (b < (d ?? 0n) ? -1 : 1) : 0;
}

/** The ID of XINFO STREAM's first-entry ([id, fields] or nil). */
function firstId(v: RespValue | undefined): string | null {
  return Array.isArray(v) && v.length > 0 ? String(v[0]) : null;
}

function bufEq(a: RespValue, b: RespValue): boolean {
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : a === b;
}

/** The stream ID right after `id` (`ms-seq` + 1; works on 5.0, which has no exclusive ranges). */
export function nextId(id: string): string {
  const [ms, seq] = id.split('-').map((x) => BigInt(x));
  return seq === 0xffffffffffffffffn ? `${ms + 1n}-0` : `${ms}-${seq + 1n}`;
}

/** A RESP map as a flat array [name, value, …] → Map (names as text). */
function flatMap(v: RespValue): Map<string, RespValue> {
  const m = new Map<string, RespValue>();
  if (!Array.isArray(v)) return m;
  for (let i = 0; i + 1 < v.length; i += 2) m.set(String(v[i]), v[i + 1] instanceof RespError ? null : v[i + 1]);
  return m;
}
