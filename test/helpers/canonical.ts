/**
 * A canonical per-key dump of a server, comparable across versions and forks (DEBUG DIGEST is not:
 * it hashes encodings and metadata that differ between versions). Every db, every key (binary
 * safe, by SCAN), its type, its absolute expiry (to the second: PEXPIRETIME before 7.0 is
 * now + PTTL), and its value in a form that does not depend on the encoding: sets and hashes
 * sorted, zsets by rank with numeric scores, streams with entries, last ID, groups, consumers and
 * pending entries; on 7.0+ the stream metadata (entries added, max deleted ID, a group's entries
 * read) and on 7.4 each hash field's TTL, where both servers can hold them.
 */
import type { Redis } from 'ioredis';
import { hashPairs, plainValue } from './dataset.js';

/** What the servers being compared can both hold. */
export interface Comparable {
  /** 7.0 stream metadata (both servers 7.0+). */
  streamMeta: boolean;
  /** Hash-field TTLs (both 7.4+, and not dropped). */
  fieldTtl: boolean;
  /**
   * Streams whose groups' entries-read is not compared: Redis itself does not replicate it exactly
   * for XREADGROUP, which it propagates as `XCLAIM … LASTID id`, and xclaimCommand moves the
   * group's last_id without touching entries_read (t_stream.c at 7.0.15; a native replica differs
   * the same way once the stream was trimmed or had deletions).
   */
  inexactEntriesRead?: (key: Buffer) => boolean;
  /**
   * Compare pending entries whose stream entry was deleted or trimmed. The commands writer cannot
   * recreate them (XCLAIM needs the entry; ferry reports their count), RESTORE and native can.
   */
  danglingPel?: boolean;
}

/** One key: type, absolute expiry in ms (null: none), canonical value. */
export interface KeyDump {
  type: string;
  expireMs: number | null;
  value: unknown;
}

export type Dump = Map<string, KeyDump>;

const hex = (b: Buffer): string => b.toString('hex');

/** Reads every key of every db; `skip(key)` leaves keys out (e.g. the live writer's). */
export async function canonicalDump(c: Redis, cmp: Comparable, skip: (key: Buffer) => boolean = () => false): Promise<Dump> {
  const out: Dump = new Map();
  const keyspace = await c.info('keyspace');
  const dbs = [...keyspace.matchAll(/^db(\d+):keys=(\d+)/gm)].map((m) => Number(m[1]));
  try {
    for (const db of dbs) {
      await c.select(db);
      let cursor = '0';
      do {
        const [next, keys] = (await c.scanBuffer(cursor, 'COUNT', 500)) as unknown as [Buffer, Buffer[]];
        cursor = next.toString();
        for (const k of keys) {
          if (skip(k)) continue;
          const v = await dumpKey(c, k, cmp);
          if (v !== undefined) out.set(`${db}:${hex(k)}`, v);
        }
      } while (cursor !== '0');
    }
  } finally {
    await c.select(0);
  }
  return out;
}

/** A key's expiry read on two servers at two moments may differ by the time between the reads. */
const EXPIRE_TOLERANCE_MS = 2000;

/** Differences between two dumps, as readable lines (empty when equal). */
export function diffDumps(a: Dump, b: Dump, names = ['source', 'target']): string[] {
  const out: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) {
      out.push(`${k}: only on the ${names[0]}`);
      continue;
    }
    const x = v as KeyDump;
    const y = w as KeyDump;
    const ttlDiffers = (x.expireMs === null) !== (y.expireMs === null) || (x.expireMs !== null && Math.abs(x.expireMs - y.expireMs!) > EXPIRE_TOLERANCE_MS);
    if (ttlDiffers || x.type !== y.type || JSON.stringify(x.value) !== JSON.stringify(y.value)) {
      const [path, va, vb] = firstDifference(x, y, ttlDiffers);
      out.push(`${printableKey(k)} (${x.type}) at ${path}: ${names[0]} ${JSON.stringify(va)?.slice(0, 300)} != ${names[1]} ${JSON.stringify(vb)?.slice(0, 300)}`);
    }
  }
  for (const k of b.keys()) if (!a.has(k)) out.push(`${k}: only on the ${names[1]}`);
  return out;
}

