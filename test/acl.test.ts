/**
 * Least privilege: an engine migration and a native migration run with users that have exactly
 * the ACL rules README "Least privilege" lists (core/permissions.ts builds them, and README must
 * contain the same lines), `ferry verify` runs with a read-only user, and a missing rule is one line
 * naming the command and the rule to add, before anything changes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { aclRules, requiredPermissions, verifyPermissions } from '../src/core/permissions.js';
import { specFromFlags } from '../src/core/spec-from-flags.js';
import { ferry, fill, jsonEvents } from './helpers/cli.js';
import { waitFor } from './helpers/engine.js';
import { startRedis, type TestServer } from './helpers/redis-server.js';

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

const README = readFileSync(join(process.cwd(), 'README.md'), 'utf8');

/** The rules for a run with these flags, as README prints them. */
function rules(sync: 'engine' | 'native', side: 'source' | 'target'): string {
  const spec = specFromFlags({ from: 'redis://a:1', to: 'redis://b:2', sync, retire: 'replica' }, {});
  return aclRules(requiredPermissions(spec), side, sync);
}

async function user(c: Redis, name: string, ruleText: string): Promise<void> {
  await c.call('ACL', 'SETUSER', name, 'reset', 'on', '>pw', ...ruleText.split(' '));
}

async function pair(): Promise<{ source: TestServer; target: TestServer; s: Redis; t: Redis }> {
  const [source, target] = await Promise.all([startRedis(), startRedis()]);
  servers.push(source, target);
  return { source, target, s: source.client(), t: target.client() };
}

const url = (srv: TestServer, name: string) => `redis://${name}:pw@127.0.0.1:${srv.port}`;

describe('least privilege', () => {
  it('README lists the exact rules ferry checks, per sync mode and side', () => {
    for (const sync of ['engine', 'native'] as const) {
      for (const side of ['source', 'target'] as const) expect(README).toContain(`ACL SETUSER ferry-${side === 'source' ? 'src' : 'dst'} on >PASSWORD ${rules(sync, side)}`);
    }
    expect(README).toContain(`ACL SETUSER ferry-verify on >PASSWORD ${aclRules(verifyPermissions(), 'source')}`);
  });

  it.each(['engine', 'native'] as const)('a %s migration runs with exactly those users', async (sync) => {
    const { source, target, s, t } = await pair();
    await fill(s, 500);
    await s.hset('h', 'a', '1');
    await user(s, 'ferry-src', rules(sync, 'source'));
    await user(t, 'ferry-dst', rules(sync, 'target'));
    s.disconnect();
    const r = await ferry(['run', '--from', url(source, 'ferry-src'), '--to', url(target, 'ferry-dst'), '--sync', sync, '--repoint', 'none', '--yes', '--json', '--verify', 'full', '--state', join(source.dir, 'state.json')]);
    expect(r.code, r.stderr).toBe(0);
    const done = jsonEvents(r.stdout).at(-1)!;
    expect(done.report.verify).toMatchObject({ agree: true, totalDifferences: 0 });
    expect(await t.dbsize()).toBe(501);
    // retire replica: the old master follows the new one, authenticated as the target user.
    const old = source.client();
    await waitFor(async () => /master_link_status:up/.test(await old.info('replication')), 20_000, 'the old master to follow the new one');
  });

  it('a missing rule: one line naming the command and the rule, before anything changes', async () => {
    const { source, target, s, t } = await pair();
    await fill(s, 100);
    await user(s, 'ferry-src', rules('engine', 'source').replace(' +client|pause', ''));
    await user(t, 'ferry-dst', rules('engine', 'target'));
    const r = await ferry(['run', '--from', url(source, 'ferry-src'), '--to', url(target, 'ferry-dst'), '--repoint', 'none', '--yes', '--state', join(source.dir, 'st.json')]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      'ferry: the source user may not run CLIENT PAUSE (fence): add the ACL rule +client|pause to the user of --from',
    );
    expect(await t.dbsize()).toBe(0);
    expect(((await s.call('ROLE')) as string[])[0]).toBe('master');
    // The plan shows it too.
    const plan = await ferry(['plan', '--from', url(source, 'ferry-src'), '--to', url(target, 'ferry-dst')]);
    expect(plan.code).toBe(3);
    expect(plan.stdout).toMatch(/✗ refused: the source user may not run CLIENT PAUSE/);
    // A write the engine needs on the target, probed inside MULTI … DISCARD.
    await user(s, 'ferry-src', rules('engine', 'source'));
    await user(t, 'ferry-dst', rules('engine', 'target').replace(' +@write', ' +@write -restore'));
    const w = await ferry(['run', '--from', url(source, 'ferry-src'), '--to', url(target, 'ferry-dst'), '--repoint', 'none', '--yes', '--state', join(source.dir, 'st2.json')]);
    expect(w.code).toBe(3);
    expect(w.stderr).toMatch(/ferry: the target user may not run RESTORE \(replicate to promote: full sync, stream batches, checkpoint key\): add the ACL rule \+restore to the user of --to/);
    expect(await t.dbsize()).toBe(0);
  });

  it('ferry verify with a read-only user; a missing read is named', async () => {
    const { source, target, s, t } = await pair();
    await fill(s, 300);
    await fill(t, 300);
    const ro = aclRules(verifyPermissions(), 'source');
    await user(s, 'ferry-verify', ro);
    await user(t, 'ferry-verify', ro);
    const ok = await ferry(['verify', '--from', url(source, 'ferry-verify'), '--to', url(target, 'ferry-verify')]);
    expect(ok.code, ok.stderr).toBe(0);
    await t.call('ACL', 'SETUSER', 'ferry-verify', '-dump');
    const bad = await ferry(['verify', '--from', url(source, 'ferry-verify'), '--to', url(target, 'ferry-verify')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^ferry: the target user may not run DUMP: add the ACL rule \+dump to the user of --to \(the server said: NOPERM .*\)$/);
    // A write is refused to that user: it is read-only.
    const w = await ferry(['sync', '--from', url(source, 'ferry-verify'), '--to', url(target, 'ferry-verify'), '--until-caught-up', '--flush-target']);
    expect(w.code).not.toBe(0);
  });
});
