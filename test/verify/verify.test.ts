/**
 * `ferry verify` against real servers: identical datasets agree (and DEBUG DIGEST agrees), one
 * injected difference of each class is found, named and classed (exit 5), big keys of every type
 * are compared in windows, a filtered sync is verified with its filter and mapping, --sample
 * states what a clean sample means, --json gives the report.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { ferry, jsonEvents } from '../helpers/cli.js';
import { fillEveryType } from '../helpers/dataset.js';
import { digest } from '../helpers/engine.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';
import { runVerify } from '../../src/verify/verifier.js';
import { expectDigestAgrees } from '../helpers/verify-digest.js';
import { parseRedisUrl } from '../../src/core/endpoint.js';

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

async function pair(): Promise<{ source: TestServer; target: TestServer; s: Redis; t: Redis }> {
  const [source, target] = await Promise.all([startRedis({ args: ['--enable-debug-command', 'yes'] }), startRedis({ args: ['--enable-debug-command', 'yes'] })]);
  servers.push(source, target);
  return { source, target, s: source.client(), t: target.client() };
}

/** Copies source → target with the engine (ferry sync --until-caught-up). */
async function sync(source: TestServer, target: TestServer, extra: string[] = []): Promise<void> {
  const r = await ferry(['sync', '--from', source.url, '--to', target.url, '--until-caught-up', '--json', ...extra]);
  expect(r.code, r.stderr + r.stdout.slice(-500)).toBe(0);
}

/** Several dbs, binary keys, TTLs, every type and encoding. */
async function fillSeveralDbs(s: Redis): Promise<void> {
  await fillEveryType(s, { bulk: 3000 });
  await s.select(3);
  await fillEveryType(s, { prefix: 'three:', bulk: 200, functions: false });
  await s.select(0);
}

/** runVerify, then its report checked against DEBUG DIGEST (both servers of `pair()` have DEBUG). */
async function checked(s: Redis, t: Redis, o: Parameters<typeof runVerify>[0]): Promise<Awaited<ReturnType<typeof runVerify>>> {
  const r = await runVerify(o);
  expect(await expectDigestAgrees(s, t, r)).toBe(true);
  return r;
}

function verifyOpts(source: TestServer, target: TestServer, more: Partial<Parameters<typeof runVerify>[0]> = {}) {
  return { from: parseRedisUrl(source.url, '--from'), to: parseRedisUrl(target.url, '--to'), roundIntervalMs: 100, rounds: 2, ...more };
}

