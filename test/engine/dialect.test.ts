/**
 * The target's dialect (src/engine/apply/dialect.ts), the commands writer's stream commands per
 * target version, and the version checks of preflight (src/core/compat.ts): pure, no server.
 */
import { describe, expect, it } from 'vitest';
import { assessCompat } from '../../src/core/compat.js';
import type { ServerFacts } from '../../src/core/facts.js';
import { dialectOf, translateCommand } from '../../src/engine/apply/dialect.js';
import { KeyFilter } from '../../src/engine/apply/filter.js';
import { KeyWriter } from '../../src/engine/apply/key-writer.js';
import type { TargetConn } from '../../src/engine/apply/target-conn.js';
import type { ChunkEntry, KeyEntry } from '../../src/engine/entry.js';
import type { Arg } from '../../src/engine/resp/encoder.js';

const b = (...xs: string[]): Buffer[] => xs.map((x) => Buffer.from(x));
const text = (args: readonly Arg[]): string => args.map(String).join(' ');
const v62 = dialectOf({ redisVersion: '6.2.16' });
const v70 = dialectOf({ redisVersion: '7.0.15' });
const v74 = dialectOf({ redisVersion: '7.4.1' });
const valkey8 = dialectOf({ redisVersion: '7.2.4', valkeyVersion: '8.0.1' });

describe('dialectOf', () => {
  it('knows what each version added', () => {
    expect(v62).toMatchObject({ streamMeta: false, createConsumer: true, fieldTtl: false, functions: false });
    expect(dialectOf({ redisVersion: '6.0.20' }).createConsumer).toBe(false);
    expect(v70).toMatchObject({ streamMeta: true, fieldTtl: false, functions: true });
    expect(v74.fieldTtl).toBe(true);
    // Valkey reports redis_version 7.2.4: judged by valkey_version.
    expect(valkey8).toMatchObject({ name: 'valkey 8.0.1', streamMeta: true, fieldTtl: false, functions: true });
    expect(dialectOf({ redisVersion: '7.2.4', valkeyVersion: '9.0.0' }).fieldTtl).toBe(true);
  });
});

describe('translateCommand (stream applier)', () => {
  it('drops the 7.0 stream arguments for a 6.2 target and keeps them for 7.0', () => {
    expect(translateCommand(b('XSETID', 's', '10-0', 'ENTRIESADDED', '5', 'MAXDELETEDID', '2-0'), v62)).toEqual({ action: 'rewrite', argv: b('XSETID', 's', '10-0') });
    expect(translateCommand(b('xgroup', 'SETID', 's', 'g', '5-1', 'entriesread', '3'), v62)).toEqual({ action: 'rewrite', argv: b('xgroup', 'SETID', 's', 'g', '5-1') });
    expect(translateCommand(b('XGROUP', 'CREATE', 's', 'g', '$', 'MKSTREAM', 'ENTRIESREAD', '1'), v62)).toEqual({ action: 'rewrite', argv: b('XGROUP', 'CREATE', 's', 'g', '$', 'MKSTREAM') });
    expect(translateCommand(b('XGROUP', 'CREATE', 's', 'g', '$'), v62)).toEqual({ action: 'keep' });
    expect(translateCommand(b('XSETID', 's', '10-0', 'ENTRIESADDED', '5'), v70)).toEqual({ action: 'keep' });
    expect(translateCommand(b('XCLAIM', 's', 'g', 'c', '0', '1-1', 'TIME', '1', 'RETRYCOUNT', '1', 'FORCE', 'JUSTID', 'LASTID', '1-1'), v62)).toEqual({ action: 'keep' });
  });

  it('hash-field TTL commands: refused naming --drop-field-ttl, dropped with it, kept on 7.4', () => {
    const cmd = b('HPEXPIREAT', 'h', '1900000000000', 'FIELDS', '1', 'f');
    const refused = translateCommand(cmd, valkey8);
    expect(refused.action).toBe('refuse');
    expect(refused.action === 'refuse' && refused.message).toMatch(/valkey 8\.0\.1.*--drop-field-ttl/);
    expect(translateCommand(b('HPERSIST', 'h', 'FIELDS', '1', 'f'), v70, { dropFieldTtl: true })).toEqual({ action: 'drop', lost: 'field-ttl' });
    expect(translateCommand(cmd, v74)).toEqual({ action: 'keep' });
  });

  it('FUNCTION into a target without functions is refused; CREATECONSUMER before 6.2 is dropped', () => {
    expect(translateCommand(b('FUNCTION', 'LOAD', 'code'), v62).action).toBe('refuse');
    expect(translateCommand(b('SPUBLISH', 'ch', 'msg'), v62)).toEqual({ action: 'drop', lost: 'message' });
    expect(translateCommand(b('PEXPIREAT', 'k', '1900000000000', 'NX'), v62)).toEqual({ action: 'rewrite', argv: b('PEXPIREAT', 'k', '1900000000000') });
    expect(translateCommand(b('PEXPIREAT', 'k', '1900000000000', 'GT'), v70)).toEqual({ action: 'keep' });
    expect(translateCommand(b('SPUBLISH', 'ch', 'msg'), v70)).toEqual({ action: 'keep' });
    expect(translateCommand(b('XGROUP', 'CREATECONSUMER', 's', 'g', 'c'), dialectOf({ redisVersion: '6.0.20' }))).toEqual({ action: 'drop', lost: 'consumer' });
  });
});

