/**
 * The cutover's edges: other replicas follow the new master, a straggler that never leaves the old
 * master is reported and then fails loudly instead of losing writes, the retire policies, and a
 * failing repoint hook (exit 4, resumable, the old master still the master and not paused).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ferry, fill, jsonEvents } from './helpers/cli.js';
import { startRedis, type TestServer } from './helpers/redis-server.js';

const live: TestServer[] = [];
const dir = mkdtempSync(join(tmpdir(), 'ferry-cutover-'));
afterEach(async () => {
  await Promise.all(live.splice(0).map((s) => s.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function pair(): Promise<[TestServer, TestServer]> {
  const [a, b] = await Promise.all([startRedis(), startRedis()]);
  live.push(a, b);
  const c = a.client();
  await fill(c, 100);
  c.disconnect();
  return [a, b];
}

const role = async (s: TestServer) => ((await s.client().call('ROLE')) as unknown[]) as [string, ...unknown[]];
let n = 0;
const run = (args: string[]) => ferry(['run', '--yes', '--json', '--state', join(dir, `s${n++}.json`), ...args], { cwd: dir });

describe('cutover', () => {
  it('reparents the other replicas of the old master to the new one', async () => {
    const [source, target] = await pair();
    const other = await startRedis();
    live.push(other);
    await other.client().call('REPLICAOF', source.host, String(source.port));
    for (let i = 0; i < 100 && (await role(other))[3] !== 'connected'; i++) await new Promise((r) => setTimeout(r, 50));
    const r = await run(['--from', source.url, '--to', target.url, '--repoint', 'none']);
    expect(r.code, r.stderr).toBe(0);
    const done = jsonEvents(r.stdout).find((e) => e.event === 'step.done' && e.step === 'reparent');
    expect(done?.detail).toMatchObject({ replicas: 1, moved: 1 });
    const o = await role(other);
    expect(o[0]).toBe('slave');
    expect(o[2]).toBe(target.port);
  });

  it.each(['engine', 'native'])('fence (%s): the PINGs the paused master still sends its replicas are waited for, not missed', async (sync) => {
    const [source, target] = await Promise.all([startRedis({ args: ['--repl-ping-replica-period', '1'] }), startRedis()]);
    live.push(source, target);
    // The fence holds the pause 2.5 s before it compares offsets: the master sends 2-3 PINGs.
    const r = await ferry(['run', '--yes', '--json', '--state', join(dir, `s${n++}.json`), '--from', source.url, '--to', target.url, '--repoint', 'none', '--sync', sync, '--pause-timeout', '10000'], { cwd: dir, env: { FERRY_TEST_FENCE_HOLD_MS: '2500' } });
    expect(r.code, r.stderr).toBe(0);
    const finalOffset = jsonEvents(r.stdout).find((e) => e.event === 'step.done' && e.step === 'fence')?.detail?.finalOffset as number;
    // Only PINGs (14 bytes each) moved the offset: nothing was written.
    expect(finalOffset).toBeGreaterThan(0);
    expect(finalOffset % 14).toBe(0);
    expect((await role(target))[0]).toBe('master');
  });

  it('reports a straggler after the drain timeout; its later write fails loudly (READONLY)', async () => {
    const [source, target] = await pair();
    const straggler = source.client();
    await straggler.client('SETNAME', 'legacy-worker');
    await straggler.set('before', '1');
    const r = await run(['--from', source.url, '--to', target.url, '--repoint', 'exec:true', '--drain-timeout', '300']);
    expect(r.code, r.stderr).toBe(0);
    const warning = jsonEvents(r.stdout).find((e) => e.event === 'warning' && /still on the old master/.test(e.message));
    expect(warning?.message).toMatch(/name=legacy-worker/);
    // retire replica disconnected it (CLIENT KILL TYPE normal); its next write meets a replica
    await expect(straggler.set('after', '1')).rejects.toThrow();
    const t = target.client();
    expect(await t.get('before')).toBe('1');
  });

  it('--retire keep leaves the old master a writable master and warns', async () => {
    const [source, target] = await pair();
    const r = await run(['--from', source.url, '--to', target.url, '--repoint', 'none', '--retire', 'keep']);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonEvents(r.stdout).some((e) => e.event === 'warning' && /writes that still reach it are lost/.test(e.message))).toBe(true);
    expect((await role(source))[0]).toBe('master');
    expect(await source.client().set('k', 'v')).toBe('OK'); // not paused
    expect((await role(target))[0]).toBe('master');
  });

  it('--retire shutdown stops the old master', async () => {
    const [source, target] = await pair();
    const r = await run(['--from', source.url, '--to', target.url, '--repoint', 'none', '--retire', 'shutdown']);
    expect(r.code, r.stderr).toBe(0);
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(source.pid, 0);
      } catch {
        break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(() => process.kill(source.pid, 0)).toThrow();
    expect(await target.client().dbsize()).toBe(100);
  });

  it('a failing repoint hook fails the step (exit 4): old master still master, not paused; resumable', async () => {
    const [source, target] = await pair();
    const state = join(dir, 'hook-fail.json');
    const r = await ferry(['run', '--yes', '--state', state, '--from', source.url, '--to', target.url, '--repoint', 'exec:echo no route >&2; exit 7'], { cwd: dir });
    expect(r.code).toBe(4);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('ferry:'))).toEqual([
      expect.stringMatching(/^ferry: the repoint hook exited with 7 \(no route\); fix it, then resume$/),
    ]);
    expect((await role(source))[0]).toBe('master');
    expect(await source.client().set('still-writable', '1')).toBe('OK');
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    expect(saved.status).toBe('failed');
    expect(saved.steps.repoint.status).toBe('failed');
    expect(saved.steps['open-writes'].status).toBe('done');
  });

  it('a repoint hook that outlives --hook-timeout fails the step (exit 4)', async () => {
    const [source, target] = await pair();
    const r = await run(['--from', source.url, '--to', target.url, '--repoint', 'exec:sleep 20', '--hook-timeout', '300']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^ferry: the repoint hook did not finish within 300 ms/m);
  });
});
