/**
 * A standalone source into a 3-master Redis Cluster target: keys routed by slot (CRC16 and hash
 * tags as the server computes them), every type through both full-sync writers under a live
 * writer, a resharding of the target (`redis-cli --cluster reshard`) during the full sync and the
 * stream, and what a cluster cannot hold refused with its name. Data compared key by key (type, TTL,
 * DEBUG DIGEST-VALUE), grouped by slot.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../src/core/endpoint.js';
import { CHECKPOINT_KEY } from '../../src/engine/checkpoint.js';
import { keySlot, slotTags } from '../../src/engine/cluster/slots.js';
import { SyncEngine } from '../../src/engine/sync.js';
import { diffBySlot, keyDigests, slotWorkload, startCluster, type TestCluster } from '../helpers/cluster.js';
import { fillEveryType } from '../helpers/dataset.js';
import { waitFor } from '../helpers/engine.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const FERRY = join(process.cwd(), 'bin', 'ferry');
const DEBUG = ['--enable-debug-command', 'yes'];

describe('sync into a 3-master cluster', () => {
  let cluster: TestCluster;
  let sources: TestServer[] = [];
  const engines: SyncEngine[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3 });
  });
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.stop().catch(() => {})));
    await Promise.all(sources.map((s) => s.stop()));
    sources = [];
    for (const m of cluster.masters) await m.client().flushall();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  async function source(args: string[] = []): Promise<TestServer> {
    const s = await startRedis({ args: [...DEBUG, '--repl-backlog-size', '16mb', ...args] });
    sources.push(s);
    return s;
  }

  it('computes slots as the server does, and finds a checkpoint key name for every slot', async () => {
    const c = cluster.masters[0].client();
    const keys = ['foo', '', '{}', '{}x', '{a', 'a}', 'x{a}y', '{{a}}', '{a}{b}', 'user:{1000}:f', '\u00e9t\u00e9', 'k'.repeat(300)];
    for (let i = 0; i < 100; i++) keys.push(`key:${i}:${i * 7919}`);
    for (const k of keys) expect(keySlot(k), k).toBe(Number(await c.call('CLUSTER', 'KEYSLOT', k)));
    const bin = Buffer.from([0xff, 0x7b, 0x00, 0x7d, 0x10]);
    expect(keySlot(bin)).toBe(Number(await c.call('CLUSTER', 'KEYSLOT', bin)));
    const tags = slotTags();
    expect(tags.length).toBe(16384);
    for (const s of [0, 1, 5461, 10922, 16383]) expect(Number(await c.call('CLUSTER', 'KEYSLOT', `__ferry:x:{${tags[s]}}:0`))).toBe(s);
  });

  for (const writer of ['auto', 'commands']) {
    it(`ferry sync --until-caught-up (writer ${writer}): every type, a live writer, identical per slot`, async () => {
      const src = await source();
      const sc = src.client();
      await fillEveryType(sc, { debug: true, bulk: 2000 });
      await sc.call('DEBUG', 'POPULATE', writer === 'auto' ? '50000' : '10000', 'pop');
      const load = slotWorkload(sc, { crossSlot: true });
      const watch = cluster.client();
      try {
        const child = execa(FERRY, ['sync', '--from', src.url, '--to', cluster.url, '--until-caught-up', '--json', '--writer', writer], { reject: false, timeout: 60_000 });
        await waitFor(async () => (await watch.get(CHECKPOINT_KEY))?.includes('"rdb"') ?? false, 30_000, 'full sync start');
        // The writer runs through the fork and the transfer; a few rounds reach the stream.
        await new Promise((r) => setTimeout(r, 300));
        expect(await load.stop()).toBeGreaterThan(0);
        const res = await child;
        expect(res.exitCode, res.stderr).toBe(0);
        const done = res.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'done');
        expect(done.report.writer).toBe(writer === 'auto' ? 'restore' : 'commands');
        expect(done.report.cluster.masters).toBe(3);
        expect(done.report.cluster.crossSlotTransactions).toBeGreaterThan(0);
        expect(done.report.cluster.splitCommands).toBeGreaterThan(0);
        expect(diffBySlot(await keyDigests([src]), await keyDigests(cluster.masters, true))).toEqual([]);
        const fns = await sc.call('FUNCTION', 'LIST');
        for (const m of cluster.masters) expect(await m.client().call('FUNCTION', 'LIST')).toEqual(fns);
        if (writer === 'auto') {
          // ferry verify reads a cluster through the slot router: equal, then one key changed.
          const same = await execa(FERRY, ['verify', '--from', src.url, '--to', cluster.url], { reject: false, timeout: 60_000 });
          expect(same.exitCode, same.stderr).toBe(0);
          await watch.set('pop:7', 'changed on the target');
          const diff = await execa(FERRY, ['verify', '--from', src.url, '--to', cluster.url, '--rounds', '1'], { reject: false, timeout: 60_000 });
          expect(diff.exitCode).toBe(5);
          expect(`${diff.stdout}${diff.stderr}`).toMatch(/"pop:7"/);
        }
      } finally {
        await load.stop();
      }
    }, 90_000);
  }

  it('refuses a source db other than 0 (exit 3) and stops at a cross-slot RENAME (exit 4, named)', async () => {
    const src = await source();
    const sc = src.client();
    await sc.select(1);
    await sc.set('in-db1', '1');
    const db1 = await execa(FERRY, ['sync', '--from', src.url, '--to', cluster.url, '--until-caught-up'], { reject: false, timeout: 30_000 });
    expect(db1.exitCode).toBe(3);
    expect(db1.stderr).toMatch(/db 1.*--db-map 1:0/);
    const mapped = await execa(FERRY, ['sync', '--from', src.url, '--to', cluster.url, '--until-caught-up', '--db-map', '1:0'], { reject: false, timeout: 30_000 });
    expect(mapped.exitCode, mapped.stderr).toBe(0);
    expect(await cluster.client().get('in-db1')).toBe('1');
    for (const m of cluster.masters) await m.client().flushall();

    await sc.select(0);
    const engine = new SyncEngine({ from: parseRedisUrl(src.url, '--from'), to: parseRedisUrl(cluster.url, '--to'), filter: { dbMap: { 1: 0 } } });
    engines.push(engine);
    await engine.start();
    await engine.waitStreaming();
    expect(keySlot('ren:a')).not.toBe(keySlot('ren:b'));
    await sc.set('ren:a', '1');
    await sc.rename('ren:a', 'ren:b');
    await expect(engine.done()).rejects.toThrow(/RENAME has keys in different slots/);
  }, 60_000);

  // Last: it leaves the slots unevenly spread.
  it('follows a resharding of the target during the full sync and the stream', async () => {
    const src = await source();
    const sc = src.client();
    await sc.call('DEBUG', 'POPULATE', '60000', 'pop', '20');
    // A third of them with a TTL: the full sync sends those as MSET + PEXPIREATs in one blob per slot,
    // split into single commands when a moving slot answers -ASK or -TRYAGAIN.
    await sc.call('EVAL', "for i = 0, 59999, 3 do redis.call('PEXPIRE', 'pop:' .. i, 3600000) end return 1", '0');
    const engine = new SyncEngine({ from: parseRedisUrl(src.url, '--from'), to: parseRedisUrl(cluster.url, '--to') });
    engines.push(engine);
    const load = slotWorkload(sc, { crossSlot: true });
    const reshard = (from: TestServer, to: TestServer, slots: number) =>
      execa('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${from.port}`, '--cluster-from', cluster.ids.get(from.port)!, '--cluster-to', cluster.ids.get(to.port)!,
        '--cluster-slots', String(slots), '--cluster-yes', '--cluster-pipeline', '50'], { timeout: 60_000, reject: false });
    try {
      await engine.start();
      // Slots move from master 0 to master 1 while the keys load, then from 2 to 0 while the stream runs.
      const first = reshard(cluster.masters[0], cluster.masters[1], 1000);
      await engine.waitStreaming();
      const r1 = await first;
      expect(r1.exitCode, r1.stderr + r1.stdout.slice(-500)).toBe(0);
      const r2 = await reshard(cluster.masters[2], cluster.masters[0], 400);
      expect(r2.exitCode, r2.stderr + r2.stdout.slice(-500)).toBe(0);
      await load.stop();
      await engine.waitCaughtUp(100, undefined, 30_000);
      const report = await engine.stop({ removeCheckpoint: true });
      expect(report.cluster!.moved + report.cluster!.ask).toBeGreaterThan(0);
      expect(report.fullSyncs).toBe(1);
      expect(diffBySlot(await keyDigests([src]), await keyDigests(cluster.masters, true))).toEqual([]);
    } finally {
      await load.stop();
    }
  }, 100_000);

  it('follows -ASK for slots in migration during the full sync: batch blobs are resent as single commands, TTLs kept', async () => {
    const src = await source();
    const sc = src.client();
    // {mig}: a batch of 40 keys, half with a TTL (the importing master answers a multi-key MSET
    // -TRYAGAIN, and ASKING covers one command: the blob is resent as single SETs); {oneN}: one key
    // with a TTL alone in its slot (one SET … PXAT, resent after ASKING).
    const pops = Array.from({ length: 2000 }, (_, i) => `pop:${i}`);
    let one = 0;
    while (pops.some((k) => keySlot(k) === keySlot(`{one${one}}`))) one++; // a slot with that key alone
    for (let i = 0; i < 40; i++) await sc.set(`{mig}:${i}`, `v${i}`, ...((i % 2 ? ['PX', 3_600_000] : []) as []));
    await sc.set(`{one${one}}:k`, 'v', 'PX', 3_600_000);
    await sc.call('DEBUG', 'POPULATE', '2000', 'pop');
    const ranges = (await cluster.masters[0].client().call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
    const moves = ['{mig}', `{one${one}}`].map((tag) => {
      const slot = keySlot(tag);
      const owner = ranges.find(([a, b]) => a <= slot && slot <= b)![2][1];
      const from = cluster.masters.find((m) => m.port === Number(owner))!;
      const to = cluster.masters.find((m) => m !== from)!;
      const keys = (tag === '{mig}' ? 40 : 1) + pops.filter((k) => keySlot(k) === slot).length;
      return { slot, from, to, keys, fromId: cluster.ids.get(from.port)!, toId: cluster.ids.get(to.port)! };
    });
    // Each slot is migrating from its owner, which holds none of its keys yet: every write there
    // is answered -ASK towards the importing master (redis src/cluster.c getNodeByQuery).
    for (const m of moves) {
      await m.to.client().call('CLUSTER', 'SETSLOT', String(m.slot), 'IMPORTING', m.fromId);
      await m.from.client().call('CLUSTER', 'SETSLOT', String(m.slot), 'MIGRATING', m.toId);
    }
    try {
      const res = await execa(FERRY, ['sync', '--from', src.url, '--to', cluster.url, '--until-caught-up', '--json'], { reject: false, timeout: 50_000 });
      expect(res.exitCode, res.stderr).toBe(0);
      const done = res.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'done');
      expect(done.report.cluster.ask).toBeGreaterThan(0);
      for (const m of moves) {
        expect(await m.to.client().call('CLUSTER', 'COUNTKEYSINSLOT', String(m.slot))).toBe(m.keys);
        expect(await m.from.client().call('CLUSTER', 'COUNTKEYSINSLOT', String(m.slot))).toBe(0);
        // The migration ends (the slot is the importing master's).
        for (const n of cluster.masters) await n.client().call('CLUSTER', 'SETSLOT', String(m.slot), 'NODE', m.toId);
      }
      // Every key as on the source, TTLs too.
      expect(diffBySlot(await keyDigests([src]), await keyDigests(cluster.masters, true))).toEqual([]);
    } finally {
      for (const m of moves) for (const n of [m.from, m.to]) await n.client().call('CLUSTER', 'SETSLOT', String(m.slot), 'STABLE').catch(() => {});
    }
  }, 90_000);
});
