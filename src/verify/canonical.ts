/**
 * Value comparison of two DUMP payloads (`<type byte><value><RDB version u16 LE><CRC64 u64 LE>`).
 *
 * 1. Equal payloads: equal values (same bytes, same encoding, same RDB version).
 * 2. Equal bodies (type byte + value) with different version trailers: equal values too. A server
 *    reads a payload's value by its type byte alone (RESTORE calls rdbLoadObject(type, …) without
 *    the payload's version: redis 7.4 src/cluster.c restoreCommand), and the engine's parser does
 *    the same, so the same bytes under the same type byte are the same value in any version.
 * 3. Otherwise a canonical comparison: both payloads are decoded with the engine's RDB parser
 *    (src/engine/rdb, every type and encoding of RDB 1-12 and Valkey) and compared as values:
 *    strings by bytes, lists in order, sets as sets, zsets member → score (as numbers), hashes
 *    field → value (and per-field TTLs), streams by entries, last ID, stream metadata when both
 *    encodings carry it, groups (last delivered ID, PEL IDs with their consumer and delivery
 *    count, consumer names). So a listpack hash equals the same hash in a hashtable, and a
 *    Redis 6 ziplist equals the listpack a 7.x target made of it.
 *
 * Values never appear in the details (they may be secrets): counts and member positions do.
 */
import { decodePayload } from '../engine/rdb/index.js';
import { RDB_TYPE_STREAM_LISTPACKS_2, VALUE_TYPE } from '../engine/rdb/types.js';
import type { RdbChunk } from '../engine/rdb/chunk.js';
import type { StreamGroup, StreamMeta } from '../engine/entry.js';

/** A difference between two values: type or value, with a short description. */
export interface ValueDiff {
  class: 'type' | 'value';
  detail: string;
}

/** What settled the comparison (counted in the report). */
export type CompareWay = 'payload' | 'body' | 'canonical';

/** Logical type name of a payload ('string', 'hash', …; 'unknown' for an unknown type byte). */
export function payloadType(p: Buffer): string {
  return VALUE_TYPE[p[0]] ?? 'unknown';
}

/** What a canonical comparison leaves out on purpose. */
export interface CanonicalRules {
  /** Hash-field TTLs (a sync with --drop-field-ttl does not copy them). */
  ignoreFieldTtls?: boolean;
}

/** Compares two DUMP payloads; `way` reports which step decided. Null means equal. */
export function comparePayloads(a: Buffer, b: Buffer, way?: { way: CompareWay }, rules: CanonicalRules = {}): ValueDiff | null {
  if (a.equals(b)) {
    if (way) way.way = 'payload';
    return null;
  }
  const ta = payloadType(a);
  const tb = payloadType(b);
  if (ta !== tb) return { class: 'type', detail: `${ta} on the source, ${tb} on the target` };
  if (a.length === b.length && a[0] === b[0] && a.compare(b, 0, b.length - 10, 0, a.length - 10) === 0) {
    if (way) way.way = 'body';
    return null;
  }
  if (way) way.way = 'canonical';
  if (ta === 'module' || ta === 'unknown') return { class: 'value', detail: `${ta} values differ (compared as bytes)` };
  let da: ReturnType<typeof decodePayload>;
  let db: ReturnType<typeof decodePayload>;
  try {
    da = decodePayload(a);
  } catch (e) {
    return { class: 'value', detail: `the source's DUMP payload does not decode (${(e as Error).message})` };
  }
  try {
    db = decodePayload(b);
  } catch (e) {
    return { class: 'value', detail: `the target's DUMP payload does not decode (${(e as Error).message})` };
  }
  const detail = compareDecoded(ta, da.chunk, db.chunk, da.rdbType, db.rdbType, rules);
  return detail ? { class: 'value', detail } : null;
}

function compareDecoded(type: string, a: RdbChunk, b: RdbChunk, ra: number, rb: number, rules: CanonicalRules): string | null {
  switch (type) {
    case 'string': {
      const [x, y] = [Buffer.concat(a.items), Buffer.concat(b.items)];
      return x.equals(y) ? null : `string: ${lengthsText(x.length, y.length, 'bytes')}`;
    }
    case 'list':
      return compareLists(a.items, b.items);
    case 'set':
      return compareSets(a.items, b.items, 'members');
    case 'zset':
      return compareMaps(pairs(a.items), pairs(b.items), 'zset', 'members', scoreEqual);
    case 'hash': {
      const d = compareMaps(pairs(a.items), pairs(b.items), 'hash', 'fields', (x, y) => x.equals(y));
      if (d) return d;
      return rules.ignoreFieldTtls ? null : compareFieldTtls(a, b);
    }
    case 'stream':
      return compareStreams(a, b, ra >= RDB_TYPE_STREAM_LISTPACKS_2 && rb >= RDB_TYPE_STREAM_LISTPACKS_2);
  }
  return null;
}