/** The commands a KeyWriter sends, through a fake connection. */
function writerFor(dialect = v62, dropFieldTtl = false): { w: KeyWriter; sent: string[]; failed: Error[] } {
  const sent: string[] = [];
  const failed: Error[] = [];
  const conn = { send: (args: readonly Arg[]) => sent.push(text(args)), sendRaw: () => {} } as unknown as TargetConn;
  const w = new KeyWriter(conn, { mode: 'commands', filter: new KeyFilter(), dialect, dropFieldTtl, warn: () => {}, fail: (e) => failed.push(e) });
  return { w, sent, failed };
}

const key = (name: string, type: KeyEntry['type']): KeyEntry => ({ kind: 'key', db: 0, key: Buffer.from(name), type, rdbType: 0, expireAt: null, chunked: true });

describe('KeyWriter commands per target version', () => {
  const streamChunk: ChunkEntry = {
    kind: 'chunk',
    items: [],
    streamEntries: [{ id: '1-1', fields: b('f', 'v') }],
    stream: {
      length: 1, lastId: '3-0', firstId: '1-1', maxDeletedId: '2-0', entriesAdded: 3,
      groups: [{ name: Buffer.from('g'), lastId: '1-1', entriesRead: 1, pending: [{ id: '1-1', deliveryTime: 5, deliveryCount: 2 }], consumers: [{ name: Buffer.from('c'), seenTime: 1, activeTime: 1, pending: ['1-1'] }] }],
    },
    last: true,
  };

  it('a stream into 6.2: XSETID and XGROUP CREATE without the 7.0 arguments', () => {
    const { w, sent } = writerFor(v62);
    w.write(key('s', 'stream'));
    w.write(streamChunk);
    expect(sent).toEqual(['SELECT 0', 'XADD s 1-1 f v', 'XSETID s 3-0', 'XGROUP CREATE s g 1-1', 'XGROUP CREATECONSUMER s g c', 'XCLAIM s g c 0 1-1 TIME 5 RETRYCOUNT 2 FORCE JUSTID']);
  });

  it('a stream into 7.0: with entries added, max deleted ID and entries read', () => {
    const { w, sent } = writerFor(v70);
    w.write(key('s', 'stream'));
    w.write(streamChunk);
    expect(sent).toContain('XSETID s 3-0 ENTRIESADDED 3 MAXDELETEDID 2-0');
    expect(sent).toContain('XGROUP CREATE s g 1-1 ENTRIESREAD 1');
  });

  it('an empty stream is made with a placeholder group, not a placeholder entry', () => {
    const { w, sent } = writerFor(v70);
    w.write(key('e', 'stream'));
    w.write({ ...streamChunk, streamEntries: [], stream: { ...streamChunk.stream!, length: 0, maxDeletedId: '0-0', groups: [] } });
    expect(sent.slice(1, 3)).toEqual(['XGROUP CREATE e __ferry_placeholder__ 0 MKSTREAM', 'XGROUP DESTROY e __ferry_placeholder__']);
    expect(sent.some((c) => c.startsWith('XDEL'))).toBe(false);
  });

  it('hash-field TTLs: HPEXPIREAT on 7.4, counted and dropped with dropFieldTtl, else the sync fails naming the flag', () => {
    const hash: ChunkEntry = { kind: 'chunk', items: b('a', '1', 'b', '2'), fieldExpireAt: [1_900_000_000_000, 0], last: true };
    const on74 = writerFor(v74);
    on74.w.write(key('h', 'hash'));
    on74.w.write(hash);
    expect(on74.sent).toContain('HPEXPIREAT h 1900000000000 FIELDS 1 a');
    const dropped = writerFor(v70, true);
    dropped.w.write(key('h', 'hash'));
    dropped.w.write(hash);
    expect(dropped.sent).toEqual(['SELECT 0', 'HSET h a 1 b 2']);
    expect(dropped.w.stats.fieldTtlsDropped).toBe(1);
    const refused = writerFor(v70, false);
    refused.w.write(key('h', 'hash'));
    refused.w.write(hash);
    expect(refused.failed[0]?.message).toMatch(/--drop-field-ttl/);
  });
});

