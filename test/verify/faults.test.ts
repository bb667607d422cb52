/**
 * Faults that trust depends on (loopback, bounded). In each, either the data ends identical — as
 * `ferry verify` and DEBUG DIGEST both say — or ferry stops with a clear error and the source is
 * untouched and writable:
 * - the target restarted mid-sync; the source restarted mid-sync (a new replid: a forced full
 *   resync, and the half-loaded target never passes for complete);
 * - the target reaching maxmemory during the load;
 * - SIGKILL during `ferry verify`, and during the run's gate.
 * (A repoint hook that hangs is in test/cutover.test.ts: exit 4, the old master a master, unpaused.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ferry, jsonEvents, spawnFerry } from '../helpers/cli.js';
import { digest, waitFor } from '../helpers/engine.js';
import { killPid, startRedis, type TestServer } from '../helpers/redis-server.js';

const DEBUG = ['--enable-debug-command', 'yes'];
const servers: TestServer[] = [];
afterAll(async () => {
  // Restarted servers first: an older incarnation's stop() removes the data dir they share.
  for (const s of [...servers].reverse()) await s.stop();
});

async function start(args: string[] = [], port?: number): Promise<TestServer> {
  const s = await startRedis({ args: [...DEBUG, ...args], port });
  servers.push(s);
  return s;
}

/** SIGKILL, and wait until the process is gone (its port free again). */
function kill(s: TestServer): Promise<void> {
  return killPid(s.pid);
}

/** Data that takes the engine a moment to load. */
async function populate(c: Redis, n: number): Promise<void> {
  await c.call('DEBUG', 'POPULATE', String(n), 'key', '100');
  await c.hset('h', 'a', '1', 'b', '2');
  await c.rpush('l', 'x', 'y');
  await c.set('ttl', 'v', 'PX', 3_600_000);
}

async function agree(source: TestServer, target: TestServer): Promise<void> {
  const v = await ferry(['verify', '--from', source.url, '--to', target.url, '--json']);
  expect(v.code, v.stderr).toBe(0);
  expect(jsonEvents(v.stdout).at(-1)!.report.agree).toBe(true);
  expect(await digest(target.client())).toBe(await digest(source.client()));
}

/** The source is a master, takes writes at once, and holds what it held. */
async function untouched(source: TestServer, keys: number, dig: string): Promise<void> {
  const c = source.client();
  expect(((await c.call('ROLE')) as string[])[0]).toBe('master');
  expect(await c.dbsize()).toBe(keys);
  expect(await digest(c)).toBe(dig);
  const t0 = Date.now();
  await c.set('probe:writable', '1');
  await c.del('probe:writable');
  expect(Date.now() - t0).toBeLessThan(500);
}