function lengthsText(x: number, y: number, unit: string): string {
  return x === y ? `same length (${x} ${unit}), different content` : `${x} ${unit} on the source, ${y} on the target`;
}

function compareLists(a: Buffer[], b: Buffer[]): string | null {
  if (a.length !== b.length) return `list: ${a.length} elements on the source, ${b.length} on the target`;
  for (let i = 0; i < a.length; i++) if (!a[i].equals(b[i])) return `list: element ${i} differs`;
  return null;
}

/** Set difference sizes of two lists of members (duplicates count once). */
function compareSets(a: Buffer[], b: Buffer[], unit: string): string | null {
  const sa = new Set(a.map((x) => x.toString('latin1')));
  const sb = new Set(b.map((x) => x.toString('latin1')));
  let onlyA = 0;
  let onlyB = 0;
  for (const m of sa) if (!sb.has(m)) onlyA++;
  for (const m of sb) if (!sa.has(m)) onlyB++;
  if (onlyA === 0 && onlyB === 0) return null;
  return `set: ${count(onlyA, unit)} only on the source, ${onlyB} only on the target`;
}

function pairs(items: Buffer[]): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i].toString('latin1'), items[i + 1]);
  return m;
}

/** Two scores as text ("1.5", "inf", Redis 5's "0.10000000000000001") are the same double. */
export function scoreEqual(a: Buffer, b: Buffer): boolean {
  return a.equals(b) || parseScore(a.toString('latin1')) === parseScore(b.toString('latin1'));
}

/** A score as Redis prints it, as a number. */
export function parseScore(t: string): number {
  const s = t.toLowerCase();
  if (s === 'inf' || s === '+inf') return Infinity;
  if (s === '-inf') return -Infinity;
  return Number(s);
}

function compareMaps(a: Map<string, Buffer>, b: Map<string, Buffer>, type: string, unit: string, eq: (x: Buffer, y: Buffer) => boolean): string | null {
  let onlyA = 0;
  let onlyB = 0;
  let differ = 0;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) onlyA++;
    else if (!eq(v, w)) differ++;
  }
  for (const k of b.keys()) if (!a.has(k)) onlyB++;
  if (onlyA + onlyB + differ === 0) return null;
  const parts = [];
  if (differ) parts.push(`${count(differ, unit)} with a different ${type === 'zset' ? 'score' : 'value'}`);
  if (onlyA) parts.push(`${onlyA} only on the source`);
  if (onlyB) parts.push(`${onlyB} only on the target`);
  return `${type}: ${parts.join(', ')}`;
}

/** Per-field TTLs (redis 7.4 HEXPIRE): absolute ms, equal within a second either way. */
function compareFieldTtls(a: RdbChunk, b: RdbChunk): string | null {
  const ta = fieldTtls(a);
  const tb = fieldTtls(b);
  let differ = 0;
  for (const f of new Set([...ta.keys(), ...tb.keys()])) {
    const x = ta.get(f) ?? 0;
    const y = tb.get(f) ?? 0;
    if ((x === 0) !== (y === 0) || Math.abs(x - y) > 1000) differ++;
  }
  return differ ? `hash: ${count(differ, 'fields')} with a different field TTL` : null;
}

function fieldTtls(c: RdbChunk): Map<string, number> {
  const m = new Map<string, number>();
  const exp = c.fieldExpireAt;
  if (!exp) return m;
  const items = c.items;
  for (let i = 0; i < exp.length; i++) if (exp[i]) m.set(items[2 * i].toString('latin1'), exp[i]);
  return m;
}

