/**
 * `ferry run` FROM a Redis Cluster (one engine link per source master, the fence on every master):
 * into a cluster with another number of masters (3 → 2, `--retire keep`) and into one server
 * (2 masters with a replica each → standalone, `--retire shutdown`). A cluster-aware application
 * keeps writing acknowledged SETs and INCRs all along and is repointed by the hook. Every
 * acknowledged write is in the target, the data is identical key by key (and `ferry verify` agrees),
 * the source masters are unpaused (keep) or gone (shutdown). Preflight refuses what a cluster
 * source cannot do (exit 3), changing nothing, and the plan names every master's commands.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { keySlot } from '../src/engine/cluster/slots.js';
import { diffBySlot, keyDigests, slotWorkload, startCluster, type TestCluster } from './helpers/cluster.js';
import { ferry, jsonEvents, spawnFerry } from './helpers/cli.js';
import { trackLoad, untrackLoad } from './helpers/loads.js';
import { RepointedClient } from './helpers/repointed-client.js';
import { startRedis, type TestServer } from './helpers/redis-server.js';

interface AppReport {
  /** Acknowledged SETs: key → value. */
  sets: Map<string, string>;
  /** Acknowledged INCRs per counter, and INCRs that failed (applied or not: unknown). */
  incrs: Map<string, { acked: number; unknown: number }>;
  failed: number;
  switches: number;
}

/**
 * The application: `lanes` lanes of SET app:g<gen>:<n> and INCR ctr:g<gen>:<lane> (paced), through a
 * cluster-aware client (`cluster host:port` in `file`) or a plain one (`single host:port`), reopened
 * when the hook rewrites the file (gen + 1). Bounded by `maxMs`; registered as a background load.
 */
function appLoad(file: string, lanes = 4, maxMs = 90_000): { stop(): Promise<AppReport> } {
  let stop = false;
  let seq = 0;
  const r: AppReport = { sets: new Map(), incrs: new Map(), failed: 0, switches: 0 };
  const app = new RepointedClient(file);
  const started = Date.now();
  const lane = async (l: number): Promise<void> => {
    while (!stop && Date.now() - started < maxMs) {
      const g = app.switches;
      const c = app.client;
      const key = `app:g${g}:${seq++}`;
      const ctr = `ctr:g${g}:${l}`;
      const count = r.incrs.get(ctr) ?? { acked: 0, unknown: 0 };
      r.incrs.set(ctr, count);
      try {
        await c.set(key, key);
        r.sets.set(key, key);
        try {
          await c.incr(ctr);
          count.acked++;
        } catch {
          count.unknown++;
          throw new Error('incr');
        }
        await new Promise((res) => setTimeout(res, 3));
      } catch {
        r.failed++;
        await new Promise((res) => setTimeout(res, 5));
      }
    }
  };
  const running = Promise.all(Array.from({ length: lanes }, (_, l) => lane(l)));
  const load = { name: 'app writes', error: null, halt: async () => { stop = true; await running; } };
  trackLoad(load);
  return {
    async stop() {
      await load.halt();
      untrackLoad(load);
      app.close();
      r.switches = app.switches;
      return r;
    },
  };
}

/** Mixed keys of every type in the source cluster, through a cluster client (closed after). */
async function seed(c: TestCluster): Promise<void> {
  const client = c.client();
  try {
    for (let i = 0; i < 3000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => client.set(`seed:${i + j}`, `v${i + j}`)));
    const w = slotWorkload(client, { prefix: 'mix', opsPerSec: 5000, maxMs: 10_000 });
    await new Promise((res) => setTimeout(res, 800));
    expect(await w.stop()).toBeGreaterThan(100);
  } finally {
    client.disconnect();
  }
}

