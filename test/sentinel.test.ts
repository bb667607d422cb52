/**
 * Sentinel-managed masters (issue 13): a master with a replica and 3 local Sentinels on loopback.
 * - native: ferry run sends SENTINEL FAILOVER to the target; engine: REMOVE/MONITOR/SET on every
 *   Sentinel (with auth-pass, the master has a password). A Sentinel-aware ioredis client writes
 *   through the migration: 0 acknowledged writes lost, and it is never reconfigured.
 * - afterwards every Sentinel names the new master with the recorded settings, and none reports it
 *   down for more than twice down-after-milliseconds (4 s here, so the wait is bounded: 9 s).
 * - a Sentinel killed before the repoint step: exit 4; resume (after it is back) finishes.
 * The plan, preflight's refusals and `ferry sync` following a failover: sentinel-plan-sync.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ferry, jsonEvents, spawnFerry } from './helpers/cli.js';
import type { TestServer } from './helpers/redis-server.js';
import { missingKeys } from './helpers/write-load.js';
import { type SentinelGroup, sentinelMaster, startSentinelLoad, waitFor } from './helpers/sentinel.js';
import { sentinelFixture } from './helpers/sentinel-fixture.js';

const { dir, cleanup, group, server } = sentinelFixture();

let n = 0;
const statePath = () => join(dir, `s${n++}.json`);

/** Every Sentinel names `addr`, with the group's settings, and none sees it down for `ms`. */
async function expectSentinelsOn(g: SentinelGroup, t: TestServer, ms: number): Promise<void> {
  const addr = `127.0.0.1:${t.port}`;
  await waitFor(async () => (await g.masters()).every((m) => m === addr), 15_000, `every Sentinel to name ${addr}`);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    for (let i = 0; i < g.sentinels.length; i++) {
      const m = await sentinelMaster(g.sentinel(i), g.name);
      expect(`${m.ip}:${m.port}`).toBe(addr);
      expect(m.flags, `Sentinel ${i} flags`).toBe('master');
      expect(Number(m.quorum)).toBe(g.settings.quorum);
      expect(Number(m['down-after-milliseconds'])).toBe(g.settings.downAfterMs);
      expect(Number(m['failover-timeout'])).toBe(g.settings.failoverTimeoutMs);
      expect(Number(m['parallel-syncs'])).toBe(g.settings.parallelSyncs);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  // ...and not even briefly: no Sentinel logged +sdown for the new master.
  for (const s of g.sentinels) {
    const log = readFileSync(join(s.dir, 'redis.log'), 'utf8');
    expect(log).not.toMatch(new RegExp(`\\+sdown master ${g.name} 127\\.0\\.0\\.1 ${t.port}\\b`));
  }
}

async function role(c: Redis): Promise<unknown[]> {
  return (await c.call('ROLE')) as unknown[];
}

describe('ferry run from a Sentinel-managed master', { timeout: 120_000 }, () => {
  it('native: SENTINEL FAILOVER to the target; 0 acknowledged writes lost; every Sentinel follows with its settings', async () => {
    const g = await group();
    const target = await server();
    const load = startSentinelLoad(g);
    try {
      await waitFor(async () => load.ackedCount() > 100, 10_000, 'the application to write');
      const state = statePath();
      const r = await ferry(['run', '--from', g.url(), '--to', target.url, '--sync', 'native', '--yes', '--json', '--state', state, '--pause-timeout', '3000'], { cwd: dir, timeoutMs: 90_000 });
      expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
      const events = jsonEvents(r.stdout);
      expect(events.filter((e) => e.event === 'step.done').map((e) => e.step)).toEqual(['preflight', 'provision', 'backlog', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'sentinel-prepare', 'fence', 'sentinel', 'promote', 'final-check', 'reparent', 'retire']);
      const done = events.find((e) => e.event === 'step.done' && e.step === 'sentinel');
      expect(done?.detail?.failoverOn).toMatch(/^127\.0\.0\.1:\d+$/);
      await new Promise((r) => setTimeout(r, 500));
      const report = await load.stop();
      const t = target.client();
      expect(report.acked.length).toBeGreaterThan(200);
      expect(await missingKeys(t, report.acked)).toEqual([]);
      expect((await role(t))[0]).toBe('master');
      // Sentinel reconfigured the other replica; the old master follows the new one.
      const old = g.master.client();
      expect((await role(old)).slice(0, 3)).toEqual(['slave', '127.0.0.1', target.port]);
      const other = g.replicas[0].client();
      expect((await role(other)).slice(0, 3)).toEqual(['slave', '127.0.0.1', target.port]);
      // replica-priority 0 was only for the failover.
      expect(await other.call('CONFIG', 'GET', 'replica-priority')).toEqual(['replica-priority', '100']);
      // The state file records each Sentinel's settings, and no secret.
      const st = JSON.parse(readFileSync(state, 'utf8'));
      expect(st.facts.sentinel.views).toHaveLength(3);
      for (const v of st.facts.sentinel.views) expect(v.settings).toEqual({ quorum: 2, 'down-after-milliseconds': 4000, 'failover-timeout': 20000, 'parallel-syncs': 1 });
      await expectSentinelsOn(g, target, 2 * g.settings.downAfterMs + 1000);
    } finally {
      await load.stop();
    }
  });

  it('engine: REMOVE/MONITOR/SET on every Sentinel, auth-pass kept; 0 acknowledged writes lost', async () => {
    const g = await group({ password: 'sekret' });
    const target = await server(['--requirepass', 'sekret']);
    const load = startSentinelLoad(g);
    try {
      await waitFor(async () => load.ackedCount() > 100, 10_000, 'the application to write');
      const state = statePath();
      const r = await ferry(['run', '--from', g.url(), '--to', target.url, '--yes', '--json', '--state', state, '--pause-timeout', '3000'], { cwd: dir, timeoutMs: 90_000 });
      expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
      const done = jsonEvents(r.stdout).find((e) => e.event === 'step.done' && e.step === 'sentinel');
      expect(Object.values(done?.detail?.sentinels ?? {})).toEqual(['repointed', 'repointed', 'repointed']);
      await new Promise((r) => setTimeout(r, 500));
      const report = await load.stop();
      const t = target.client();
      expect(report.acked.length).toBeGreaterThan(200);
      expect(await missingKeys(t, report.acked)).toEqual([]);
      expect(readFileSync(state, 'utf8')).not.toContain('sekret');
      expect(r.stdout + r.stderr).not.toContain('sekret');
      const st = JSON.parse(readFileSync(state, 'utf8'));
      for (const v of st.facts.sentinel.views) expect(v.authPassPresent).toBe(true);
      // Reparented: the old replica and the old master follow the new master.
      expect((await role(g.replicas[0].client())).slice(0, 3)).toEqual(['slave', '127.0.0.1', target.port]);
      expect((await role(g.master.client())).slice(0, 3)).toEqual(['slave', '127.0.0.1', target.port]);
      // Without auth-pass the Sentinels would see the new master down (redis/redis #9183).
      await expectSentinelsOn(g, target, 2 * g.settings.downAfterMs + 1000);
    } finally {
      await load.stop();
    }
  });

  it('a Sentinel killed before the repoint step: exit 4; resume, once it is back, finishes', async () => {
    // The backlog holds the writes the old master takes while ferry is stopped (resume: +CONTINUE).
    const g = await group({ masterArgs: ['--repl-backlog-size', '64mb'] });
    const target = await server();
    const load = startSentinelLoad(g);
    try {
      await waitFor(async () => load.ackedCount() > 100, 10_000, 'the application to write');
      const state = statePath();
      // The fence holds the pause 1 s: the Sentinel dies then, between sentinel-prepare and sentinel.
      // --backlog keep: the test sized the backlog itself (64 MB above).
      const child = spawnFerry(['run', '--from', g.url(), '--to', target.url, '--yes', '--json', '--state', state, '--pause-timeout', '3000', '--backlog', 'keep'], { cwd: dir, env: { FERRY_TEST_FENCE_HOLD_MS: '1000' } });
      let out = '';
      let killed = false;
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (!killed && out.includes('old master paused')) {
          killed = true;
          void g.killSentinel(2);
        }
      });
      const r = await child;
      expect(killed, String(r.stderr)).toBe(true);
      expect(r.exitCode, String(r.stderr)).toBe(4);
      const failed = jsonEvents(String(r.stdout)).find((e) => e.event === 'failed');
      expect(failed?.step).toBe('sentinel');
      expect(failed?.error).toMatch(new RegExp(`Sentinel 127\\.0\\.0\\.1:${g.sentinels[2].port} \\(.*\\) cannot be reached`));
      expect(failed?.resume).toBe(`ferry resume --state ${state}`);
      await g.restartSentinel(2);
      const resumed = await ferry(['resume', '--state', state, '--yes', '--json'], { cwd: dir, timeoutMs: 60_000 });
      expect(resumed.code, resumed.stderr).toBe(0);
      const starts = jsonEvents(resumed.stdout).filter((e) => e.event === 'step.start').map((e) => e.step);
      expect(starts).toEqual(['fence', 'sentinel', 'promote', 'final-check', 'reparent', 'retire']);
      await new Promise((r) => setTimeout(r, 500));
      const report = await load.stop();
      expect(await missingKeys(target.client(), report.acked)).toEqual([]);
      await waitFor(async () => (await g.masters()).every((m) => m === `127.0.0.1:${target.port}`), 15_000, 'every Sentinel to name the target');
    } finally {
      await load.stop();
    }
  });
});
