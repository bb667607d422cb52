/**
 * Exactly once into a cluster: `ferry sync` from a standalone source into a 3-master cluster is
 * SIGKILLed during the stream phase (three times at least) while INCRs run (single counters spread over the
 * slots, and MULTI/EXEC pairs that share a slot). Each restart resumes with a partial resync from
 * the link checkpoint, skipping what the per-slot checkpoints say is applied; in the end every
 * counter equals the number of INCRs the source acknowledged.
 */
import { execa, type ResultPromise } from 'execa';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_KEY } from '../../src/engine/checkpoint.js';
import { slotCheckpointKeys } from '../../src/engine/cluster/cluster-target.js';
import { keySlot } from '../../src/engine/cluster/slots.js';
import { diffBySlot, keyDigests, startCluster, type TestCluster } from '../helpers/cluster.js';
import { syncCounters, waitFor } from '../helpers/engine.js';
import { pacer, trackLoad, untrackLoad } from '../helpers/loads.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const FERRY = join(process.cwd(), 'bin', 'ferry');

/**
 * INCR of 40 counters in pipelines of 100 and, one round in five, MULTI INCR {t}:a INCR {t}:b;
 * acknowledged counts kept. Paced (20,000 INCRs/s at most, ~1 MB/s of stream: the 64 MB backlog
 * covers a minute of it) and registered as a background load.
 */
function counterLoad(c: Redis): { stop(): Promise<Map<string, number>> } {
  let stop = false;
  let error: Error | null = null;
  const acked = new Map<string, number>();
  const bump = (k: string): void => void acked.set(k, (acked.get(k) ?? 0) + 1);
  const pace = pacer(20_000);
  const started = Date.now();
  const run = (async () => {
    for (let round = 0; !stop && !error; round++) {
      if (c.status === 'end') error = new Error('the connection closed');
      else if (Date.now() - started > 60_000) error = new Error('still running after 60 s');
      if (error) break;
      const p = c.pipeline();
      const keys: string[] = [];
      for (let j = 0; j < 100; j++) {
        keys.push(`ctr:${(round * 100 + j) % 40}`);
        p.incr(keys[j]);
      }
      const res = (await p.exec().catch(() => null)) ?? [];
      res.forEach(([err], i) => {
        if (!err) bump(keys[i]);
      });
      if (round % 5 === 0) {
        const t = `{pair${round % 3}}`;
        const r = await c.multi().incr(`${t}:a`).incr(`${t}:b`).exec().catch(() => null);
        if (r && r.every(([err]) => !err)) [`${t}:a`, `${t}:b`].forEach(bump);
      }
      await pace(100);
    }
  })();
  const load = { name: 'counters', get error() { return error; }, halt: async () => { stop = true; await run; } };
  trackLoad(load);
  return {
    async stop() {
      await load.halt();
      untrackLoad(load);
      if (error) throw error;
      return acked;
    },
  };
}

describe('ferry sync into a cluster: SIGKILL during the stream phase, then resume', () => {
  let source: TestServer;
  let cluster: TestCluster;

  beforeAll(async () => {
    // The backlog must cover the gap while ferry is down.
    [source, cluster] = await Promise.all([startRedis({ args: ['--enable-debug-command', 'yes', '--repl-backlog-size', '64mb'] }), startCluster({ masters: 3 })]);
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), cluster?.stop()]);
  });

  it('applies every INCR exactly once across the kills', async () => {
    const src = source.client();
    const dst = cluster.client();
    expect(new Set(Array.from({ length: 40 }, (_, i) => cluster.masters.length && keySlot(`ctr:${i}`))).size).toBeGreaterThan(30);
    await src.call('DEBUG', 'POPULATE', '20000', 'pre');
    const args = ['sync', '--from', source.url, '--to', cluster.url, '--json'];
    let load: ReturnType<typeof counterLoad> | null = null;
    let child: ResultPromise | null = null;
    // Kills go on (three at least, eight at most) until one has left slot checkpoints past the link
    // checkpoint, so the resume after it must skip per slot (how often that happens at a random
    // moment depends on the machine's speed; the test does not).
    let kills = 0;
    let ahead = 0;
    try {
      while (kills < 3 || (ahead === 0 && kills < 8)) {
        child = execa(FERRY, args, { reject: false, timeout: 60_000 });
        if (!load) {
          await waitFor(async () => (await dst.get(CHECKPOINT_KEY))?.includes('"stream"') ?? false, 30_000, 'first full sync');
          load = counterLoad(src);
        }
        // Following and applying: the link checkpoint in the target moves forward.
        let first = -1;
        await waitFor(async () => {
          const cp = await dst.get(CHECKPOINT_KEY);
          if (!cp || !cp.includes('"stream"')) return false;
          const off = JSON.parse(cp).offset as number;
          if (first < 0) first = off;
          return off > first;
        }, 30_000, 'stream progress');
        await new Promise((r) => setTimeout(r, 200 + 150 * (kills % 3)));
        child.kill('SIGKILL');
        await child;
        kills++;
        // The target is frozen now: count the slot checkpoints past the link checkpoint.
        const link = JSON.parse((await dst.get(CHECKPOINT_KEY))!).offset as number;
        const slots = await Promise.all(slotCheckpointKeys(0).map((k) => dst.get(k)));
        ahead += slots.filter((v) => v !== null && Number(v) > link).length;
      }
    } finally {
      child?.kill('SIGKILL');
    }
    // NOTE: whether a kill lands while slot checkpoints are past the link checkpoint depends on
    // timing (CI run of 10:13 UTC: none in 8 kills, under load). The exactness below is the
    // assertion; this only says whether the skip path was exercised in this run.
    console.log(`cluster crash: ${kills} kills, ${ahead} slot checkpoints found past the link checkpoint`);
    const acked = await load!.stop();
    const final = await execa(FERRY, [...args, '--until-caught-up'], { reject: false, timeout: 60_000 });
    expect(final.exitCode, final.stderr).toBe(0);
    const counters = await syncCounters(src);
    expect(counters.full).toBe(1);
    expect(counters.partialOk).toBe(kills);
    const names = [...acked.keys()].sort();
    const values = await Promise.all(names.map((k) => dst.get(k)));
    expect(Object.fromEntries(names.map((k, i) => [k, Number(values[i])]))).toEqual(Object.fromEntries(names.map((k) => [k, acked.get(k)])));
    expect([...acked.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(2000);
    const done = String(final.stdout).trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'done');
    expect(done.report.fullSyncs).toBe(0);
    expect(diffBySlot(await keyDigests([source]), await keyDigests(cluster.masters, true))).toEqual([]);
  }, 110_000);
});
