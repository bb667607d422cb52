/**
 * Real RDB files made by other projects (../shared/rdb-corpus, absent in a user's checkout: the
 * tests skip then). Every file parses in both modes and with any chunking; where hdt-rdb ships a
 * NAME.json, keys, types, expiries and values match it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePayload, parseRdbBuffer, RdbParser } from '../../src/engine/rdb/index.js';
import { parseScore } from '../helpers/dataset.js';
import { KeyCollector, type CollectedKey } from './collect.js';

const CORPUS = join(process.cwd(), '..', 'shared', 'rdb-corpus');
const present = existsSync(CORPUS);
const files = present
  ? ['hdt-rdb', 'rdbtools'].flatMap((d) => readdirSync(join(CORPUS, d)).filter((f) => f.endsWith('.rdb')).map((f) => join(CORPUS, d, f)))
  : [];

function decodeAll(buf: Buffer, split: (buf: Buffer) => Buffer[]): { keys: CollectedKey[]; parser: RdbParser; c: KeyCollector } {
  const parser = new RdbParser({ mode: 'decode' });
  const c = new KeyCollector();
  for (const part of split(buf)) c.add(parser.write(part));
  parser.end();
  return { keys: c.keys, parser, c };
}

const whole = (b: Buffer): Buffer[] => [b];
const bytewise = (b: Buffer): Buffer[] => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
const pieces = (n: number) => (b: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
};

const text = (b: Buffer): string => new TextDecoder('utf-8').decode(b);

/** Our decoded key in the shape of hdt-rdb's JSON. */
function hdtShape(k: CollectedKey): Record<string, unknown> {
  const e = k.entry;
  const o: Record<string, unknown> = { db: e.db, key: text(e.key), type: e.type };
  if (e.expireAt !== null) o.expiration = e.expireAt;
  const it = k.items;
  switch (e.type) {
    case 'string':
      o.value = text(Buffer.concat(it));
      break;
    case 'list':
      o.values = it.map(text);
      break;
    case 'set':
      o.members = it.map(text);
      break;
    case 'zset': {
      const entries = [];
      for (let i = 0; i < it.length; i += 2) entries.push({ member: text(it[i]), score: parseScore(text(it[i + 1])) });
      o.entries = entries;
      break;
    }
    case 'hash': {
      const h: Record<string, string> = {};
      const ex: Record<string, number> = {};
      for (let i = 0; i < it.length; i += 2) {
        h[text(it[i])] = text(it[i + 1]);
        if (k.fieldExpireAt) ex[text(it[i])] = k.fieldExpireAt[i / 2];
      }
      o.hash = h;
      if (k.fieldExpireAt) o.expire = ex;
      break;
    }
    case 'stream': {
      const s = k.stream!;
      o.len = s.length;
      o.lastId = s.lastId;
      o.msgs = k.streamEntries.map((m) => ({ id: m.id, fields: fieldsObj(m.fields) }));
      o.groups = s.groups.map((g) => ({
        name: text(g.name),
        lastId: g.lastId,
        pending: g.pending,
        consumers: g.consumers.map((c) => ({ name: text(c.name), seenTime: c.seenTime, pending: c.pending })),
      }));
      break;
    }
  }
  return o;
}

function fieldsObj(f: Buffer[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < f.length; i += 2) o[text(f[i])] = text(f[i + 1]);
  return o;
}

/** hdt-rdb's JSON record normalized to hdtShape's form. */
function expected(j: Record<string, any>): Record<string, unknown> {
  const o: Record<string, unknown> = { db: j.db, key: j.key, type: j.type };
  if (j.expiration) o.expiration = Date.parse(j.expiration);
  for (const f of ['value', 'values', 'members', 'entries', 'hash'] as const) if (f in j && j.type !== 'stream') o[f] = j[f];
  if (j.type === 'hash' && j.expire) o.expire = j.expire;
  if (j.type === 'set' && j.members) o.members = j.members;
  if (j.type === 'stream') {
    o.len = j.len;
    o.lastId = j.lastId;
    o.msgs = (j.entries ?? []).flatMap((n: any) => n.msgs.filter((m: any) => !m.deleted).map((m: any) => ({ id: m.id, fields: m.fields })));
    o.groups = (j.groups ?? []).map((g: any) => ({
      name: g.name,
      lastId: g.lastId,
      pending: g.pending ?? [],
      consumers: (g.consumers ?? []).map((c: any) => ({ name: c.name, seenTime: c.seenTime, pending: c.pending ?? [] })),
    }));
  }
  return o;
}

describe.skipIf(!present)('RDB corpus (../shared/rdb-corpus)', () => {
  it('has files', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  for (const file of files) {
    const name = file.slice(CORPUS.length + 1);
    it(`parses ${name} identically whole, byte by byte and in 7-byte pieces, in both modes`, () => {
      const buf = readFileSync(file);
      const a = decodeAll(buf, whole);
      expect(a.parser.done).toBe(true);
      expect(a.parser.bytesConsumed + a.parser.trailing.length).toBe(buf.length);
      const shapes = a.keys.map(hdtShape);
      if (buf.length < 10_000) expect(decodeAll(buf, bytewise).keys.map(hdtShape)).toEqual(shapes);
      expect(decodeAll(buf, pieces(7)).keys.map(hdtShape)).toEqual(shapes);
      if (buf.length > 9000) expect(decodeAll(buf, pieces(9000)).keys.map(hdtShape)).toEqual(shapes);

      // payload mode: same keys; every non-module payload decodes to the same elements.
      const { records } = parseRdbBuffer(buf, { mode: 'payload' });
      const keys = records.filter((r) => r.kind === 'key');
      expect(keys.map((k) => text(k.key))).toEqual(a.keys.map((k) => text(k.entry.key)));
      keys.forEach((k, i) => {
        if (k.type === 'module') return;
        expect(k.payload).toBeDefined();
        const d = decodePayload(k.payload!);
        expect(d.version).toBe(a.parser.version);
        expect(d.chunk.items.map(text)).toEqual(a.keys[i].items.map(text));
        if (k.type === 'string' && k.value) expect(text(k.value)).toBe(text(a.keys[i].items[0]));
      });
    });

    const json = file.replace(/\.rdb$/, '.json');
    if (existsSync(json)) {
      it(`matches ${name.replace(/\.rdb$/, '.json')}`, () => {
        const want = JSON.parse(readFileSync(json, 'utf8')) as Array<Record<string, any>>;
        const { keys, parser, c } = decodeAll(readFileSync(file), whole);
        const aux = want.filter((j) => j.type === 'aux');
        for (const a of aux) expect(parser.aux.get(a.key)).toBe(a.value);
        const fns = want.filter((j) => j.type === 'functions');
        expect(c.functions.map((f) => f.code.toString())).toEqual(fns.map((f) => f.functionsLua));
        const data = want.filter((j) => j.type !== 'aux' && j.type !== 'functions');
        expect(keys.map(hdtShape)).toEqual(data.map(expected));
      });
    }
  }
});