function compareStreams(a: RdbChunk, b: RdbChunk, bothV2: boolean): string | null {
  const ea = a.streamEntries ?? [];
  const eb = b.streamEntries ?? [];
  if (ea.length !== eb.length) return `stream: ${ea.length} entries on the source, ${eb.length} on the target`;
  for (let i = 0; i < ea.length; i++) {
    if (ea[i].id !== eb[i].id) return `stream: entry ${i} has ID ${ea[i].id} on the source, ${eb[i].id} on the target`;
    const fa = ea[i].fields;
    const fb = eb[i].fields;
    if (fa.length !== fb.length || fa.some((x, j) => !x.equals(fb[j]))) return `stream: the fields of entry ${ea[i].id} differ`;
  }
  return compareStreamMeta(a.stream, b.stream, bothV2, new Set(ea.map((e) => e.id)));
}

/** Stream metadata and consumer groups (shared with the windowed comparison). */
export function compareStreamMeta(ma: StreamMeta | undefined, mb: StreamMeta | undefined, bothV2: boolean, liveIds?: Set<string>): string | null {
  if (!ma || !mb) return ma === mb ? null : 'stream: metadata missing on one side';
  if (ma.lastId !== mb.lastId) return `stream: last ID ${ma.lastId} on the source, ${mb.lastId} on the target`;
  if (bothV2) {
    if (ma.entriesAdded !== mb.entriesAdded) return `stream: entries-added ${ma.entriesAdded} on the source, ${mb.entriesAdded} on the target`;
    if (ma.maxDeletedId !== mb.maxDeletedId) return `stream: max-deleted-entry-id ${ma.maxDeletedId} on the source, ${mb.maxDeletedId} on the target`;
  }
  return compareGroups(ma.groups, mb.groups, liveIds);
}

/**
 * Consumer groups: name, last delivered ID, consumers, and the pending entries of entries that
 * exist. Left out, because Redis' own replication does not keep them exact, so a native replica
 * differs from its master there too (seen: a 7.0.15 replica of 7.0.15 under XREADGROUP showed
 * entries-read 261 against the master's 645):
 * - entries-read: XREADGROUP propagates XCLAIMs and a SETID, not the read counter, exactly;
 * - pending entries whose stream entry was deleted or trimmed: XCLAIM cannot recreate them (the
 *   engine counts them as pendingSkipped), and 6.2 keeps them on XCLAIM where 7.0+ drops them.
 */
function compareGroups(ga: StreamGroup[], gb: StreamGroup[], liveIds?: Set<string>): string | null {
  const byName = new Map(gb.map((g) => [g.name.toString('latin1'), g]));
  if (ga.length !== gb.length) return `stream: ${ga.length} consumer groups on the source, ${gb.length} on the target`;
  for (const g of ga) {
    const name = g.name.toString('latin1');
    const h = byName.get(name);
    if (!h) return `stream: group ${JSON.stringify(name)} is not on the target`;
    if (g.lastId !== h.lastId) return `stream: group ${JSON.stringify(name)} last delivered ID ${g.lastId} on the source, ${h.lastId} on the target`;
    const pa = pelOf(g, liveIds);
    const pb = pelOf(h, liveIds);
    if (pa.size !== pb.size) return `stream: group ${JSON.stringify(name)} has ${pa.size} pending entries on the source, ${pb.size} on the target`;
    for (const [id, v] of pa) if (pb.get(id) !== v) return `stream: group ${JSON.stringify(name)} pending entry ${id} differs (consumer or delivery count)`;
    const ca = g.consumers.map((c) => c.name.toString('latin1')).sort();
    const cb = h.consumers.map((c) => c.name.toString('latin1')).sort();
    if (ca.join('\0') !== cb.join('\0')) return `stream: group ${JSON.stringify(name)} has other consumers on the target`;
  }
  return null;
}

/** PEL as id → "consumer/deliveryCount", only for IDs in `liveIds` when given. */
function pelOf(g: StreamGroup, liveIds?: Set<string>): Map<string, string> {
  const owner = new Map<string, string>();
  for (const c of g.consumers) for (const id of c.pending) owner.set(id, c.name.toString('latin1'));
  const pending = liveIds ? g.pending.filter((p) => liveIds.has(p.id)) : g.pending;
  return new Map(pending.map((p) => [p.id, `${owner.get(p.id) ?? ''}/${p.deliveryCount}`]));
}

/** "1 field", "3 fields" (`plural`: fields, members, entries, elements). */
export function count(n: number, plural: string): string {
  const one = plural.endsWith('ies') ? `${plural.slice(0, -3)}y` : plural.replace(/s$/, '');
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : plural}`;
}
