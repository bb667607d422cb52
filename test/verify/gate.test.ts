/**
 * The cutover gate in `ferry run`: an injected difference stops the run at step verify (exit 5)
 * before any client moves, with the source unchanged and not paused and the state saved; after
 * the fix `ferry resume` completes, and the final check is in the cutover report. A state file
 * from before the gate existed resumes without it. A hot key still written in every round is
 * compared with writes paused instead of being reported.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { ferry, jsonEvents } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const servers: TestServer[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup(keys = 3000) {
  const [source, target] = await Promise.all([startRedis(), startRedis()]);
  servers.push(source, target);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-gate-'));
  dirs.push(dir);
  const s = source.client();
  const p = s.pipeline();
  for (let i = 0; i < keys; i++) p.set(`k:${i}`, `v${i}`);
  p.hset('h', 'a', '1');
  await p.exec();
  const marker = join(dir, 'hook-ran');
  const statePath = join(dir, 'state.json');
  const args = ['run', '--from', source.url, '--to', target.url, '--repoint', `exec:touch ${marker}`, '--yes', '--json', '--state', statePath, '--drain-timeout', '2000', '--pause-timeout', '8000'];
  return { source, target, s, t: target.client(), dir, marker, statePath, args };
}

/** What must not change on the source: its config, role and key count. */
async function sourceState(c: Redis): Promise<unknown> {
  const flat = (await c.call('CONFIG', 'GET', '*')) as string[];
  return { config: flat.join('\n'), role: ((await c.call('ROLE')) as string[])[0], keys: await c.dbsize() };
}

/** True when a write to the source is answered at once (the source is not paused). */
async function writesFlow(c: ReturnType<TestServer['client']>): Promise<boolean> {
  const t0 = Date.now();
  await c.set('probe:unpaused', '1');
  await c.del('probe:unpaused');
  return Date.now() - t0 < 500;
}