describe('faults during a sync', () => {
  it('the target restarted mid-sync: a clear error, the source untouched; the next sync ends identical', async () => {
    const source = await start();
    let target = await start();
    const s = source.client();
    await populate(s, 200_000);
    const keys = await s.dbsize();
    const before = await digest(s);
    const sync = spawnFerry(['sync', '--from', source.url, '--to', target.url, '--until-caught-up']);
    const t = target.client();
    await waitFor(async () => (await t.dbsize().catch(() => 0)) > 1000, 30_000, 'the load to begin');
    await kill(target);
    const r = await sync;
    expect(r.exitCode).toBe(4);
    expect(String(r.stderr).trim().split('\n').at(-1)).toMatch(/^ferry: (lost the target during the full sync \(target connection|target: target connection)/);
    await untouched(source, keys, before);
    target = await start([], target.port);
    const again = await ferry(['sync', '--from', source.url, '--to', target.url, '--until-caught-up'], { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    await agree(source, target);
  }, 120_000);

  it('the source restarted mid-sync (new replid): a forced full resync, never a half-loaded target passing for complete', async () => {
    let source = await start();
    const target = await start();
    const s = source.client();
    await populate(s, 300_000);
    await s.call('SAVE'); // what the restarted source loads
    const keys = await s.dbsize();
    const replid = /master_replid:(\w+)/.exec(await s.info('replication'))![1];
    const sync = spawnFerry(['sync', '--from', source.url, '--to', target.url, '--until-caught-up', '--json']);
    const t = target.client();
    await waitFor(async () => (await t.dbsize()) > 1000, 30_000, 'the load to begin');
    const dir = source.dir;
    await kill(source);
    // A half-loaded target: its checkpoint says the full sync is still loading.
    const cp = JSON.parse(String(await t.get('__ferry:sync:checkpoint')));
    expect(cp.phase).toBe('rdb');
    source = await start(['--dir', dir, '--dbfilename', 'dump.rdb'], source.port);
    const s2 = source.client();
    expect(await s2.dbsize()).toBe(keys);
    expect(/master_replid:(\w+)/.exec(await s2.info('replication'))![1]).not.toBe(replid);
    const r = await sync;
    expect(r.exitCode, `${String(r.stderr)}\n${String(r.stdout).slice(-3000)}`).toBe(0);
    const report = jsonEvents(String(r.stdout)).at(-1)!.report;
    expect(report.fullSyncs).toBe(2);
    expect(report.replid).not.toBe(replid);
    await agree(source, target);
  }, 120_000);

  it('the target reaches maxmemory during the load: a clear error, the source untouched and writable', async () => {
    const source = await start();
    const target = await start(['--maxmemory', '3mb', '--maxmemory-policy', 'noeviction']);
    const s = source.client();
    await populate(s, 100_000);
    const keys = await s.dbsize();
    const before = await digest(s);
    const r = await ferry(['sync', '--from', source.url, '--to', target.url, '--until-caught-up']);
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^ferry: .*OOM command not allowed when used memory > 'maxmemory'/);
    await untouched(source, keys, before);
    // ferry run says it before it starts, and fails the same way, the source never paused.
    const t = target.client();
    await t.flushall();
    const run = await ferry(['run', '--from', source.url, '--to', target.url, '--repoint', 'none', '--yes', '--json', '--state', join(source.dir, 'run.json')]);
    expect(run.code).toBe(4);
    expect(jsonEvents(run.stdout).some((e) => e.event === 'warning' && /maxmemory .* is below the source's used memory/.test(e.message))).toBe(true);
    await untouched(source, keys, before);
  }, 120_000);
});

describe('SIGKILL during verify', () => {
  it('ferry verify killed mid-way changes nothing on either side', async () => {
    const [source, target] = [await start(), await start()];
    await Promise.all([populate(source.client(), 200_000), populate(target.client(), 200_000)]);
    const [ds, dt] = [await digest(source.client()), await digest(target.client())];
    const v = spawnFerry(['verify', '--from', source.url, '--to', target.url, '--rate', '20000']);
    const s = source.client();
    await waitFor(async () => /name=ferry-verifysource/.test(String(await s.call('CLIENT', 'LIST'))), 20_000, 'verify to connect');
    await new Promise((r) => setTimeout(r, 500));
    v.kill('SIGKILL');
    const r = await v;
    expect(r.signal).toBe('SIGKILL');
    expect(await digest(source.client())).toBe(ds);
    expect(await digest(target.client())).toBe(dt);
    await waitFor(async () => !/name=ferry-verify/.test(String(await s.call('CLIENT', 'LIST'))), 10_000, 'its connections to close');
  });

  it('ferry run killed during its gate: the source is not paused; resume runs the gate again and completes', async () => {
    const [source, target] = [await start(), await start()];
    const s = source.client();
    await populate(s, 200_000);
    const statePath = join(source.dir, 'state.json');
    const run = spawnFerry(['run', '--from', source.url, '--to', target.url, '--verify', 'full', '--repoint', 'none', '--yes', '--json', '--state', statePath]);
    await waitFor(() => {
      try {
        return JSON.parse(readFileSync(statePath, 'utf8')).steps.verify.status === 'running';
      } catch {
        return false;
      }
    }, 60_000, 'the gate to start');
    await new Promise((r) => setTimeout(r, 300));
    run.kill('SIGKILL');
    expect((await run).signal).toBe('SIGKILL');
    const t0 = Date.now();
    await s.set('probe', '1');
    expect(Date.now() - t0).toBeLessThan(500);
    await s.del('probe');
    const resumed = await ferry(['resume', '--state', statePath, '--yes', '--json'], { timeoutMs: 120_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    const done = jsonEvents(resumed.stdout).at(-1)!;
    expect(done.report.verify).toMatchObject({ mode: 'full', agree: true });
    // retire replica made the old master a replica of the new one (and disconnected our client).
    const old = source.client();
    await waitFor(async () => /master_link_status:up/.test(await old.info('replication')) && /master_sync_in_progress:0/.test(await old.info('replication')), 30_000, 'the old master to follow');
    expect(await digest(old)).toBe(await digest(target.client()));
  }, 120_000);
});
