/**
 * The core of `ferry rdb inspect FILE [--json]`: a summary of an RDB file (version, AUX fields,
 * keys per db by type, keys with TTL, biggest keys) or one JSON line per key.
 *
 * JSON line: {"db":0,"key":"k","type":"string|list|set|zset|hash|stream|module","expireAt":ms|null,"value":…}
 *   string: "text"             list, set: ["a", …] (set and hash in file order)
 *   zset: [[member, score], …] (scores are numbers; "inf", "-inf", "nan" as strings)
 *   hash: {field: value, …}, plus a sibling "fieldExpireAt": {field: ms} when fields have TTLs
 *   stream: {"entries":[{"id","fields":{…}}],"length","lastId","firstId","maxDeletedId",
 *            "entriesAdded","groups":[{"name","lastId","entriesRead","pending":[{"id","consumer",
 *            "deliveryTime","deliveryCount"}],"consumers":[{"name","seenTime","activeTime","pending":[id]}]}]}
 *   module: {"module": name, "version": n}
 * A string that is not valid UTF-8 is written as {"base64":"…"}; as an object key (hash field,
 * stream field) it becomes "base64:…".
 */
import { isUtf8 } from 'node:buffer';
import { stat } from 'node:fs/promises';
import type { ChunkEntry, KeyEntry, StreamEntryRecord, StreamMeta, ValueType } from '../entry.js';
import { parseRdbFile } from './index.js';

/** What the summary reports. */
export interface InspectSummary {
  file: string;
  fileBytes: number;
  magic: string;
  version: number;
  checksum: string;
  aux: Record<string, string>;
  dbs: Array<{ db: number; keys: number; withTtl: number; byType: Partial<Record<ValueType, number>> }>;
  functions: number;
  /** Keys holding an empty collection, skipped as Redis skips them when loading (empty-key.ts). */
  emptyKeysSkipped: number;
  biggest: Array<{ db: number; key: string; type: ValueType; rdbType: number; bytes: number }>;
  warnings: string[];
}

/** JSON for a binary-safe string. */
export function jsonString(b: Buffer): string | { base64: string } {
  return isUtf8(b) ? b.toString('utf8') : { base64: b.toString('base64') };
}

function jsonKey(b: Buffer): string {
  return isUtf8(b) ? b.toString('utf8') : `base64:${b.toString('base64')}`;
}

function scoreJson(b: Buffer): number | string {
  const n = Number(b.toString('latin1'));
  if (Number.isFinite(n)) return n;
  const t = b.toString('latin1').toLowerCase();
  return t === 'inf' || t === '+inf' ? 'inf' : t === '-inf' ? '-inf' : 'nan';
}

function pairsObject(items: Buffer[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < items.length; i += 2) o[jsonKey(items[i])] = jsonString(items[i + 1]);
  return o;
}

function streamJson(entries: StreamEntryRecord[], meta: StreamMeta | undefined): unknown {
  return {
    entries: entries.map((e) => ({ id: e.id, fields: pairsObject(e.fields) })),
    length: meta?.length,
    lastId: meta?.lastId,
    firstId: meta?.firstId,
    maxDeletedId: meta?.maxDeletedId,
    entriesAdded: meta?.entriesAdded,
    groups: (meta?.groups ?? []).map((g) => {
      const owner = new Map<string, string | { base64: string }>();
      for (const c of g.consumers) for (const id of c.pending) owner.set(id, jsonString(c.name));
      return {
        name: jsonString(g.name),
        lastId: g.lastId,
        entriesRead: g.entriesRead,
        pending: g.pending.map((p) => ({ id: p.id, consumer: owner.get(p.id) ?? null, deliveryTime: p.deliveryTime, deliveryCount: p.deliveryCount })),
        consumers: g.consumers.map((c) => ({ name: jsonString(c.name), seenTime: c.seenTime, activeTime: c.activeTime, pending: c.pending })),
      };
    }),
  };
}

/** One key (its key record and all its chunks' contents) as a JSON object. */
export function keyJson(e: KeyEntry, items: Buffer[], fieldExpireAt: number[] | undefined, entries: StreamEntryRecord[], meta: StreamMeta | undefined): Record<string, unknown> {
  const o: Record<string, unknown> = { db: e.db, key: jsonString(e.key), type: e.type, expireAt: e.expireAt };
  switch (e.type) {
    case 'string':
      o.value = jsonString(items.length === 1 ? items[0] : Buffer.concat(items));
      break;
    case 'list':
    case 'set':
      o.value = items.map(jsonString);
      break;
    case 'zset': {
      const z: unknown[] = [];
      for (let i = 0; i + 1 < items.length; i += 2) z.push([jsonString(items[i]), scoreJson(items[i + 1])]);
      o.value = z;
      break;
    }
    case 'hash': {
      o.value = pairsObject(items);
      if (fieldExpireAt?.some((t) => t !== 0)) {
        const fe: Record<string, number> = {};
        fieldExpireAt.forEach((t, i) => {
          if (t !== 0) fe[jsonKey(items[2 * i])] = t;
        });
        o.fieldExpireAt = fe;
      }
      break;
    }
    case 'stream':
      o.value = streamJson(entries, meta);
      break;
    case 'module':
      o.value = { module: e.module?.name ?? null, version: e.module?.version ?? null };
      break;
  }
  return o;
}