describe('ferry verify', () => {
  it('identical datasets (every type and encoding, several dbs, TTLs, binary keys): exit 0, as DEBUG DIGEST says', async () => {
    const { source, target, s, t } = await pair();
    await fillSeveralDbs(s);
    await sync(source, target);
    expect(await digest(t)).toBe(await digest(s));
    const r = await ferry(['verify', '--from', source.url, '--to', target.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const done = jsonEvents(r.stdout).at(-1)!;
    expect(done.event).toBe('done');
    expect(done.report.agree).toBe(true);
    expect(done.report.dbs.map((d: { db: number }) => d.db)).toEqual([0, 3]);
    const total = Number(await s.dbsize()) + (await s.select(3).then(() => s.dbsize()));
    expect(done.report.checked.source).toBe(total);
    expect(done.report.checked.target).toBe(total);
    expect(await expectDigestAgrees(s, t, done.report)).toBe(true);
    const human = await ferry(['verify', '--from', source.url, '--to', target.url]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/Result: the target agrees with the source/);
  });

  it('finds one difference of each class, names and classes it: exit 5', async () => {
    const { source, target, s, t } = await pair();
    await fillEveryType(s, { bulk: 2000 });
    // A big key (> 1 MiB, so it is compared in windows, never DUMPed).
    const fields: string[] = [];
    for (let i = 0; i < 20_000; i++) fields.push(`f${i}`, `value-${i}-${'x'.repeat(60)}`);
    await s.hset('big:hash', ...fields);
    await sync(source, target);
    expect(await digest(t)).toBe(await digest(s));
    await t.del('ds:str:raw'); // missing
    await t.set('only:on:target', 'x'); // extra
    await t.del('ds:list:small');
    await t.sadd('ds:list:small', 'a'); // type
    await t.hset('ds:hash:small', 'a', 'changed'); // value, small key
    await t.hset('big:hash', 'f12345', 'changed'); // value, in a window of a big key
    await t.pexpire('ds:bulk:11', 3_600_000); // ttl (none on the source)
    expect(await digest(t)).not.toBe(await digest(s));
    const r = await ferry(['verify', '--from', source.url, '--to', target.url, '--json', '--round-interval', '100']);
    expect(r.code, r.stderr).toBe(5);
    const failed = jsonEvents(r.stdout).at(-1)!;
    expect(failed.event).toBe('failed');
    expect(failed.exitCode).toBe(5);
    const rep = failed.report;
    expect(rep.differences).toEqual({ missing: 1, extra: 1, type: 1, value: 2, ttl: 1 });
    expect(await expectDigestAgrees(s, t, rep)).toBe(true);
    const classOf = Object.fromEntries(rep.keys.map((k: { key: string; class: string }) => [k.key, k.class]));
    expect(classOf).toEqual({
      'ds:str:raw': 'missing',
      'only:on:target': 'extra',
      'ds:list:small': 'type',
      'ds:hash:small': 'value',
      'big:hash': 'value',
      'ds:bulk:11': 'ttl',
    });
    expect(rep.values.windowed).toBeGreaterThanOrEqual(1);
    expect(rep.keys.find((k: { key: string }) => k.key === 'big:hash').detail).toMatch(/hash: 1 field with a different value \(in one window\)/);
    expect(rep.rounds.rechecks).toBe(3);
    expect(r.stderr).toMatch(/ferry: 6 keys differ after 3 rechecks \(1 missing, 1 extra, 1 type, 2 value, 1 ttl\)/);
    // The human report names them too.
    const human = await ferry(['verify', '--from', source.url, '--to', target.url, '--rounds', '0']);
    expect(human.code).toBe(5);
    expect(human.stdout).toMatch(/db0 "ds:str:raw"  missing: not on the target/);
    expect(human.stdout).toMatch(/db0 "ds:bulk:11"  ttl: none on the source, 3\d{3} s on the target/);
  });

  it('a TTL within --ttl-tolerance is equal, beyond it is a difference', async () => {
    const { source, target, s, t } = await pair();
    await s.set('k', 'v', 'PX', 600_000);
    await sync(source, target);
    const at = Number(await s.call('PEXPIRETIME', 'k'));
    await t.pexpireat('k', at + 500);
    expect((await checked(s, t, verifyOpts(source, target))).agree).toBe(true);
    await t.pexpireat('k', at + 5000);
    const r = await checked(s, t, verifyOpts(source, target));
    expect(r.differences.ttl).toBe(1);
    expect((await checked(s, t, verifyOpts(source, target, { ttlToleranceMs: 10_000 }))).agree).toBe(true);
  });

  it('big keys of every type are compared in windows: equal, then one change in a window of each', async () => {
    const { source, target, s, t } = await pair();
    const n = 5000;
    const p = s.pipeline();
    for (let i = 0; i < n; i += 500) {
      const chunk = Array.from({ length: 500 }, (_, j) => i + j);
      p.rpush('w:list', ...chunk.map((x) => `e${x}`));
      p.sadd('w:set', ...chunk.map((x) => `m${x}`));
      p.zadd('w:zset', ...chunk.flatMap((x) => [String(x / 7), `m${x}`]));
      p.hset('w:hash', ...chunk.flatMap((x) => [`f${x}`, `v${x}`]));
    }
    for (let i = 0; i < 2000; i++) p.xadd('w:stream', `${i + 1}-1`, 'n', String(i));
    p.set('w:string', Buffer.alloc(3 * 1024 * 1024 + 17, 'a'));
    await p.exec();
    await s.xgroup('CREATE', 'w:stream', 'g', '0');
    await s.xreadgroup('GROUP', 'g', 'alice', 'COUNT', '1500', 'STREAMS', 'w:stream', '>');
    await sync(source, target);
    const opts = verifyOpts(source, target, { bigKeyBytes: 16 * 1024, rounds: 0 });
    const same = await checked(s, t, opts);
    expect(same.agree).toBe(true);
    expect(same.values.windowed).toBe(6);
    await t.lset('w:list', 4321, 'changed');
    await t.srem('w:set', 'm4000');
    await t.sadd('w:set', 'other');
    await t.zadd('w:zset', '123', 'm17');
    await t.hset('w:hash', 'f3333', 'changed');
    await t.setrange('w:string', 2 * 1024 * 1024 + 5, 'b');
    await t.xack('w:stream', 'g', '700-1');
    const diff = await checked(s, t, opts);
    expect(diff.differences.value).toBe(6);
    const detail = Object.fromEntries(diff.keys.map((k) => [k.key, k.detail]));
    expect(detail['w:list']).toBe('list: element 4321 differs');
    expect(detail['w:set']).toMatch(/set: 1 member not on the target/);
    expect(detail['w:zset']).toMatch(/zset: 1 member with a different score/);
    expect(detail['w:hash']).toMatch(/hash: 1 field with a different value/);
    expect(detail['w:string']).toMatch(/string: bytes 2097152-3145727 differ/);
    expect(detail['w:stream']).toMatch(/group "g" pending entr(y .* differs|ies from .* differ in number)/);
  });

  it('plain strings are read by MGET in the first pass, and every class of difference in a string is still found', async () => {
    const { source, target, s, t } = await pair();
    const p = s.pipeline();
    for (let i = 0; i < 3000; i++) p.set(`s:${i}`, `value-${i}`);
    p.set('s:long', 'y'.repeat(10_000)); // over the MGET cap: DUMPed instead
    p.set(Buffer.from([0xff, 0, 1]), Buffer.from([0, 1, 2, 255]));
    p.set('s:ttl', 'v', 'PX', 600_000);
    p.hset('h', 'a', '1');
    await p.exec();
    await sync(source, target);
    expect(await digest(t)).toBe(await digest(s));
    const opts = verifyOpts(source, target, { rounds: 0 });
    const same = await checked(s, t, opts);
    expect(same.agree).toBe(true);
    expect(same.values.stringEqual).toBe(3002);
    expect(same.values.payloadEqual).toBe(2); // s:long and h
    await t.set('s:1', 'value-X'); // value, same length
    await t.set('s:2', 'value-2 '); // value, longer
    await t.del('s:3');
    await t.rpush('s:3', 'value-3'); // type
    await t.del('s:4'); // missing
    await t.set('s:long', `${'y'.repeat(9_999)}z`); // value of a long string
    await t.set(Buffer.from([0xff, 0, 1]), Buffer.from([0, 1, 2, 254])); // value, binary key and value
    await t.pexpire('s:5', 600_000); // ttl: none on the source
    await t.pexpire('s:ttl', 1_200_000); // ttl: 600 s apart
    await t.set('s:extra', 'x'); // extra
    expect(await digest(t)).not.toBe(await digest(s));
    const d = await checked(s, t, opts);
    const classOf = Object.fromEntries(d.keys.map((k) => [typeof k.key === 'string' ? k.key : `base64:${k.key.base64}`, k.class]));
    expect(classOf).toEqual({
      's:1': 'value',
      's:2': 'value',
      's:3': 'type',
      's:4': 'missing',
      's:long': 'value',
      [`base64:${Buffer.from([0xff, 0, 1]).toString('base64')}`]: 'value',
      's:5': 'ttl',
      's:ttl': 'ttl',
      's:extra': 'extra',
    });
    expect(d.differences).toEqual({ missing: 1, extra: 1, type: 1, value: 4, ttl: 2 });
  });

  it('strings over the MGET cap: after a batch of mostly such strings the next batches skip MGET (their bytes are not sent twice)', async () => {
    const { source, target, s, t } = await pair();
    const v = 'x'.repeat(5000);
    for (const c of [s, t]) {
      const p = c.pipeline();
      for (let i = 0; i < 10_000; i++) p.set(`long:${i}`, v);
      await p.exec();
    }
    await s.config('RESETSTAT');
    const r = await checked(s, t, verifyOpts(source, target, { rounds: 0 }));
    expect(r.agree).toBe(true);
    expect(r.values.payloadEqual).toBe(10_000);
    // ~10 SCAN batches of ~1,000 keys; only those already in flight (4) when the first MGET's
    // reply came back used MGET.
    const calls = Number(/cmdstat_mget:calls=(\d+)/.exec(await s.info('commandstats'))?.[1] ?? 0);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(5);
  });

  it('a big stream compared in windows leaves out the pending entries of deleted entries, as the canonical comparison does', async () => {
    const { source, target, s, t } = await pair();
    const p = s.pipeline();
    for (let i = 1; i <= 3000; i++) p.xadd('x', `${i}-0`, 'n', String(i), 'pad', 'p'.repeat(20));
    await p.exec();
    await s.xgroup('CREATE', 'x', 'g', '0');
    await s.xreadgroup('GROUP', 'g', 'alice', 'COUNT', '2000', 'STREAMS', 'x', '>');
    await sync(source, target);
    // Entries 500-0 and 1500-0 deleted on both sides; their pending entries stay on the source and
    // are gone on the target (as after an XCLAIM of a deleted entry on 7.0+: see canonical.ts).
    for (const c of [s, t]) await c.xdel('x', '500-0', '1500-0');
    await t.xack('x', 'g', '500-0', '1500-0');
    const windowed = await checked(s, t, verifyOpts(source, target, { bigKeyBytes: 16 * 1024, rounds: 0 }));
    expect(windowed.values.windowed).toBe(1);
    const canonical = await checked(s, t, verifyOpts(source, target, { bigKeyBytes: 64 * 1024 * 1024, rounds: 0 }));
    expect(canonical.values.windowed).toBe(0);
    expect(canonical.agree).toBe(true);
    expect(windowed.keys).toEqual([]);
    expect(windowed.agree).toBe(true);
    // A pending entry of an existing entry still counts, in either comparison.
    await t.xack('x', 'g', '1999-0');
    for (const more of [{ bigKeyBytes: 16 * 1024 }, { bigKeyBytes: 64 * 1024 * 1024 }]) {
      const r = await checked(s, t, verifyOpts(source, target, { rounds: 0, ...more }));
      expect(r.keys.map((k) => `${String(k.key)}:${k.class}`)).toEqual(['x:value']);
      expect(r.keys[0].detail).toMatch(/group "g" (pending entr(y .* differs|ies from .* differ in number)|has 1,?998 pending entries on the source, 1,?997 on the target)/);
    }
  });

  it('small keys whose encodings differ are compared element by element (canonical), not as bytes', async () => {
    const { source, target, s, t } = await pair();
    await s.hset('h', 'a', '1', 'b', '2');
    await s.sadd('st', '1', '2', '3');
    await s.zadd('z', '1', 'a', '2', 'b');
    await sync(source, target);
    // The same values on the target in other encodings (hashtable / listpack / skiplist).
    await t.config('SET', 'hash-max-listpack-entries', '0');
    await t.config('SET', 'zset-max-listpack-entries', '0');
    await t.del('h', 'st', 'z');
    await t.hset('h', 'b', '2', 'a', '1');
    await t.sadd('st', '3', '2', '1', 'x');
    await t.srem('st', 'x'); // a hashtable set now, with the same members
    await t.zadd('z', '2', 'b', '1', 'a');
    expect(await t.object('ENCODING', 'h')).toBe('hashtable');
    expect(await t.object('ENCODING', 'st')).toBe('hashtable');
    const r = await checked(s, t, verifyOpts(source, target, { rounds: 0 }));
    expect(r.agree).toBe(true);
    expect(r.values.canonical).toBe(3);
    await t.zadd('z', '2.5', 'b');
    const d = await checked(s, t, verifyOpts(source, target, { rounds: 0 }));
    expect(d.keys).toEqual([{ db: 0, targetDb: 0, key: 'z', class: 'value', detail: 'zset: 1 member with a different score' }]);
  });

  it('a target value far bigger than the source\'s is not read whole: its DUMP is dropped as it arrives, the windows class it', async () => {
    const { source, target, s, t } = await pair();
    await s.hset('grown', 'a', '1');
    await s.set('plain', 'x');
    await sync(source, target);
    const fields: string[] = [];
    for (let i = 0; i < 20_000; i++) fields.push(`f${i}`, `v${i}`);
    await t.hset('grown', ...fields);
    const r = await checked(s, t, verifyOpts(source, target, { rounds: 0 }));
    expect(r.keys).toEqual([{ db: 0, targetDb: 0, key: 'grown', class: 'value', detail: 'hash: 1 field on the source, 20001 on the target' }]);
    expect(r.values.windowed).toBe(1);
  });

  it('a filtered sync is verified with the same filter and db mapping', async () => {
    const { source, target, s } = await pair();
    const p = s.pipeline();
    for (let i = 0; i < 500; i++) p.set(`in:${i}`, String(i)).set(`out:${i}`, String(i));
    p.select(2);
    for (let i = 0; i < 100; i++) p.set(`in:db2:${i}`, String(i));
    await p.exec();
    const filter = ['--include', 'in:*', '--db-map', '0:5'];
    await sync(source, target, filter);
    const same = await ferry(['verify', '--from', source.url, '--to', target.url, '--json', ...filter]);
    expect(same.code, same.stderr).toBe(0);
    const rep = jsonEvents(same.stdout).at(-1)!.report;
    expect(rep.checked.source).toBe(600);
    expect(rep.dbs.map((d: { db: number; targetDb: number }) => `${d.db}->${d.targetDb}`)).toEqual(['0->5', '2->2']);
    const unfiltered = await ferry(['verify', '--from', source.url, '--to', target.url, '--json', '--rounds', '0']);
    expect(unfiltered.code).toBe(5);
    expect(jsonEvents(unfiltered.stdout).at(-1)!.report.differences.missing).toBe(1000);
    expect(jsonEvents(unfiltered.stdout).at(-1)!.report.differences.extra).toBe(500);
  });

  it('--sample N: a clean sample states its bound; a sample of a target missing a fifth of the keys exits 5', async () => {
    const { source, target, s, t } = await pair();
    const p = s.pipeline();
    for (let i = 0; i < 20_000; i++) p.set(`k:${i}`, String(i));
    await p.exec();
    await sync(source, target);
    const r = await ferry(['verify', '--from', source.url, '--to', target.url, '--sample', '2000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sample: 0 differences in 2,000 keys: fewer than 0\.15% differ, at 95% \(1,000 drawn on the source, 1,000 on the target; on either side alone fewer than 0\.3%\)/);
    const del = t.pipeline();
    for (let i = 0; i < 20_000; i += 5) del.del(`k:${i}`);
    await del.exec();
    const bad = await ferry(['verify', '--from', source.url, '--to', target.url, '--sample', '2000', '--json', '--rounds', '0']);
    expect(bad.code).toBe(5);
    const rep = jsonEvents(bad.stdout).at(-1)!.report;
    expect(rep.mode).toBe('sample');
    expect(rep.differences.missing).toBeGreaterThan(100);
    expect(rep.dbs[0].sample.draws).toBe(2000);
    expect(rep.dbs[0].sample.bound).toBeGreaterThan(0.05);
  });

  it('--rate KEYS/S: each side is read at no more than the rate (both directions share it)', async () => {
    const { source, target, s, t } = await pair();
    const p = s.pipeline();
    for (let i = 0; i < 4000; i++) p.set(`k:${i}`, String(i));
    await p.exec();
    await sync(source, target);
    const t0 = Date.now();
    const r = await checked(s, t, verifyOpts(source, target, { rate: 2000 }));
    const ms = Date.now() - t0;
    expect(r.agree).toBe(true);
    expect(r.checked).toEqual({ source: 4000, target: 4000 });
    // 8,000 keys read from the source (4,000 compared, 4,000 looked up for the second direction)
    // at 2,000/s, the bucket full (1 s) at the start: at least 3 s, however fast the machine.
    expect(ms).toBeGreaterThanOrEqual(2900);
    expect(r.keysPerSecond).toBeLessThanOrEqual(4000 / 2.9);
  });

  it('bad input: a one-line error naming the flag (exit 2)', async () => {
    const r = await ferry(['verify', '--from', 'redis://127.0.0.1:1', '--to', 'redis://127.0.0.1:2']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ferry: cannot reach redis:\/\/127\.0\.0\.1:1 \(connection refused\); check --from$/);
    const n = await ferry(['verify', '--from', 'redis://127.0.0.1:1', '--to', 'redis://127.0.0.1:2', '--sample', 'lots']);
    expect(n.code).toBe(2);
    expect(n.stderr.trim()).toBe('ferry: --sample: "lots" is not a whole number >= 1');
  });
});
