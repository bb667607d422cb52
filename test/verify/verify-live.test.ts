/**
 * The rounds under live traffic: `ferry sync` follows the source while a writer updates keys at
 * ~2,000 writes/s. Keys read "in flight" (written on the source, not yet on the target) differ at
 * first and settle on a recheck: they are not reported; a persistent difference is.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ferry, jsonEvents, spawnFerry } from '../helpers/cli.js';
import { waitFor } from '../helpers/engine.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

const KEYS = 5000;

/**
 * Writes at `perSecond` until stopped: paced by the clock, not by timer ticks (each 10 ms tick
 * writes what is due since the start, at most one second's worth at once, the rest at the next
 * ticks), so a busy machine that fires the timer late still writes at the rate on average. Every fourth write is a hash, zset or set member
 * (bounded: 500 keys of 20 members each), the rest overwrite strings k:0..KEYS-1.
 */
function writer(c: Redis, perSecond: number): { stop(): Promise<{ writes: number; perSecond: number }> } {
  let n = 0;
  let stopped = false;
  const started = Date.now();
  let inflight: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    const due = Math.min(perSecond, Math.floor(((Date.now() - started) * perSecond) / 1000) - n);
    if (due <= 0) return;
    const p = c.pipeline();
    for (let i = 0; i < due; i++, n++) {
      const k = (n * 7919) % KEYS;
      if (n % 4 !== 3) p.set(`k:${k}`, `v${n}`);
      else if (n % 3 === 0) p.hset(`h:${k % 500}`, `f${n % 20}`, `v${n}`);
      else if (n % 3 === 1) p.zadd(`z:${k % 500}`, String(n), `m${n % 20}`);
      else p.sadd(`st:${k % 500}`, `m${n % 20}`);
    }
    inflight = p.exec().catch(() => {});
  }, 10);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inflight;
      return { writes: n, perSecond: (n * 1000) / Math.max(1, Date.now() - started) };
    },
  };
}

async function setup(): Promise<{ source: TestServer; target: TestServer; s: Redis; t: Redis; proxy: TcpProxy; stop(): Promise<void> }> {
  const [source, target] = await Promise.all([startRedis(), startRedis()]);
  servers.push(source, target);
  const s = source.client();
  const t = target.client();
  const p = s.pipeline();
  for (let i = 0; i < KEYS; i++) p.set(`k:${i}`, 'initial');
  p.set('fixed', 'same');
  await p.exec();
  const proxy = await startTcpProxy(source.port);
  const sync = spawnFerry(['sync', '--from', `redis://127.0.0.1:${proxy.port}`, '--to', target.url]);
  await waitFor(async () => (await t.dbsize()) >= KEYS + 2, 20_000, 'the sync to load the target');
  return {
    source, target, s, t, proxy,
    async stop() {
      sync.kill('SIGINT');
      await sync;
      await proxy.close();
    },
  };
}

describe('verify under live traffic (the rounds)', () => {
  it('keys that settle are not reported; a persistent difference is', async () => {
    const env = await setup();
    const w = writer(env.s, 2000);
    try {
      await env.t.set('fixed', 'changed on the target'); // the persistent difference
      // Hold replication back for 1.5 s: ~3,000 writes reach the source but not the target, so
      // the first pass surely reads keys in flight; the recheck waits for the offsets to meet.
      const stall = env.proxy.stall(1500);
      const r = await ferry(['verify', '--from', env.source.url, '--to', env.target.url, '--json', '--round-interval', '1000']);
      await stall;
      expect(r.code, r.stderr).toBe(5);
      const rep = jsonEvents(r.stdout).at(-1)!.report;
      expect(rep.keys.map((k: { key: string; class: string }) => `${k.key}:${k.class}`)).toEqual(['fixed:value']);
      expect(rep.rounds.differing[0]).toBeGreaterThan(10);
      expect(rep.rounds.settled).toBe(rep.rounds.differing[0] - 1);
    } finally {
      const n = await w.stop();
      await env.stop();
      expect(n.writes).toBeGreaterThan(1000);
    }
  }, 60_000);

  it('at 2,000 writes/s with the sync running: no false report in 5 runs', async () => {
    const env = await setup();
    const w = writer(env.s, 2000);
    try {
      await env.t.set('fixed', 'changed on the target');
      for (let run = 0; run < 5; run++) {
        const r = await ferry(['verify', '--from', env.source.url, '--to', env.target.url, '--json', '--round-interval', '300']);
        expect(r.code, r.stderr).toBe(5);
        const rep = jsonEvents(r.stdout).at(-1)!.report;
        expect(rep.keys.map((k: { key: string }) => k.key), `run ${run}`).toEqual(['fixed']);
        expect(rep.totalDifferences).toBe(1);
      }
    } finally {
      const n = await w.stop();
      await env.stop();
      // The acceptance's load: 2,000 writes/s on average over the five runs (paced by the clock,
      // so late timer ticks are caught up), with the sync following it.
      expect(n.perSecond).toBeGreaterThan(1800);
    }
  }, 90_000);
});
