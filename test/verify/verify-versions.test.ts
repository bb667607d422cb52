/**
 * verify across server versions (../shared/redis-servers; skipped when absent): the DUMP payloads
 * of the two sides differ (ziplist vs listpack, another RDB version), so equal values must be
 * recognised by the canonical comparison, and a real difference still found.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ferry, jsonEvents } from '../helpers/cli.js';
import { digest } from '../helpers/engine.js';
import { expectDigestAgrees } from '../helpers/verify-digest.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const SERVERS = join(process.cwd(), '..', 'shared', 'redis-servers');
const bin = (dir: string, name = 'redis-server') => join(SERVERS, dir, name);

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

/** Data any version from 5.0 on holds, in small (ziplist/listpack/intset) and big encodings, two dbs. */
async function fillPortable(c: Redis): Promise<void> {
  const p = c.pipeline();
  p.set('s:int', '12345').set('s:raw', 'hello').set('s:big', 'x'.repeat(5000)).set(Buffer.from([0, 255, 10]), 'binary key');
  p.rpush('l:small', 'a', 'b', '1', '2').rpush('l:big', ...Array.from({ length: 2000 }, (_, i) => `e${i}`));
  p.sadd('set:ints', '1', '2', '-3').sadd('set:strs', 'a', 'b', 'c');
  p.zadd('z:small', '1', 'a', '2.5', 'b', '-1', 'c').zadd('z:big', ...Array.from({ length: 400 }, (_, i) => [String(i / 3), `m${i}`]).flat());
  p.hset('h:small', 'f', 'v', 'n', '1').hset('h:big', ...Array.from({ length: 600 }, (_, i) => [`f${i}`, `v${i}`]).flat());
  for (let i = 1; i <= 30; i++) p.xadd('x', `${i}-0`, 'n', String(i));
  p.pexpire('s:raw', 3_600_000).pexpire('h:small', 7_200_000);
  p.select(1).set('db1:k', 'v').rpush('db1:l', 'x').select(0);
  for (let i = 0; i < 2000; i++) p.set(`bulk:${i}`, `value-${i}`);
  await p.exec();
  await c.xgroup('CREATE', 'x', 'g', '0');
  await c.xreadgroup('GROUP', 'g', 'alice', 'COUNT', '5', 'STREAMS', 'x', '>');
}

const PAIRS: Array<{ name: string; source: string; target?: string; canonical: boolean }> = [
  { name: 'redis 6.2 (ziplists, RDB 9) → redis 7.0 (listpacks, RDB 10)', source: bin('redis-6.2.16'), canonical: true },
  { name: 'valkey 8.0 → redis 7.2 (both RDB 11)', source: bin('valkey-8.0.1', 'valkey-server'), target: bin('redis-7.2.6'), canonical: false },
  { name: 'redis 5.0 → redis 7.4', source: bin('redis-5.0.14'), target: bin('redis-7.4.1'), canonical: true },
];

describe.skipIf(!existsSync(SERVERS))('verify across versions', () => {
  it.each(PAIRS)('$name: equal data agrees, one changed value is found', async ({ source: sbin, target: tbin, canonical }) => {
    const [source, target] = await Promise.all([startRedis({ bin: sbin }), startRedis({ bin: tbin, args: tbin ? [] : ['--enable-debug-command', 'yes'] })]);
    servers.push(source, target);
    const s = source.client();
    const t = target.client();
    await fillPortable(s);
    const sync = await ferry(['sync', '--from', source.url, '--to', target.url, '--until-caught-up', '--json']);
    expect(sync.code, sync.stderr + sync.stdout.slice(-400)).toBe(0);
    const ok = await ferry(['verify', '--from', source.url, '--to', target.url, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const rep = jsonEvents(ok.stdout).at(-1)!.report;
    expect(rep.checked.source).toBe(2000 + 13 + 2);
    if (canonical) expect(rep.values.canonical).toBeGreaterThan(0);
    else {
      // Same RDB version: the non-string keys' DUMP bytes match (the strings are read by MGET).
      expect(rep.values.payloadEqual).toBeGreaterThanOrEqual(8);
    }
    expect(rep.values.stringEqual).toBeGreaterThan(2000);
    // DEBUG DIGEST hashes values, not encodings: where both servers have it, it agrees with verify.
    const [ds, dt] = await Promise.all([digest(s).catch(() => null), digest(t).catch(() => null)]);
    if (ds && dt) expect(dt).toBe(ds);
    await expectDigestAgrees(s, t, rep);
    await t.hset('h:small', 'f', 'other');
    await t.zadd('z:small', '3', 'a');
    const bad = await ferry(['verify', '--from', source.url, '--to', target.url, '--json', '--rounds', '0']);
    expect(bad.code).toBe(5);
    await expectDigestAgrees(s, t, jsonEvents(bad.stdout).at(-1)!.report);
    const keys = jsonEvents(bad.stdout).at(-1)!.report.keys.map((k: { key: string; class: string }) => `${k.key}:${k.class}`).sort();
    expect(keys).toEqual(['h:small:value', 'z:small:value']);
  });
});