/** Streams one JSON line per key to `write` (awaited, for backpressure). Returns the key count. */
export async function inspectJson(path: string, write: (text: string) => Promise<void> | void): Promise<number> {
  let keys = 0;
  let cur: KeyEntry | null = null;
  let items: Buffer[] = [];
  let fex: number[] | undefined;
  let entries: StreamEntryRecord[] = [];
  let meta: StreamMeta | undefined;
  const emit = (lines: string[]): void => {
    lines.push(JSON.stringify(keyJson(cur!, items, fex, entries, meta)));
    keys++;
    cur = null;
    items = [];
    fex = undefined;
    entries = [];
    meta = undefined;
  };
  await parseRdbFile(path, { mode: 'decode' }, async (records) => {
    const lines: string[] = [];
    for (const r of records) {
      if (r.kind === 'key') {
        cur = r;
        if (!r.chunked) emit(lines); // module values
      } else if (r.kind === 'chunk') {
        for (const it of r.items) items.push(it);
        if (r.fieldExpireAt) (fex ??= []).push(...r.fieldExpireAt);
        if (r.streamEntries) for (const s of r.streamEntries) entries.push(s);
        if (r.stream) meta = r.stream;
        if (r.last) emit(lines);
      }
    }
    if (lines.length > 0) await write(`${lines.join('\n')}\n`);
  });
  return keys;
}

/** Reads the file once (payload mode, nothing decoded) and summarizes it. */
export async function inspectSummary(path: string, top = 10): Promise<InspectSummary> {
  const dbs = new Map<number, InspectSummary['dbs'][number]>();
  let functions = 0;
  const biggest: InspectSummary['biggest'] = [];
  let minBig = 0;
  const consider = (e: KeyEntry): void => {
    const bytes = e.size ?? 0;
    if (biggest.length >= top && bytes <= minBig) return;
    biggest.push({ db: e.db, key: jsonKey(e.key), type: e.type, rdbType: e.rdbType, bytes });
    biggest.sort((a, b) => b.bytes - a.bytes);
    if (biggest.length > top) biggest.length = top;
    minBig = biggest[biggest.length - 1].bytes;
  };
  let open: KeyEntry | null = null;
  const parser = await parseRdbFile(path, {}, (records) => {
    for (const r of records) {
      if (r.kind === 'function') functions++;
      if (r.kind === 'chunk' && r.last && open) {
        consider(open);
        open = null;
      }
      if (r.kind !== 'key') continue;
      let d = dbs.get(r.db);
      if (!d) dbs.set(r.db, (d = { db: r.db, keys: 0, withTtl: 0, byType: {} }));
      d.keys++;
      if (r.expireAt !== null) d.withTtl++;
      d.byType[r.type] = (d.byType[r.type] ?? 0) + 1;
      if (r.chunked) open = r;
      else consider(r);
    }
  });
  return {
    file: path,
    fileBytes: (await stat(path)).size,
    magic: parser.magic,
    version: parser.version,
    checksum: parser.checksum,
    aux: Object.fromEntries(parser.aux),
    dbs: [...dbs.values()].sort((a, b) => a.db - b.db),
    functions,
    emptyKeysSkipped: parser.emptyKeysSkipped,
    biggest,
    warnings: parser.warnings,
  };
}

function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** The human summary. */
export function summaryText(s: InspectSummary): string {
  const lines: string[] = [];
  lines.push(`${s.file}: ${bytesText(s.fileBytes)}, ${s.magic} RDB version ${s.version}, checksum ${s.checksum}`);
  const aux = Object.entries(s.aux);
  if (aux.length > 0) lines.push(`aux: ${aux.map(([k, v]) => `${k}=${v.length > 60 ? `${v.slice(0, 57)}...` : v}`).join(' ')}`);
  const total = s.dbs.reduce((n, d) => n + d.keys, 0);
  lines.push(`keys: ${total} in ${s.dbs.length} db${s.dbs.length === 1 ? '' : 's'}`);
  for (const d of s.dbs) {
    const types = Object.entries(d.byType).map(([t, n]) => `${t} ${n}`).join(', ');
    lines.push(`  db ${d.db}: ${d.keys} keys (${types}), ${d.withTtl} with TTL`);
  }
  if (s.functions > 0) lines.push(`functions: ${s.functions} librar${s.functions === 1 ? 'y' : 'ies'}`);
  if (s.emptyKeysSkipped > 0) lines.push(`empty keys skipped: ${s.emptyKeysSkipped} (empty collections, which Redis skips when it loads the file)`);
  if (s.biggest.length > 0) {
    lines.push('biggest keys (bytes in the RDB):');
    s.biggest.forEach((b, i) => lines.push(`  ${i + 1}. db ${b.db} ${JSON.stringify(b.key)} ${b.type} ${bytesText(b.bytes)}`));
  }
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
