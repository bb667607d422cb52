/**
 * Resume: ferry SIGKILLed at every step boundary (test-only FERRY_TEST_KILL_AFTER), then
 * `ferry resume --state F --yes` finishes the migration and no acknowledged write is lost.
 * SIGINT during the cutover: exit 130, the old master is not left paused, the state is saved.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ferry, fill, jsonEvents, spawnFerry } from './helpers/cli.js';
import { startRedis } from './helpers/redis-server.js';
import { missingKeys, pointMasterFile, startWriteLoad } from './helpers/write-load.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  // The source's backlog must cover the time ferry is down (SIGKILL, then a new process): 64 MB is
  // tens of seconds of this 2-lane load, so resume gets +CONTINUE whatever the machine's speed.
  const [source, target] = await Promise.all([startRedis({ args: ['--repl-backlog-size', '64mb'] }), startRedis()]);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-resume-'));
  dirs.push(dir);
  const seed = source.client();
  await fill(seed, 200);
  seed.disconnect();
  const masterFile = join(dir, 'master');
  pointMasterFile(masterFile, source.host, source.port);
  const hook = `exec:printf '%s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${masterFile}.tmp && mv ${masterFile}.tmp ${masterFile}`;
  const statePath = join(dir, 'state.json');
  const args = ['run', '--from', source.url, '--to', target.url, '--repoint', hook, '--yes', '--json', '--state', statePath, '--pause-timeout', '5000', '--drain-timeout', '5000'];
  const load = startWriteLoad({ masterFile, lanes: 2, maxMs: 60_000 });
  const stop = async () => {
    await Promise.all([source.stop(), target.stop()]);
    rmSync(dir, { recursive: true, force: true }); // here, not only in afterAll: a timed-out test still gets here
  };
  return { source, target, dir, statePath, args, load, stop };
}

const BOUNDARIES = ['preflight', 'provision', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'fence', 'promote', 'final-check', 'reparent'];

describe('resume after SIGKILL', () => {
  it.each(BOUNDARIES)('killed right after %s: resume completes, no acknowledged write lost', async (boundary) => {
    const s = await setup();
    try {
      await new Promise((r) => setTimeout(r, 200));
      const killed = await ferry(s.args, { cwd: s.dir, env: { FERRY_TEST_KILL_AFTER: boundary } });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      const stored = JSON.parse(readFileSync(s.statePath, 'utf8'));
      expect(stored.steps[boundary].status).toBe('done');
      if (boundary === 'converge') {
        const status = await ferry(['status', '--state', s.statePath], { cwd: s.dir });
        expect(status.code).toBe(0);
        expect(status.stdout).toMatch(/^Run running: /);
        expect(status.stdout).toMatch(/\[✓\] converge/);
        expect(status.stdout).toMatch(/\[ \] open-writes/);
        expect(status.stdout).toContain(`Continue with: ferry resume --state ${s.statePath}`);
        const json = JSON.parse((await ferry(['status', '--state', s.statePath, '--json'], { cwd: s.dir })).stdout);
        expect(json.version).toBe(1);
        expect(json.steps.replicate.status).toBe('done');
      }
      const resumed = await ferry(['resume', '--state', s.statePath, '--yes', '--json'], { cwd: s.dir });
      expect(resumed.code, resumed.stderr).toBe(0);
      const events = jsonEvents(resumed.stdout);
      expect(events[events.length - 1].event).toBe('done');
      // steps done before the kill are not done again
      const rerun = events.filter((e) => e.event === 'step.start').map((e) => e.step);
      expect(rerun).not.toContain(boundary);
      await new Promise((r) => setTimeout(r, 200));
      const report = await s.load.stop();
      expect(report.switches).toBe(1);
      const t = s.target.client();
      expect(await missingKeys(t, report.acked)).toEqual([]);
      expect(await t.exists('seed:0', 'seed:199')).toBe(2);
      expect(((await t.call('ROLE')) as string[])[0]).toBe('master');
      expect(JSON.parse(readFileSync(s.statePath, 'utf8')).status).toBe('done');
    } finally {
      await s.load.stop();
      await s.stop();
    }
  });
});

describe('SIGINT during the cutover', () => {
  it('exits 130, unpauses the old master, saves the state; resume then completes', async () => {
    const s = await setup();
    try {
      const child = spawnFerry([...s.args, '--pause-timeout', '20000'], { cwd: s.dir, env: { FERRY_TEST_FENCE_HOLD_MS: '30000' } });
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`ferry never paused the old master:\n${out}`)), 30_000);
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('old master paused')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      child.kill('SIGINT');
      const r = await child;
      expect(r.exitCode, String(r.stderr)).toBe(130);
      const events = jsonEvents(String(r.stdout));
      expect(events[events.length - 1]).toMatchObject({ event: 'failed', exitCode: 130 });
      const state = JSON.parse(readFileSync(s.statePath, 'utf8'));
      expect(state.status).toBe('interrupted');
      expect(state.steps.fence.status).toBe('failed');
      // Not paused: a write on the old master is answered at once (a pause would hold it ~20 s).
      const c = s.source.client();
      const started = Date.now();
      await c.set('after-sigint', '1');
      expect(Date.now() - started).toBeLessThan(5000);
      c.disconnect();
      const resumed = await ferry(['resume', '--state', s.statePath, '--yes', '--json'], { cwd: s.dir });
      expect(resumed.code, resumed.stderr).toBe(0);
      await new Promise((res) => setTimeout(res, 200));
      const report = await s.load.stop();
      const t = s.target.client();
      expect(await missingKeys(t, [...report.acked, 'after-sigint'])).toEqual([]);
    } finally {
      await s.load.stop();
      await s.stop();
    }
  });
});

describe('rollback', () => {
  it('undoes a run stopped before promotion: target detached with replica-read-only restored, source untouched', async () => {
    const s = await setup();
    try {
      await s.load.stop();
      // replica-read-only is native mode's business (the engine's target is a master throughout).
      const killed = await ferry([...s.args.map((a) => (a.startsWith('exec:') ? 'none' : a)), '--sync', 'native'], { cwd: s.dir, env: { FERRY_TEST_KILL_AFTER: 'open-writes' } });
      expect(killed.signal).toBe('SIGKILL');
      const t = s.target.client();
      expect(((await t.call('CONFIG', 'GET', 'replica-read-only')) as string[])[1]).toBe('no');
      const r = await ferry(['rollback', '--state', s.statePath, '--yes', '--json'], { cwd: s.dir });
      expect(r.code, r.stderr).toBe(0);
      expect(jsonEvents(r.stdout).pop()).toMatchObject({ event: 'done', report: { undone: ['open-writes', 'replicate', 'backlog'] } });
      expect(((await t.call('CONFIG', 'GET', 'replica-read-only')) as string[])[1]).toBe('yes');
      expect(((await t.call('ROLE')) as string[])[0]).toBe('master');
      const src = s.source.client();
      expect(((await src.call('ROLE')) as string[])[0]).toBe('master');
      expect(await src.set('writable', '1')).toBe('OK');
      expect(JSON.parse(readFileSync(s.statePath, 'utf8')).status).toBe('rolled-back');
      const again = await ferry(['resume', '--state', s.statePath, '--yes'], { cwd: s.dir });
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/was rolled back; start a new run/);
    } finally {
      await s.load.stop();
      await s.stop();
    }
  });

  it('refuses after promotion, naming the way back', async () => {
    const s = await setup();
    try {
      await s.load.stop();
      const killed = await ferry(s.args.map((a) => (a.startsWith('exec:') ? 'none' : a)), { cwd: s.dir, env: { FERRY_TEST_KILL_AFTER: 'promote' } });
      expect(killed.signal).toBe('SIGKILL');
      const r = await ferry(['rollback', '--state', s.statePath, '--yes'], { cwd: s.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/already promoted; to go back, migrate again/);
    } finally {
      await s.load.stop();
      await s.stop();
    }
  });
});

describe('a full resync while the target takes writes', () => {
  it('is caught by the fence (exit 4) instead of passing silently; a second resume accepts it', async () => {
    const s = await setup();
    try {
      await new Promise((r) => setTimeout(r, 200));
      // Native mode: the target's own replica link resyncs. (The engine refuses to flush a target
      // that takes writes: test/engine/sync-link.test.ts.)
      const killed = await ferry([...s.args, '--sync', 'native'], { cwd: s.dir, env: { FERRY_TEST_KILL_AFTER: 'repoint' } });
      expect(killed.signal).toBe('SIGKILL');
      // The load now writes to the target. Drop the link and outrun a tiny backlog: the target's
      // reconnect cannot continue and does a full resync, replacing what was written on it.
      // (The target is stopped with SIGSTOP, by its pid, while the backlog is overrun.)
      const src = s.source.client();
      await src.call('CONFIG', 'SET', 'repl-backlog-size', '16384');
      process.kill(s.target.pid, 'SIGSTOP');
      try {
        await src.call('CLIENT', 'KILL', 'TYPE', 'replica');
        for (let i = 0; i < 16; i++) await src.set(`big:${i}`, 'x'.repeat(1 << 16)); // 1 MB >> 16 KB backlog
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        process.kill(s.target.pid, 'SIGCONT');
      }
      const fullSyncs = async () => Number(/sync_full:(\d+)/.exec(await src.info('stats'))![1]);
      for (let i = 0; i < 100 && (await fullSyncs()) < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await fullSyncs()).toBe(2);
      const first = await ferry(['resume', '--state', s.statePath, '--yes'], { cwd: s.dir });
      expect(first.code).toBe(4);
      expect(first.stderr).toMatch(/^ferry: the target did a full resync after it began taking writes/m);
      expect(((await src.call('ROLE')) as string[])[0]).toBe('master');
      const second = await ferry(['resume', '--state', s.statePath, '--yes'], { cwd: s.dir });
      expect(second.code, second.stderr).toBe(0);
      // The loss ferry reported is real: writes acknowledged by the target before the resync are gone.
      const report = await s.load.stop();
      expect((await missingKeys(s.target.client(), report.acked)).length).toBeGreaterThan(0);
    } finally {
      await s.load.stop();
      await s.stop();
    }
  }, 120_000); // several ferry runs and a full resync: give a loaded machine room
});
