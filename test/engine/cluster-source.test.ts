/**
 * A Redis Cluster source (3 masters, each with a replica): one engine link per master.
 * - into a 3-master cluster with a cluster-aware client writing throughout, and a `CLUSTER FAILOVER`
 *   on a source replica during the stream: the link follows the promoted replica with a partial
 *   resync (psync2), the data ends identical per slot;
 * - into one server with `ferry sync`, SIGKILLed during the stream and resumed: every link resumes
 *   from its own checkpoint (+CONTINUE, no second full sync), identical at the end;
 * - a slot migration on the source (`redis-cli --cluster reshard`) stops the sync with an error
 *   naming the slot, before the migration's keys are applied.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../src/core/endpoint.js';
import { linkCheckpointKey } from '../../src/engine/cluster/cluster-target.js';
import { ClusterSync } from '../../src/engine/cluster/orchestrator.js';
import { currentMasters, diffBySlot, failover, keyDigests, slotWorkload, startCluster, type TestCluster } from '../helpers/cluster.js';
import { syncCounters, waitFor } from '../helpers/engine.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const FERRY = join(process.cwd(), 'bin', 'ferry');

describe('sync from a 3-master cluster', () => {
  let source: TestCluster;
  let target: TestCluster;
  const syncs: ClusterSync[] = [];
  const servers: TestServer[] = [];

  beforeAll(async () => {
    // The backlog covers the paced writers for minutes: a failover or a kill is a partial resync.
    [source, target] = await Promise.all([startCluster({ masters: 3, replicas: 1, args: ['--repl-backlog-size', '32mb'] }), startCluster({ masters: 3 })]);
    const c = source.client();
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 15_000; i++) writes.push(i % 3 ? c.set(`pre:${i}`, `v${i}`) : c.hset(`pre:h:${i}`, 'f', i, 'g', `x${i}`));
    await Promise.all(writes);
  });
  afterAll(async () => {
    await Promise.all(syncs.map((s) => s.stop().catch(() => {})));
    await Promise.all([source?.stop(), target?.stop(), ...servers.map((s) => s.stop())]);
  });

  it('follows a CLUSTER FAILOVER of a source master with a partial resync, identical per slot', async () => {
    // The links' events, shown when the sync does not catch up.
    const events: string[] = [];
    const sync = new ClusterSync({ from: parseRedisUrl(source.url, '--from'), to: parseRedisUrl(target.url, '--to'), emit: (e) => {
      if (e.event === 'info' || e.event === 'warning') events.push(e.message);
    } });
    syncs.push(sync);
    await sync.start();
    await sync.waitStreaming();
    const load = slotWorkload(source.client(), { prefix: 'fo' });
    await new Promise((r) => setTimeout(r, 500));
    // The replica of the first master takes over (a coordinated manual failover).
    const replica = source.replicas[0];
    const oldMaster = source.masters[0];
    const rc = replica.client();
    const before = await syncCounters(rc);
    await failover(replica);
    await waitFor(async () => (await syncCounters(rc)).partialOk > before.partialOk, 20_000, 'the link to PSYNC the new master');
    await new Promise((r) => setTimeout(r, 500));
    expect(await load.stop()).toBeGreaterThan(0);
    await sync.waitCaughtUp(100, undefined, 45_000).catch((e: Error) => {
      throw new Error(`${e.message}; the links said: ${events.slice(-15).join(' | ')}`);
    });
    const report = await sync.stop({ removeCheckpoint: true });
    const link = report.shards.find((s) => s.master === `127.0.0.1:${replica.port}`)!;
    expect(link, JSON.stringify(report.shards.map((s) => s.master))).toBeDefined();
    expect(link.fullSyncs).toBe(1);
    expect(link.partialSyncs).toBeGreaterThanOrEqual(1);
    expect(report.fullSyncs).toBe(3);
    expect(((await oldMaster.client().call('ROLE')) as unknown[])[0]).toBe('slave');
    const masters = await currentMasters(source.nodes);
    expect(masters.map((m) => m.port)).toContain(replica.port);
    expect(diffBySlot(await keyDigests(masters), await keyDigests(target.masters, true))).toEqual([]);
    // ferry verify from cluster to cluster: every key, both directions.
    const verify = await execa(FERRY, ['verify', '--from', source.url, '--to', target.url, '--json'], { reject: false, timeout: 60_000 });
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(String(verify.stdout)).toMatch(/"agree":true/);
  }, 90_000);

  it('ferry sync into one server: SIGKILL in the stream, then every link resumes from its checkpoint', async () => {
    const one = await startRedis({ args: ['--enable-debug-command', 'yes'] });
    servers.push(one);
    const dst = one.client();
    const args = ['sync', '--from', source.url, '--to', one.url, '--json'];
    const load = slotWorkload(source.client(), { prefix: 'kill' });
    const child = execa(FERRY, args, { reject: false, timeout: 60_000 });
    await waitFor(async () => {
      const cps = await Promise.all([0, 1, 2].map((k) => dst.get(linkCheckpointKey(k))));
      return cps.every((cp) => cp?.includes('"stream"'));
    }, 30_000, 'three links in the stream phase');
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGKILL');
    await child;
    await new Promise((r) => setTimeout(r, 300));
    expect(await load.stop()).toBeGreaterThan(0);
    const final = await execa(FERRY, [...args, '--until-caught-up'], { reject: false, timeout: 60_000 });
    expect(final.exitCode, final.stderr).toBe(0);
    const done = String(final.stdout).trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'done');
    expect(done.report.fullSyncs).toBe(0);
    expect(done.report.partialSyncs).toBe(3);
    expect(await dst.exists(linkCheckpointKey(0), linkCheckpointKey(1), linkCheckpointKey(2))).toBe(0);
    expect(diffBySlot(await keyDigests(await currentMasters(source.nodes)), await keyDigests([one], true))).toEqual([]);
  }, 90_000);

  // Last: it leaves the source mid-reshard or resharded.
  it('stops with an error naming the slot when a slot migration starts on the source', async () => {
    await Promise.all(target.masters.map((m) => m.client().flushall()));
    const sync = new ClusterSync({ from: parseRedisUrl(source.url, '--from'), to: parseRedisUrl(target.url, '--to') });
    syncs.push(sync);
    await sync.start();
    await sync.waitStreaming();
    const load = slotWorkload(source.client(), { prefix: 'mig' });
    const masters = await currentMasters(source.nodes);
    const [from, to] = [masters[0], masters[1]];
    const reshard = execa('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${from.port}`, '--cluster-from', source.ids.get(from.port)!, '--cluster-to', source.ids.get(to.port)!,
      '--cluster-slots', '200', '--cluster-yes'], { timeout: 60_000, reject: false });
    const stopped = sync.done().then(() => null, (e: Error) => e);
    try {
      const r = await reshard;
      expect(r.exitCode, `${r.stdout.slice(-800)}${r.stderr}`).toBe(0);
      const err = await Promise.race([stopped, new Promise<string>((res) => setTimeout(() => res('still running 10 s after the reshard'), 10_000))]);
      expect(String(err)).toMatch(/slot \d+ is (migrating|importing) on the source master|slot migration is moving keys/);
    } finally {
      await load.stop();
    }
  }, 90_000);
});
