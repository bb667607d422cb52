/**
 * Cross-version full sync (issue 11): a Redis 7.4 source holding 300k keys of mixed types (strings,
 * hashes with and without field TTLs, lists, zsets, sets, streams with a group), copied by
 * `ferry sync --until-caught-up` into 7.4 (RESTORE of raw payloads), into Debian's 7.0 and into
 * Valkey 8.0 (type commands in the target's dialect, field TTLs dropped), against native
 * replication into 7.4 measured in the same run. ROUNDS alternating runs each, medians.
 * Needs ../shared/redis-servers (skipped without it).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { startServer } from './redis-procs.js';
import { median, range, timeFerry, timeNative } from './timing.js';

const SERVERS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'redis-servers');
const R74 = join(SERVERS, 'redis-7.4.1', 'redis-server');
const VALKEY8 = join(SERVERS, 'valkey-8.0.1', 'valkey-server');
const ROUNDS = 3;
const STRINGS = 200_000;
const EACH = 20_000;

async function fill(c: Redis): Promise<number> {
  await c.call('DEBUG', 'POPULATE', String(STRINGS), 'str');
  for (let i = 0; i < EACH; i += 500) {
    const p = c.pipeline();
    for (let j = i; j < i + 500; j++) {
      p.hset(`h:${j}`, 'a', String(j), 'b', `v${j}`, 'c', 'x'.repeat(j % 50));
      if (j % 10 === 0) p.call('HPEXPIRE', `h:${j}`, '36000000', 'FIELDS', '1', 'a');
      p.rpush(`l:${j}`, 'a', 'b', String(j));
      p.zadd(`z:${j}`, '1', 'a', String(j), 'b');
      p.sadd(`s:${j}`, 'a', String(j));
      if (j % 20 === 0) {
        p.xadd(`x:${j}`, '*', 'f', String(j));
        p.xgroup('CREATE', `x:${j}`, 'g', '0');
      }
    }
    await p.exec();
  }
  return c.dbsize();
}

export async function run(): Promise<void> {
  if (!existsSync(R74) || !existsSync(VALKEY8)) {
    console.log('skipped: ../shared/redis-servers is not there');
    return;
  }
  const source = await startServer([], { bin: R74 });
  try {
    const keys = await fill(source.client);
    const check = (t: { client: Redis }) => async () => {
      const n = await t.client.dbsize();
      if (n !== keys) throw new Error(`copied ${n} keys, expected ${keys}`);
    };
    const rows: Record<string, number[]> = { 'native -> 7.4': [], 'engine -> 7.4 (RESTORE)': [], 'engine -> 7.0 (commands)': [], 'engine -> valkey 8.0 (commands)': [] };
    for (let i = 0; i < ROUNDS; i++) {
      rows['native -> 7.4'].push((await timeNative(source, (t) => check(t)(), R74)).secs);
      rows['engine -> 7.4 (RESTORE)'].push((await timeFerry(source, [], (t) => check(t)(), { targetBin: R74 })).secs);
      rows['engine -> 7.0 (commands)'].push((await timeFerry(source, ['--drop-field-ttl'], (t) => check(t)())).secs);
      rows['engine -> valkey 8.0 (commands)'].push((await timeFerry(source, ['--drop-field-ttl'], (t) => check(t)(), { targetBin: VALKEY8 })).secs);
    }
    const base = median(rows['native -> 7.4']);
    console.log(`source redis 7.4.1: ${keys} keys (${STRINGS} strings, ${EACH} each of hashes (1 in 10 with a field TTL), lists, zsets, sets; ${EACH / 20} streams with a group)`);
    console.log('| path | median s | range | vs native |');
    console.log('|---|---|---|---|');
    for (const [name, xs] of Object.entries(rows)) console.log(`| ${name} | ${median(xs).toFixed(2)} | ${range(xs)} | ${(median(xs) / base).toFixed(2)}x |`);
  } finally {
    await source.stop();
  }
}