describe('the cutover gate (ferry run --verify)', () => {
  it('--verify full with an injected difference stops before repoint (exit 5), source unpaused; resume after the fix completes', async () => {
    const e = await setup();
    // Stop right after converge, put a key on the target that the source does not have.
    const first = await ferry([...e.args, '--verify', 'full'], { env: { FERRY_TEST_KILL_AFTER: 'converge' } });
    expect(first.signal).toBe('SIGKILL');
    await e.t.set('not:on:source', 'x');
    await e.t.hset('h', 'a', 'changed');
    e.s.disconnect();
    const before = await sourceState(e.source.client());
    const gated = await ferry(['resume', '--state', e.statePath, '--yes', '--json']);
    expect(gated.code, gated.stderr).toBe(5);
    expect(gated.stderr).toMatch(/ferry: the cutover gate \(--verify full\) found 2 keys differ after 3 rechecks \(1 extra, 1 value\); no client was moved/);
    const events = jsonEvents(gated.stdout);
    const failed = events.at(-1)!;
    expect(failed).toMatchObject({ event: 'failed', exitCode: 5, step: 'verify', resume: `ferry resume --state ${e.statePath}` });
    expect(events.filter((x) => x.event === 'warning' && /^verify: db0 /.test(x.message)).map((x) => x.message).sort()).toEqual([
      'verify: db0 "h" value: hash: 1 field with a different value',
      'verify: db0 "not:on:source" extra: not on the source',
    ]);
    expect(existsSync(e.marker)).toBe(false); // the repoint hook never ran
    const state = JSON.parse(readFileSync(e.statePath, 'utf8'));
    expect(state.steps.verify.status).toBe('failed');
    expect(state.steps.verify.detail.totalDifferences).toBe(2);
    expect(state.steps.repoint.status).toBe('pending');
    const probe = e.source.client();
    expect(await writesFlow(probe)).toBe(true);
    expect(await sourceState(e.source.client())).toEqual(before);
    // The fix: the target matches again; resume runs the gate again and completes.
    await e.t.del('not:on:source');
    await e.t.hset('h', 'a', '1');
    const done = await ferry(['resume', '--state', e.statePath, '--yes', '--json']);
    expect(done.code, done.stderr).toBe(0);
    const report = jsonEvents(done.stdout).at(-1)!.report;
    expect(report.verify).toMatchObject({ mode: 'full', agree: true, totalDifferences: 0 });
    expect(report.verify.checked.source).toBe(3001);
    expect(report.finalCheck).toMatchObject({ mode: 'sample', agree: true });
    expect(existsSync(e.marker)).toBe(true);
  });

  it('default --verify sample: the run completes with the gate and the final check in the report; --verify off skips both', async () => {
    const e = await setup(20_000);
    const r = await ferry(e.args);
    expect(r.code, r.stderr).toBe(0);
    const done = jsonEvents(r.stdout).at(-1)!;
    expect(done.report.verify).toMatchObject({ mode: 'sample', agree: true });
    expect(done.report.verify.sample[0].statement).toBe('0 differences in 10,000 keys: fewer than 0.03% differ, at 95%');
    expect(done.report.finalCheck).toMatchObject({ mode: 'sample', agree: true });
    // ferry's own connections (the preflight's permission probes included) never count as clients.
    expect(jsonEvents(r.stdout).filter((x) => x.event === 'warning' && /still on the old master.*name=ferry/.test(x.message))).toEqual([]);
    const human = await ferry(['status', '--state', e.statePath]);
    expect(human.stdout).toMatch(/\[✓\] verify/);
    const f = await setup(100);
    const off = await ferry([...f.args, '--verify', 'off']);
    expect(off.code, off.stderr).toBe(0);
    const offDone = jsonEvents(off.stdout).at(-1)!;
    expect(offDone.report.verify).toEqual({ mode: 'off' });
    expect(offDone.report.finalCheck).toBeUndefined();
  });

  it('a state file written before the gate existed resumes without it', async () => {
    const e = await setup(500);
    const first = await ferry(e.args, { env: { FERRY_TEST_KILL_AFTER: 'converge' } });
    expect(first.signal).toBe('SIGKILL');
    // What an older ferry wrote: no verify / final-check records, no verify in the spec.
    const old = JSON.parse(readFileSync(e.statePath, 'utf8'));
    delete old.steps.verify;
    delete old.steps['final-check'];
    delete old.spec.verify;
    delete old.spec.verifySample;
    writeFileSync(e.statePath, JSON.stringify(old));
    const status = await ferry(['status', '--state', e.statePath]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/\[ \] verify/);
    const done = await ferry(['resume', '--state', e.statePath, '--yes', '--json']);
    expect(done.code, done.stderr).toBe(0);
    const ev = jsonEvents(done.stdout);
    expect(ev.find((x) => x.event === 'step.done' && x.step === 'verify')?.detail).toEqual({ mode: 'off' });
    expect(ev.at(-1)!.event).toBe('done');
  });

  it('a hot key written in every round is compared with writes paused, not reported', async () => {
    const e = await setup(2000);
    const hot = e.source.client();
    let stop = false;
    const writes = (async () => {
      // NOTE: a failed INCR (retire disconnects the writer) waits a timer tick: a bare retry loop
      // of rejected promises would starve the event loop and hang the test.
      while (!stop) await hot.incr('hot:counter').catch(() => new Promise((r) => setTimeout(r, 5)));
    })();
    try {
      const r = await ferry([...e.args, '--verify', 'full', '--repoint', 'none']);
      expect(r.code, r.stderr).toBe(0);
      const gate = jsonEvents(r.stdout).at(-1)!.report.verify;
      expect(gate.agree).toBe(true);
      if (gate.rounds.differing.at(-1) > 0) expect(gate.pausedCheck).toMatchObject({ stillDiffering: 0 });
    } finally {
      stop = true;
      await writes;
    }
  });
});