/** A key whose slot `master` serves (from its own CLUSTER NODES line). */
async function keyOn(master: TestServer): Promise<string> {
  const c = master.client();
  try {
    const mine = String(await c.call('CLUSTER', 'NODES')).split('\n').find((l) => l.includes('myself'))!;
    const [a, b] = mine.trim().split(' ')[8].split('-').map(Number);
    for (let i = 0; ; i++) {
      const s = keySlot(`probe:${i}`);
      if (s >= a && s <= (b ?? a)) return `probe:${i}`;
    }
  } finally {
    c.disconnect();
  }
}

/** Every source master takes a write within 1 s (it is not paused any more). */
async function assertWritable(masters: TestServer[]): Promise<void> {
  for (const m of masters) {
    const key = await keyOn(m);
    const c = new Redis({ port: m.port, commandTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    try {
      expect(await c.set(key, 'after')).toBe('OK');
      await c.del(key);
    } finally {
      c.disconnect();
    }
  }
}

/** Every acknowledged write of the app is in `after` (SETs exact, each counter at least its acked INCRs). */
function assertNoLostWrites(app: AppReport, after: Map<string, string>, counters: Map<string, number>): void {
  const lost = [...app.sets.keys()].filter((k) => !after.has(k));
  expect(lost).toEqual([]);
  for (const [ctr, n] of app.incrs) {
    if (n.acked === 0 && n.unknown === 0) continue;
    const v = counters.get(ctr) ?? 0;
    expect(v, ctr).toBeGreaterThanOrEqual(n.acked);
    expect(v, ctr).toBeLessThanOrEqual(n.acked + n.unknown);
  }
}

/** GET of every ctr:* key the app used, on the target (a cluster client or one server). */
async function readCounters(c: Redis | Cluster, app: AppReport): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const k of app.incrs.keys()) out.set(k, Number((await c.get(k)) ?? 0));
  return out;
}

/** The app's writes after the repoint (generation 1 on): not on the frozen source, by design. */
function withoutLaterWrites(m: Map<string, string>): Map<string, string> {
  for (const k of [...m.keys()]) if (/^(app|ctr):g[1-9]/.test(k)) m.delete(k);
  return m;
}

