/**
 * `ferry run` from one server into a 3-master Redis Cluster (the engine; the move people make when
 * they outgrow one server), with an application that writes unique keys all along: to the old
 * server through a plain client, then — when the repoint hook names the cluster — through a
 * cluster-aware client. Every acknowledged write is in the cluster at the end and the data is
 * identical per slot; the cutover gate (`--verify full`) reads the cluster. Preflight refuses what a
 * cluster target cannot do (exit 3).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffBySlot, keyDigests, startCluster, type TestCluster } from './helpers/cluster.js';
import { ferry, jsonEvents } from './helpers/cli.js';
import { trackLoad, untrackLoad } from './helpers/loads.js';
import { RepointedClient } from './helpers/repointed-client.js';
import { startRedis, type TestServer } from './helpers/redis-server.js';

/**
 * Unique-key writer in `lanes` lanes (paced): to the address in `file` (`host:port`), cluster-aware once
 * the file says `cluster host:port` (what the hook below writes). Acknowledged keys are recorded.
 */
function appLoad(file: string, lanes = 4, maxMs = 60_000): { stop(): Promise<{ acked: string[]; failed: number; switches: number }> } {
  let stop = false;
  let seq = 0;
  let failed = 0;
  const acked: string[] = [];
  const app = new RepointedClient(file);
  const started = Date.now();
  const lane = async (): Promise<void> => {
    while (!stop && Date.now() - started < maxMs) {
      const key = `app:${seq++}`;
      try {
        await app.client.set(key, String(seq));
        acked.push(key);
        // Paced (at most ~2000 writes/s over 4 lanes): the check at the end reads every key.
        await new Promise((r) => setTimeout(r, 2));
      } catch {
        failed++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const running = Promise.all(Array.from({ length: lanes }, () => lane()));
  const load = { name: 'app writes', error: null, halt: async () => { stop = true; await running; } };
  trackLoad(load);
  return {
    async stop() {
      await load.halt();
      untrackLoad(load);
      app.close();
      return { acked, failed, switches: app.switches };
    },
  };
}

describe('ferry run: one server into a 3-master cluster', () => {
  let source: TestServer;
  let target: TestCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([startRedis({ args: ['--enable-debug-command', 'yes'] }), startCluster({ masters: 3 })]);
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('refuses what a cluster target cannot do, in preflight (exit 3)', async () => {
    // Its own directory: a run without --state names its state file by the second (another test
    // file's run in the same second must not find it locked).
    const cwd = mkdtempSync(join(tmpdir(), 'ferry-cluster-run-'));
    const replica = await ferry(['run', '--from', source.url, '--to', target.url, '--yes', '--repoint', 'none'], { cwd });
    expect(replica.code).toBe(3);
    expect(replica.stderr).toMatch(/--retire replica would make the old master a replica of one master of the target cluster/);
    const native = await ferry(['run', '--from', source.url, '--to', target.url, '--yes', '--repoint', 'none', '--retire', 'keep', '--sync', 'native'], { cwd });
    expect(native.code).toBe(3);
    expect(native.stderr).toMatch(/cannot REPLICAOF the source; use --sync engine/);
    const plan = await ferry(['plan', '--from', source.url, '--to', target.url, '--retire', 'keep', '--repoint', 'none'], { cwd });
    expect(plan.code, plan.stderr).toBe(0);
    expect(`${plan.stdout}${plan.stderr}`).toMatch(/Redis Cluster of 3 masters/);
    for (const m of target.masters) expect(await m.client().dbsize()).toBe(0);
  }, 60_000);

  it('migrates under a live writer that repoints to the cluster: 0 acknowledged writes lost, identical per slot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cluster-run-'));
    const file = join(dir, 'master');
    const src = source.client();
    await src.call('DEBUG', 'POPULATE', '10000', 'seed');
    src.disconnect(); // the drain waits for every client but ferry to leave the old master
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, `127.0.0.1:${source.port}\n`);
    const load = appLoad(file);
    await new Promise((r) => setTimeout(r, 300));
    const hook = `exec:printf 'cluster %s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${file}.tmp && mv ${file}.tmp ${file}`;
    const run = await ferry(['run', '--from', source.url, '--to', target.url, '--repoint', hook, '--retire', 'keep', '--verify', 'full', '--yes', '--json', '--state', join(dir, 'state.json'), '--drain-timeout', '10000'], { cwd: dir, timeoutMs: 90_000 });
    await new Promise((r) => setTimeout(r, 300)); // the app keeps writing to the cluster
    const report = await load.stop();
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const events = jsonEvents(run.stdout);
    expect(events[events.length - 1].event).toBe('done');
    // The cutover gate (--verify full) read the cluster through the slot router before the repoint.
    expect(events.some((e) => e.event === 'step.done' && /verify/.test(String(e.step)))).toBe(true);
    expect(report.switches).toBe(1);
    expect(report.acked.length).toBeGreaterThan(500);
    const before = await keyDigests([source]);
    const after = await keyDigests(target.masters, true);
    expect(report.acked.filter((k) => !after.has(k))).toEqual([]);
    // Identical per slot, apart from the writes made to the cluster after the repoint.
    for (const k of [...after.keys()]) if (!before.has(k) && k.startsWith('app:')) after.delete(k);
    expect(diffBySlot(before, after)).toEqual([]);
  }, 120_000);
});