/** Facts of a server with only what compat.ts reads filled in. */
function server(version: string, extra: Partial<ServerFacts> = {}): ServerFacts {
  return {
    url: 'redis://x', version, runId: version, role: 'master', keys: 10, keysByDb: { 0: 10 }, usedMemory: 0, totalSystemMemory: 0, maxmemory: 0,
    masterReplOffset: 0, replicas: [], config: {}, aofEnabled: false, rdbSaveRules: '', bgsaveInProgress: false, subexpiryKeys: 0, functionLibraries: null, modules: [], ...extra,
  };
}
const spec = (over: Partial<{ sync: 'engine' | 'native'; dropFieldTtl: boolean }> = {}) => ({ sync: 'engine' as const, pauseTimeoutMs: 10_000, ...over });

describe('assessCompat (preflight)', () => {
  it('refuses a native downgrade to an older RDB and proposes the engine', () => {
    const r = assessCompat(spec({ sync: 'native' }), { source: server('7.4.1'), target: server('7.2.4', { valkeyVersion: '8.0.1' }) });
    expect(r.refusals).toEqual([expect.stringMatching(/valkey 8\.0\.1, RDB 11.*RDB 12 snapshot \(redis 7\.4\.1\).*--sync engine/)]);
    expect(assessCompat(spec({ sync: 'native' }), { source: server('7.2.6'), target: server('7.2.4', { valkeyVersion: '8.0.1' }) }).refusals).toEqual([]);
    expect(assessCompat(spec(), { source: server('7.4.1'), target: server('7.0.15') }).refusals).toEqual([]);
  });

  it('field TTLs: refused with the key count and --drop-field-ttl; accepted with it (warned)', () => {
    const facts = { source: server('7.4.1', { subexpiryKeys: 12 }), target: server('7.0.15') };
    expect(assessCompat(spec(), facts).refusals).toEqual([expect.stringMatching(/^12 hash key\(s\).*redis 7\.0\.15.*--drop-field-ttl/)]);
    const opted = assessCompat(spec({ dropFieldTtl: true }), facts);
    expect(opted.refusals).toEqual([]);
    expect(opted.warnings.join('\n')).toMatch(/--drop-field-ttl: .*12 hash key/);
    expect(assessCompat(spec(), { ...facts, target: server('7.4.1') }).refusals).toEqual([]);
  });

  it('functions into a target without FUNCTION', () => {
    const r = assessCompat(spec(), { source: server('7.0.15', { functionLibraries: 2 }), target: server('6.2.16') });
    expect(r.refusals).toEqual([expect.stringMatching(/2 function libraries.*redis 6\.2\.16/)]);
  });

  it('module types the target lacks: names the modules and the keys; none to copy is only a warning', () => {
    const source = server('7.2.4', { modules: [{ name: 'ReJSON', ver: 20000 }, { name: 'bf', ver: 1 }], moduleKeys: { 'ReJSON-RL': 7, MBbloom: 2 } });
    const r = assessCompat(spec(), { source, target: server('7.2.4', { modules: [{ name: 'bf', ver: 1 }] }) });
    expect(r.refusals).toEqual([expect.stringMatching(/module\(s\) ReJSON that the target .*9 key\(s\) of module types \(7 ReJSON-RL, 2 MBbloom\).*--exclude/)]);
    const none = assessCompat(spec(), { source: { ...source, moduleKeys: {} }, target: server('7.2.4') });
    expect(none.refusals).toEqual([]);
    expect(none.warnings.join('\n')).toMatch(/ReJSON, bf/);
  });

  it('warns what stream metadata an older target loses, and that a 5.0 fence pauses reads', () => {
    expect(assessCompat(spec(), { source: server('7.0.15'), target: server('6.2.16') }).warnings.join('\n')).toMatch(/entries-added, max-deleted-entry-id/);
    expect(assessCompat(spec(), { source: server('5.0.14'), target: server('7.4.1') }).warnings.join('\n')).toMatch(/every client .*reads too.*10000 ms/);
    expect(assessCompat(spec(), { source: server('6.2.16'), target: server('7.4.1') }).warnings).toEqual([]);
    const sentinel = { host: 'h', port: 1, db: 0, tls: false, sentinel: { name: 'm' } } as unknown as Parameters<typeof assessCompat>[0]['from'];
    expect(assessCompat({ ...spec(), from: sentinel }, { source: server('5.0.14'), target: server('7.4.1') }).refusals).toEqual([expect.stringMatching(/Sentinel .*6\.2\+.*redis:\/\/host:port/)]);
  });
});
