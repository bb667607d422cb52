import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ferry, snapshot } from './helpers/cli.js';
import { startRedis, type TestServer } from './helpers/redis-server.js';
import { startTmux, type TmuxSession } from './helpers/tmux.js';

/** Keys and values, config and role of a server (what must not change when the operator aborts). */
async function state(s: TestServer) {
  const c = s.client();
  try {
    return await snapshot(c);
  } finally {
    c.disconnect();
  }
}

describe('wizard in a real terminal (tmux)', () => {
  let a: TestServer;
  let b: TestServer;
  let dir: string;
  let tty: TmuxSession | undefined;
  beforeEach(async () => {
    [a, b] = await Promise.all([startRedis(), startRedis()]);
    const c = a.client();
    await c.mset(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k:${i}`, `v${i}`])));
    c.disconnect();
    dir = mkdtempSync(join(tmpdir(), 'ferry-wizard-tty-'));
  });
  afterEach(async () => {
    tty?.kill();
    await Promise.all([a?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Answers every question: source a, attach target b, native, manual repoint, retire replica. */
  async function answer(t: TmuxSession) {
    await t.waitFor(/Source \(the old master\) URL:/);
    t.type(a.url);
    t.keys('Enter');
    await t.waitFor(/Redis 7[\d.]+ · master · 200 keys/);
    await t.waitFor(/Target \(the new instance\):/);
    t.keys('Down');
    await t.waitFor(/❯ 2\. Attach to a running server/); // each key once the screen showed the last one
    t.keys('Enter');
    await t.waitFor(/Target URL:/);
    t.type(b.url);
    t.keys('Enter');
    await t.waitFor(/How should the data be replicated\?/);
    t.type('1'); // native, whatever the default is
    await t.waitFor(/❯ 1\. native/);
    t.keys('Enter');
    await t.waitFor(/How do your applications move/);
    t.keys('Enter');
    await t.waitFor(/the old master should:/);
    t.keys('Enter');
    await t.waitFor(/Run this migration now\? \(y\/N\)/, 30_000);
  }

  it('answers the questions, shows the plan, confirms, runs every step and exits 0', async () => {
    const t = (tty = startTmux(dir, `node '${BIN}'`));
    await answer(t);
    const plan = t.screen();
    expect(plan).toContain(`Plan  redis://127.0.0.1:${a.port} → redis://127.0.0.1:${b.port}  (sync: native)`);
    expect(plan).toMatch(new RegExp(`target +REPLICAOF 127\\.0\\.0\\.1 ${a.port}`));
    t.type('y');
    await t.waitFor(/Clients still connected to the old master: 0[\s\S]*continue when done\?/, 40_000);
    t.type('y');
    const end = await t.waitFor(/Migration complete\./, 40_000);
    for (const step of ['preflight', 'provision', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'fence', 'promote', 'final-check', 'reparent', 'retire']) {
      expect(end).toMatch(new RegExp(`✔ ${step} `));
    }
    expect(await t.exitCode()).toBe(0);
    const after = await state(b);
    expect(Object.keys(after.data)).toHaveLength(200);
    expect(after).toMatchObject({ role: 'master', data: { 'k:1': 'v1' } });
    expect((await state(a)).role).toBe('slave'); // --retire replica: the rollback copy
  });

  it('Ctrl-C at the first prompt leaves at once: exit 130, one line, nothing written', async () => {
    const t = (tty = startTmux(dir, `node '${BIN}'`));
    await t.waitFor(/Source \(the old master\) URL:/);
    t.keys('C-c');
    expect(await t.exitCode(5000)).toBe(130);
    const screen = t.screen();
    expect(screen).toContain('Aborted: nothing was changed.');
    expect(screen).not.toMatch(/Abort\?|\(y\/N\)/);
    expect(existsSync(join(dir, '.ferry'))).toBe(false);
  });

  it('Ctrl-C at the confirmation leaves at once: exit 130, nothing changed on either server', async () => {
    const before = [await state(a), await state(b)];
    const t = (tty = startTmux(dir, `node '${BIN}'`));
    await answer(t);
    t.keys('C-c');
    expect(await t.exitCode(5000)).toBe(130);
    expect(t.screen()).toContain('Aborted: nothing was changed.');
    expect([await state(a), await state(b)]).toEqual(before);
  });

  it('Ctrl-C twice during the run leaves (exit 130), names resume and rollback, and the rollback works', async () => {
    const t = (tty = startTmux(dir, `node '${BIN}'`));
    await answer(t);
    t.type('y');
    await t.waitFor(/continue when done\?/, 40_000);
    t.keys('C-c');
    await t.waitFor(/Abort the migration\?.*\(Ctrl-C again leaves\)/);
    t.keys('C-c');
    expect(await t.exitCode(10_000)).toBe(130);
    const screen = t.screen();
    const statePath = /To continue: ferry resume --state (\S+)/.exec(screen)?.[1] as string;
    expect(statePath).toBeTruthy();
    expect(screen).toContain(`Where it stands: ferry status --state ${statePath}`);
    expect(screen).toContain(`To undo: ferry rollback --state ${statePath}`);
    // The source takes writes at once and is still a master; the target still replicates from it.
    const c = a.client();
    await c.set('after-leave', '1');
    expect(/role:(\w+)/.exec(await c.info('replication'))?.[1]).toBe('master');
    c.disconnect();
    expect((await state(b)).role).toBe('slave');
    const r = await ferry(['rollback', '--state', statePath, '--yes'], { cwd: dir, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect((await state(b)).role).toBe('master');
  });

  it('Ctrl-C during the run aborts cleanly: exit 130, source not paused, state saved and resumable', async () => {
    const t = (tty = startTmux(dir, `node '${BIN}'`));
    await answer(t);
    t.type('y');
    await t.waitFor(/continue when done\?/, 40_000);
    t.keys('C-c');
    await t.waitFor(/Abort the migration\? The source is unpaused and the state saved\./);
    t.type('y');
    const screen = await t.waitFor(/To continue: ferry resume --state (\S+)/, 20_000);
    expect(await t.exitCode()).toBe(130);
    // The source still takes writes at once (no CLIENT PAUSE left behind) and is still a master.
    const c = a.client();
    await c.set('after-abort', '1');
    expect(/role:(\w+)/.exec(await c.info('replication'))?.[1]).toBe('master');
    c.disconnect();
    const statePath = /To continue: ferry resume --state (\S+)/.exec(screen)?.[1] as string;
    const r = await ferry(['resume', '--state', statePath, '--yes'], { cwd: dir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const after = await state(b);
    expect(Object.keys(after.data)).toHaveLength(201);
    expect(after).toMatchObject({ role: 'master', data: { 'k:1': 'v1', 'after-abort': '1' } });
  });

  it('without a terminal, ferry alone prints the help', async () => {
    const r = await ferry([], {});
    expect(r.code).toBe(0);
    const help = r.stdout + r.stderr;
    expect(help).toMatch(/^Usage: ferry \[options\] \[command\]/);
    expect(help).toMatch(/^ {2}demo /m);
  });
});