describe('ferry run from a Redis Cluster', () => {
  it('refuses in preflight what a cluster source cannot do (exit 3, nothing changed), and plans every master', async () => {
    const [source, target, small, bare] = await Promise.all([startCluster({ masters: 3 }), startCluster({ masters: 2 }), startRedis({ args: ['--maxmemory', '1mb'] }), startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] })]);
    try {
      const client = source.client();
      for (let i = 0; i < 300; i++) await client.set(`k:${i}`, `v${i}`);
      client.disconnect();
      const backlogs = await Promise.all(source.masters.map((m) => backlogOf(m)));
      // A directory of its own for the refused runs' state files (they run without --state).
      const cwd = mkdtempSync(join(tmpdir(), 'ferry-cluster-src-'));
      const replica = await ferry(['run', '--from', source.url, '--to', target.url, '--yes', '--repoint', 'none'], { cwd });
      expect(replica.code, replica.stderr).toBe(3);
      expect(replica.stderr).toMatch(/--retire replica: the source is a Redis Cluster, and a cluster node refuses REPLICAOF .*use --retire keep .* or --retire shutdown/);
      const native = await ferry(['run', '--from', source.url, '--to', small.url, '--yes', '--repoint', 'none', '--retire', 'keep', '--sync', 'native'], { cwd });
      expect(native.code).toBe(3);
      expect(native.stderr).toMatch(/native replication cannot follow/);
      const fits = await ferry(['run', '--from', source.url, '--to', small.url, '--yes', '--repoint', 'none', '--retire', 'keep'], { cwd });
      expect(fits.code).toBe(3);
      expect(fits.stderr).toMatch(/the data does not fit in one server/);
      // A cluster node whose cluster serves no slot, on either side.
      const noSlotsTo = await ferry(['run', '--from', source.url, '--to', bare.url, '--yes', '--repoint', 'none', '--retire', 'keep'], { cwd });
      expect(noSlotsTo.code).toBe(3);
      expect(noSlotsTo.stderr).toMatch(/no master of its cluster serves slots: assign the slots first/);
      const noSlotsFrom = await ferry(['run', '--from', bare.url, '--to', small.url, '--yes', '--repoint', 'none', '--retire', 'keep'], { cwd });
      expect(noSlotsFrom.code).toBe(3);
      expect(noSlotsFrom.stderr).toMatch(/no master of its cluster serves slots \(CLUSTER NODES\): there is nothing to migrate/);
      // A slot migration open on a source master (here slot 0, MIGRATING to another master).
      const m0 = new Redis({ port: source.masters[0].port, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await m0.call('CLUSTER', 'SETSLOT', '0', 'MIGRATING', source.ids.get(source.masters[1].port)!);
        const migrating = await ferry(['run', '--from', source.url, '--to', target.url, '--yes', '--repoint', 'none', '--retire', 'keep'], { cwd });
        expect(migrating.code).toBe(3);
        expect(migrating.stderr).toMatch(/slot 0 is migrating on the source master 127\.0\.0\.1:\d+; ferry cannot migrate a cluster while slots move/);
      } finally {
        await m0.call('CLUSTER', 'SETSLOT', '0', 'STABLE');
        m0.disconnect();
      }
      // Nothing changed: the targets are empty, every source master has its keys, backlog and role.
      for (const m of target.masters) expect(await m.client().dbsize()).toBe(0);
      expect(await small.client().dbsize()).toBe(0);
      let keys = 0;
      for (const [i, m] of source.masters.entries()) {
        const c = m.client();
        keys += await c.dbsize();
        expect(((await c.config('GET', 'repl-backlog-size')) as string[])[1]).toBe(backlogs[i]);
        expect(((await c.call('ROLE')) as unknown[])[0]).toBe('master');
      }
      expect(keys).toBe(300);
      // The plan names every source master's commands: its link, its pause, its retire command.
      const plan = await ferry(['plan', '--from', source.url, '--to', target.url, '--retire', 'shutdown', '--repoint', 'none', '--json'], { cwd });
      expect(plan.code, plan.stderr).toBe(0);
      const p = JSON.parse(plan.stdout);
      const on = (step: string, command: RegExp): string[] => p.steps.find((s: { id: string }) => s.id === step).commands.filter((c: { command: string }) => command.test(c.command)).map((c: { on: string }) => c.on);
      const masters = source.masters.map((m) => `source 127.0.0.1:${m.port}`).sort();
      expect(on('replicate', /^PSYNC/).sort()).toEqual(masters);
      expect(on('fence', /^CLIENT PAUSE \d+ WRITE$/).sort()).toEqual(masters);
      expect(on('retire', /^SHUTDOWN$/).sort()).toEqual(masters);
      expect(p.findings.refusals).toEqual([]);
    } finally {
      await Promise.all([source.stop(), target.stop(), small.stop(), bare.stop()]);
    }
  }, 90_000);

  it('3 masters → a 2-master cluster under a cluster-aware writer repointed by the hook: 0 acknowledged writes lost, identical, sources unpaused (--retire keep)', async () => {
    const [source, target] = await Promise.all([startCluster({ masters: 3 }), startCluster({ masters: 2 })]);
    try {
      await seed(source);
      const dir = mkdtempSync(join(tmpdir(), 'ferry-cluster-src-'));
      const file = join(dir, 'where');
      writeFileSync(file, `cluster 127.0.0.1:${source.masters[0].port}\n`);
      const load = appLoad(file);
      await new Promise((res) => setTimeout(res, 300));
      const hook = `exec:printf 'cluster %s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${file}.tmp && mv ${file}.tmp ${file}`;
      const backlogs = await Promise.all(source.masters.map((m) => backlogOf(m)));
      const run = await ferry(['run', '--from', source.url, '--to', target.url, '--repoint', hook, '--retire', 'keep', '--verify', 'full', '--backlog', '8mb', '--pause-timeout', '20000', '--yes', '--json', '--state', join(dir, 'state.json'), '--drain-timeout', '10000'], { cwd: dir, timeoutMs: 120_000 });
      await new Promise((res) => setTimeout(res, 300)); // the app keeps writing to the target cluster
      const app = await load.stop();
      expect(run.code, run.stderr.slice(-3000)).toBe(0);
      const events = jsonEvents(run.stdout);
      const done = events[events.length - 1];
      expect(done.event).toBe('done');
      expect(app.switches).toBe(1);
      expect(app.sets.size).toBeGreaterThan(200);
      // The fence paused all three masters and met each link's offset: one final offset per master.
      const offsets = done.report.finalOffsets as Record<string, number>;
      expect(Object.keys(offsets).sort()).toEqual(source.masters.map((m) => `127.0.0.1:${m.port}`).sort());
      expect(done.report.finalOffset).toBe(Object.values(offsets).reduce((a, b) => a + b, 0));
      const status = await ferry(['status', '--state', join(dir, 'state.json')], { cwd: dir });
      expect(status.stdout).toMatch(new RegExp(`per source master: .*127\\.0\\.0\\.1:${source.masters[0].port} ${offsets[`127.0.0.1:${source.masters[0].port}`]}`));
      expect(events.find((e) => e.event === 'step.done' && e.step === 'verify')?.detail?.agree).toBe(true);
      // The final check read the frozen source cluster (every master still paused) against the target.
      expect(done.report.finalCheck?.skipped).toBeUndefined();
      expect(done.report.finalCheck?.checked?.source).toBeGreaterThan(0);
      // The drain watched every master: the application's cluster client left all of them.
      expect(events.find((e) => e.event === 'step.done' && e.step === 'repoint')?.detail?.remainingClients).toBe(0);
      // --backlog 8mb raised every master's backlog for the run, and the end put each one back.
      const sized = events.find((e) => e.event === 'step.done' && e.step === 'backlog')?.detail;
      expect(sized.set).toBe(8 * 1024 * 1024);
      expect(Object.values(sized.otherMasters as Record<string, { set: number }>).map((m) => m.set)).toEqual([8 * 1024 * 1024, 8 * 1024 * 1024]);
      for (const [i, m] of source.masters.entries()) expect(await backlogOf(m)).toBe(backlogs[i]);
      const tc = target.client();
      assertNoLostWrites(app, await keyDigests(target.masters), await readCounters(tc, app));
      // Identical key by key (the frozen source against the target without the later writes), and ferry verify agrees.
      const before = await keyDigests(source.masters);
      const after = withoutLaterWrites(await keyDigests(target.masters, true));
      expect(diffBySlot(before, after)).toEqual([]);
      const verify = await ferry(['verify', '--from', source.url, '--to', target.url, '--exclude', 'app:g1:*', '--exclude', 'ctr:g1:*']);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      // --retire keep: every old master takes writes again (unpaused), and is still a master.
      await assertWritable(source.masters);
      for (const m of source.masters) expect(((await m.client().call('ROLE')) as unknown[])[0]).toBe('master');
    } finally {
      await Promise.all([source.stop(), target.stop()]);
    }
  }, 150_000);

  it('2 masters with replicas → one server, --retire shutdown: 0 acknowledged writes lost, identical, every old master shut down', async () => {
    const [source, target] = await Promise.all([startCluster({ masters: 2, replicas: 1, args: ['--cluster-allow-reads-when-down', 'yes'] }), startRedis({ args: ['--enable-debug-command', 'yes'] })]);
    try {
      await seed(source);
      const dir = mkdtempSync(join(tmpdir(), 'ferry-cluster-src-'));
      const file = join(dir, 'where');
      writeFileSync(file, `cluster 127.0.0.1:${source.masters[0].port}\n`);
      const load = appLoad(file);
      await new Promise((res) => setTimeout(res, 300));
      const hook = `exec:printf 'single %s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${file}.tmp && mv ${file}.tmp ${file}`;
      const run = await ferry(['run', '--from', source.url, '--to', target.url, '--repoint', hook, '--retire', 'shutdown', '--verify', 'sample', '--yes', '--json', '--state', join(dir, 'state.json'), '--drain-timeout', '10000'], { cwd: dir, timeoutMs: 120_000 });
      await new Promise((res) => setTimeout(res, 300));
      const app = await load.stop();
      expect(run.code, run.stderr.slice(-3000)).toBe(0);
      const events = jsonEvents(run.stdout);
      const done = events[events.length - 1];
      expect(done.event).toBe('done');
      expect(Object.keys(done.report.finalOffsets).length).toBe(2);
      expect(events.find((e) => e.event === 'step.done' && e.step === 'repoint')?.detail?.remainingClients).toBe(0);
      expect(events.find((e) => e.event === 'step.done' && e.step === 'retire')?.detail.masters.sort()).toEqual(source.masters.map((m) => `127.0.0.1:${m.port}`).sort());
      expect(app.switches).toBe(1);
      expect(app.sets.size).toBeGreaterThan(200);
      const tc = target.client();
      assertNoLostWrites(app, await keyDigests([target]), await readCounters(tc, app));
      // Every old master is gone; their replicas (they hold the data as of the cutover) match the target.
      for (const m of source.masters) {
        const c = new Redis({ port: m.port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
        c.on('error', () => {});
        await expect(c.connect()).rejects.toThrow();
        c.disconnect();
      }
      const before = await replicaDigests(source.replicas);
      const after = withoutLaterWrites(await keyDigests([target], true));
      expect(diffBySlot(before, after)).toEqual([]);
      // The replicas stay replicas: with no master left to vote, none can be promoted, and the old
      // cluster is down (it answers reads here only because of cluster-allow-reads-when-down).
      for (const r of source.replicas) {
        const c = r.client();
        expect(((await c.call('ROLE')) as unknown[])[0]).toBe('slave');
        const deadline = Date.now() + 15_000;
        while (!/cluster_state:fail/.test(String(await c.call('CLUSTER', 'INFO')))) {
          if (Date.now() > deadline) throw new Error(`the replica ${r.port} still says cluster_state:ok 15 s after its master was shut down`);
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    } finally {
      await Promise.all([source.stop(), target.stop()]);
    }
  }, 150_000);
});

describe('ferry run from a Redis Cluster: a source failover during the run', () => {
  it('CLUSTER FAILOVER of a source master in the repoint hook: the fence pauses the promoted replica, 0 acknowledged writes lost, identical', async () => {
    const [source, target] = await Promise.all([startCluster({ masters: 2, replicas: 1 }), startRedis({ args: ['--enable-debug-command', 'yes'] })]);
    try {
      await seed(source);
      const dir = mkdtempSync(join(tmpdir(), 'ferry-cluster-src-'));
      const file = join(dir, 'where');
      writeFileSync(file, `cluster 127.0.0.1:${source.masters[0].port}\n`);
      // The replica of masters[0] (startCluster: replicas[i] follows masters[i % masters]).
      const promoted = source.replicas[0].port;
      // The hook fails masters[0] over to its replica (asked again if a busy machine lets a manual
      // failover time out; 30 s at most), then moves the application to the target.
      const script = join(dir, 'hook.sh');
      writeFileSync(script, [
        'for try in 1 2 3 4; do',
        `  redis-cli -p ${promoted} CLUSTER FAILOVER >/dev/null`,
        '  for i in $(seq 70); do',
        `    if redis-cli -p ${promoted} ROLE | head -1 | grep -q master; then printf 'single %s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${file}.tmp && mv ${file}.tmp ${file}; exit 0; fi`,
        '    sleep 0.1',
        '  done',
        'done',
        'exit 1',
        '',
      ].join('\n'));
      const load = appLoad(file);
      let app: AppReport | undefined;
      let run;
      try {
        await new Promise((res) => setTimeout(res, 300));
        run = await ferry(['run', '--from', source.url, '--to', target.url, '--repoint', `exec:sh ${script}`, '--retire', 'keep', '--verify', 'sample', '--yes', '--json', '--state', join(dir, 'state.json'), '--drain-timeout', '10000'], { cwd: dir, timeoutMs: 120_000 });
        await new Promise((res) => setTimeout(res, 300));
      } finally {
        app = await load.stop();
      }
      expect(run.code, run.stderr.slice(-3000)).toBe(0);
      const done = jsonEvents(run.stdout).pop()!;
      expect(done.event).toBe('done');
      // The fence paused the shard's master NOW (the promoted replica), not the old one.
      expect(Object.keys(done.report.finalOffsets as Record<string, number>).sort()).toEqual([`127.0.0.1:${promoted}`, `127.0.0.1:${source.masters[1].port}`].sort());
      expect(app.switches).toBe(1);
      assertNoLostWrites(app, await keyDigests([target]), await readCounters(target.client(), app));
      const now = [source.replicas[0], source.masters[1]];
      const before = await keyDigests(now);
      const after = withoutLaterWrites(await keyDigests([target], true));
      expect(diffBySlot(before, after)).toEqual([]);
      await assertWritable(now);
      expect(((await source.masters[0].client().call('ROLE')) as unknown[])[0]).toBe('slave');
    } finally {
      await Promise.all([source.stop(), target.stop()]);
    }
  }, 180_000);
});

describe('ferry run from a Redis Cluster: killed, then rolled back', () => {
  it('SIGKILL after converge, then ferry rollback: every link checkpoint leaves the target, every master gets its backlog back', async () => {
    const [source, target] = await Promise.all([startCluster({ masters: 2 }), startRedis()]);
    try {
      await seed(source);
      const dir = mkdtempSync(join(tmpdir(), 'ferry-cluster-src-'));
      const state = join(dir, 'state.json');
      const backlogs = await Promise.all(source.masters.map((m) => backlogOf(m)));
      const killed = await ferry(['run', '--from', source.url, '--to', target.url, '--repoint', 'none', '--retire', 'keep', '--backlog', '8mb', '--yes', '--json', '--state', state], { cwd: dir, env: { FERRY_TEST_KILL_AFTER: 'converge' }, timeoutMs: 90_000 });
      expect(killed.signal, killed.stderr.slice(-2000)).toBe('SIGKILL');
      // Killed mid-run: both masters' backlogs are still raised, both link checkpoints in the target.
      for (const m of source.masters) expect(await backlogOf(m)).toBe(String(8 * 1024 * 1024));
      const t = new Redis({ port: target.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        expect((await t.keys('__ferry:*')).sort()).toEqual(['__ferry:sync:checkpoint', '__ferry:sync:checkpoint:1']);
        const r = await ferry(['rollback', '--state', state, '--yes', '--json'], { cwd: dir });
        expect(r.code, r.stderr).toBe(0);
        expect(jsonEvents(r.stdout).pop()).toMatchObject({ event: 'done', report: { undone: ['replicate', 'backlog'] } });
        expect(await t.keys('__ferry:*')).toEqual([]);
      } finally {
        t.disconnect();
      }
      for (const [i, m] of source.masters.entries()) expect(await backlogOf(m)).toBe(backlogs[i]);
    } finally {
      await Promise.all([source.stop(), target.stop()]);
    }
  }, 120_000);
});

describe('ferry run from a Redis Cluster: interrupted in the fence, then resumed', () => {
  it('SIGINT while every master is paused: all unpaused at once (exit 130); ferry resume finishes with 0 acknowledged writes lost', async () => {
    // Each master's backlog covers the time ferry is away, so every link resumes with +CONTINUE.
    const [source, target] = await Promise.all([startCluster({ masters: 2, args: ['--repl-backlog-size', '64mb'] }), startRedis({ args: ['--enable-debug-command', 'yes'] })]);
    try {
      await seed(source);
      const dir = mkdtempSync(join(tmpdir(), 'ferry-cluster-src-'));
      const file = join(dir, 'where');
      const state = join(dir, 'state.json');
      writeFileSync(file, `cluster 127.0.0.1:${source.masters[0].port}\n`);
      const load = appLoad(file);
      let app: AppReport | undefined;
      try {
        const hook = `exec:printf 'single %s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${file}.tmp && mv ${file}.tmp ${file}`;
        const child = spawnFerry(['run', '--from', source.url, '--to', target.url, '--repoint', hook, '--retire', 'keep', '--verify', 'off', '--yes', '--json', '--state', state, '--drain-timeout', '10000', '--pause-timeout', '30000'], { cwd: dir, env: { FERRY_TEST_FENCE_HOLD_MS: '40000' } });
        let out = '';
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`ferry never paused the source masters:\n${out.slice(-3000)}`)), 60_000);
          child.stdout!.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (/old masters \(2: .*\) paused for writes/.test(out)) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        child.kill('SIGINT');
        const r = await child;
        expect(r.exitCode, String(r.stderr)).toBe(130);
        expect(JSON.parse(readFileSync(state, 'utf8')).steps.fence.status).toBe('failed');
        // Both masters unpaused: a write on each is answered within 1 s (the pause would hold it 30 s).
        await assertWritable(source.masters);
        const resumed = await ferry(['resume', '--state', state, '--yes', '--json'], { cwd: dir, timeoutMs: 120_000 });
        expect(resumed.code, resumed.stderr.slice(-3000)).toBe(0);
        const done = jsonEvents(resumed.stdout).pop()!;
        expect(Object.keys(done.report.finalOffsets as Record<string, number>).length).toBe(2);
        // The links resumed from their checkpoints (partial resyncs), not a second full sync.
        expect(resumed.stdout).toMatch(/resuming 2 shard links from their checkpoints/);
        await new Promise((res) => setTimeout(res, 200));
      } finally {
        app = await load.stop();
      }
      expect(app.switches).toBe(1);
      assertNoLostWrites(app, await keyDigests([target]), await readCounters(target.client(), app));
      const before = await keyDigests(source.masters);
      const after = withoutLaterWrites(await keyDigests([target], true));
      expect(diffBySlot(before, after)).toEqual([]);
      await assertWritable(source.masters);
    } finally {
      await Promise.all([source.stop(), target.stop()]);
    }
  }, 180_000);
});

/** repl-backlog-size of a server, on a connection closed right after (the drain waits for every client). */
async function backlogOf(s: TestServer): Promise<string> {
  const c = new Redis({ port: s.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    return ((await c.config('GET', 'repl-backlog-size')) as string[])[1];
  } finally {
    c.disconnect();
  }
}

/** keyDigests on cluster replicas (READONLY first, so key commands are answered there). */
async function replicaDigests(replicas: TestServer[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of replicas) {
    const c = r.client();
    try {
      await c.call('READONLY');
      let cursor = '0';
      do {
        const [next, keys] = await c.scan(cursor, 'COUNT', 1000);
        cursor = next;
        for (const k of keys) {
          const [t, ttl, d] = await Promise.all([c.type(k), c.pttl(k), c.call('DEBUG', 'DIGEST-VALUE', k)]);
          out.set(k, `${t}/${Number(ttl) > 0 ? 'ttl' : '-'}/${String(d)}`);
        }
      } while (cursor !== '0');
    } finally {
      c.disconnect();
    }
  }
  return out;
}