/** The first place two values differ: [path, a's part, b's part]. */
function firstDifference(a: KeyDump, b: KeyDump, ttl: boolean): [string, unknown, unknown] {
  if (ttl) return ['expireMs', a.expireMs, b.expireMs];
  const walk = (x: unknown, y: unknown, path: string): [string, unknown, unknown] | null => {
    if (JSON.stringify(x) === JSON.stringify(y)) return null;
    if (x && y && typeof x === 'object' && typeof y === 'object') {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of keys) {
        const d = walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${path}.${k}`);
        if (d) return d;
      }
    }
    return [path, x, y];
  };
  return walk(a.value, b.value, 'value') ?? ['type', a.type, b.type];
}

/** "db:hexkey" → "db:key" with non-printable bytes escaped. */
function printableKey(k: string): string {
  const i = k.indexOf(':');
  const key = Buffer.from(k.slice(i + 1), 'hex').toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `db${k.slice(0, i)} '${key}'`;
}

async function dumpKey(c: Redis, key: Buffer, cmp: Comparable): Promise<KeyDump | undefined> {
  const type = await c.type(key);
  if (type === 'none') return undefined; // expired or deleted between SCAN and now
  const pttl = await c.pttl(key);
  const expireMs = pttl > 0 ? Date.now() + pttl : null;
  let value: unknown;
  switch (type) {
    case 'string':
    case 'list':
    case 'set':
    case 'zset':
      value = await plainValue(c, key, type);
      break;
    case 'hash':
      value = await dumpHash(c, key, cmp);
      break;
    case 'stream':
      value = await dumpStream(c, key, cmp);
      break;
    default:
      value = `module type ${type}`;
  }
  return { type, expireMs, value };
}

async function dumpHash(c: Redis, key: Buffer, cmp: Comparable): Promise<unknown> {
  const fields: Array<[string, string, number?]> = await hashPairs(c, key);
  if (cmp.fieldTtl && fields.length > 0) {
    const names = fields.map((f) => Buffer.from(f[0], 'hex'));
    const ttls = (await c.call('HPEXPIRETIME', key, 'FIELDS', String(names.length), ...names)) as number[];
    fields.forEach((f, i) => {
      if (ttls[i] > 0) f.push(ttls[i]);
    });
  }
  return fields;
}

async function dumpStream(c: Redis, key: Buffer, cmp: Comparable): Promise<unknown> {
  const entries = (await c.callBuffer('XRANGE', key, '-', '+')) as Array<[Buffer, Buffer[]]>;
  const info = pairs((await c.call('XINFO', 'STREAM', key)) as unknown[]);
  const ids = new Set(entries.map(([id]) => id.toString()));
  const groups = [];
  for (const gr of (await c.call('XINFO', 'GROUPS', key)) as unknown[][]) {
    const g = pairs(gr);
    const name = String(g.name);
    const pel = ((await c.call('XPENDING', key, name, '-', '+', '1000000')) as unknown[][])
      .map((e) => [String(e[0]), String(e[1]), Number(e[3])] as const)
      .filter((e) => cmp.danglingPel !== false || ids.has(e[0]));
    const consumers = ((await c.call('XINFO', 'CONSUMERS', key, name)) as unknown[][])
      .map((cn) => String(pairs(cn).name))
      .sort()
      .map((cn) => [cn, pel.filter((e) => e[1] === cn).length]);
    groups.push({ name, lastId: String(g['last-delivered-id']), pel, consumers, ...(cmp.streamMeta && !cmp.inexactEntriesRead?.(key) ? { entriesRead: g['entries-read'] ?? null } : {}) });
  }
  groups.sort((a, b) => a.name.localeCompare(b.name));
  return {
    entries: entries.map(([id, f]) => [id.toString(), f.map(hex)]),
    length: Number(info.length),
    lastId: String(info['last-generated-id']),
    ...(cmp.streamMeta ? { entriesAdded: Number(info['entries-added']), maxDeletedId: String(info['max-deleted-entry-id']) } : {}),
    groups,
  };
}

/** [k1, v1, k2, v2, …] → { k1: v1, … }. */
function pairs(flat: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[String(flat[i])] = flat[i + 1];
  return o;
}
