/**
 * A failover of the target cluster during the sync costs a redirect, not the run: `CLUSTER
 * FAILOVER` on a target replica while the full sync loads, and on another while the stream runs
 * (INCR counters and a mixed writer on a standalone source). The router follows the MOVED replies
 * to the promoted replicas; in the end the data is identical per slot and every counter equals the
 * INCRs the source acknowledged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../src/core/endpoint.js';
import { CHECKPOINT_KEY } from '../../src/engine/checkpoint.js';
import { SyncEngine } from '../../src/engine/sync.js';
import { currentMasters, diffBySlot, failover, keyDigests, slotWorkload, startCluster, type TestCluster } from '../helpers/cluster.js';
import { incrWorkload, waitFor } from '../helpers/engine.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

describe('a failover of the target cluster during the sync', () => {
  let source: TestServer;
  let target: TestCluster;
  let engine: SyncEngine | null = null;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startRedis({ args: ['--enable-debug-command', 'yes', '--repl-backlog-size', '64mb'] }),
      startCluster({ masters: 3, replicas: 1 }),
    ]);
  });
  afterAll(async () => {
    await engine?.stop().catch(() => {});
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('follows CLUSTER FAILOVER during the full sync and the stream; identical, counters exact', async () => {
    const src = source.client();
    await src.call('DEBUG', 'POPULATE', '150000', 'pop', '20');
    engine = new SyncEngine({ from: parseRedisUrl(source.url, '--from'), to: parseRedisUrl(target.url, '--to') });
    const watch = target.client();
    await engine.start();
    // While the keys load: the first master's replica takes over.
    await waitFor(async () => (await watch.get(CHECKPOINT_KEY))?.includes('"rdb"') ?? false, 20_000, 'the full sync to start');
    await failover(target.replicas[0]);
    await engine.waitStreaming();
    const counters = incrWorkload(src, 30, 'counter');
    const mixed = slotWorkload(src, { prefix: 'fo', crossSlot: true });
    await new Promise((r) => setTimeout(r, 500));
    // While the stream runs: the second master's replica.
    await failover(target.replicas[1]);
    await new Promise((r) => setTimeout(r, 500));
    const acked = await counters.stop();
    expect(await mixed.stop()).toBeGreaterThan(0);
    await engine.waitCaughtUp(100, undefined, 30_000);
    const report = await engine.stop({ removeCheckpoint: true });
    engine = null;
    expect(report.fullSyncs).toBe(1);
    expect(report.cluster!.moved).toBeGreaterThan(0);
    const masters = await currentMasters(target.nodes);
    expect(masters.map((m) => m.port)).toEqual(expect.arrayContaining([target.replicas[0].port, target.replicas[1].port]));
    const values = await Promise.all(acked.map((_, i) => watch.get(`counter:${i}`)));
    expect(values.map(Number)).toEqual(acked);
    expect(acked.reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);
    expect(diffBySlot(await keyDigests([source]), await keyDigests(masters, true))).toEqual([]);
  }, 110_000);
});
