/**
 * What cannot be copied exactly between versions is refused in preflight (exit 3, one line naming
 * the count and the way out) before anything changes, never mid-sync (issue 11): a native
 * downgrade, hash-field TTLs into a target without them (also `ferry sync`), functions into a
 * target without FUNCTION. And the 5.0 fence: `ferry plan` says that reads pause too, and
 * `ferry run` 5.0 -> 7.4 under a live writer and a straggler that never moves exits 0 with no
 * acknowledged write lost and the pause in the report.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ferry, jsonEvents } from '../helpers/cli.js';
import { fillVersion } from '../helpers/version-dataset.js';
import { HAVE_VERSIONS, VERSIONS, startVersion, type ServerVersion } from '../helpers/versions.js';
import { missingKeys, pointMasterFile, startWriteLoad } from '../helpers/write-load.js';
import { waitFor } from '../helpers/engine.js';
import type { TestServer } from '../helpers/redis-server.js';

describe.skipIf(!HAVE_VERSIONS).concurrent('version refusals and the 5.0 fence', () => {
  const servers: TestServer[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const pair = async (s: ServerVersion, t: ServerVersion) => {
    const [a, b] = await Promise.all([startVersion(s), startVersion(t)]);
    servers.push(a, b);
    return [a, b] as const;
  };
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'ferry-versions-'));
    dirs.push(d);
    return d;
  };
  /** Role and key count: what a refusal must leave as it was. */
  const stateOf = async (s: TestServer) => {
    const c = s.client();
    return { role: ((await c.call('ROLE')) as unknown[])[0], keys: await c.dbsize(), subexpiry: /subexpiry=(\d+)/.exec(await c.info('keyspace'))?.[1] };
  };

  it('ferry plan and run --sync native from 7.4 into 7.0: exit 3 proposing the engine, nothing changed', async () => {
    const [source, target] = await pair(VERSIONS['7.4'], VERSIONS['7.0']);
    await source.client().set('k', 'v');
    const before = [await stateOf(source), await stateOf(target)];
    const plan = await ferry(['plan', '--from', source.url, '--to', target.url, '--sync', 'native']);
    expect(plan.code).toBe(3);
    const line = plan.stderr.trim().split('\n').filter(Boolean);
    expect(line).toHaveLength(1);
    expect(line[0]).toMatch(/RDB 10\).*RDB 12 snapshot.*--sync engine/);
    const run = await ferry(['run', '--from', source.url, '--to', target.url, '--sync', 'native', '--yes', '--state', join(tmp(), 's.json')]);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/use --sync engine/);
    expect([await stateOf(source), await stateOf(target)]).toEqual(before);
  });

  it('7.4 hash-field TTLs into 7.0: run and sync exit 3 naming the keys and --drop-field-ttl; nothing changed', async () => {
    const [source, target] = await pair(VERSIONS['7.4'], VERSIONS['7.0']);
    const fill = await fillVersion(source.client(), VERSIONS['7.4'], { functions: true });
    expect(fill.fieldTtlKeys).toBe(2);
    const before = [await stateOf(source), await stateOf(target)];
    const run = await ferry(['run', '--from', source.url, '--to', target.url, '--yes', '--state', join(tmp(), 's.json')]);
    expect(run.code, run.stderr).toBe(3);
    const lines = run.stderr.trim().split('\n').filter((l) => l.startsWith('ferry:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ferry: 2 hash key\(s\) .*field.*TTL.*redis 7\.0\.15.*--drop-field-ttl/);
    const sync = await ferry(['sync', '--from', source.url, '--to', target.url, '--until-caught-up']);
    expect(sync.code, sync.stderr).toBe(3);
    expect(sync.stderr).toMatch(/2 hash key\(s\).*--drop-field-ttl/);
    expect([await stateOf(source), await stateOf(target)]).toEqual(before);
  });

  it('functions into 6.2 (no FUNCTION): exit 3 naming the libraries', async () => {
    const [source, target] = await pair(VERSIONS['7.0'], VERSIONS['6.2']);
    await fillVersion(source.client(), VERSIONS['7.0']);
    const run = await ferry(['run', '--from', source.url, '--to', target.url, '--yes', '--state', join(tmp(), 's.json')]);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/1 function library \(FUNCTION LIST\).*redis 6\.2\.16.*no FUNCTION/);
    expect(await target.client().dbsize()).toBe(0);
  });

  it('ferry plan from 5.0: the fence pauses every client (reads too) and names --pause-timeout', async () => {
    const [source, target] = await pair(VERSIONS['5.0'], VERSIONS['7.4']);
    const plan = await ferry(['plan', '--from', source.url, '--to', target.url, '--json', '--pause-timeout', '2500']);
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout);
    const fence: Array<{ command: string; note?: string }> = p.steps.find((s: { id: string }) => s.id === 'fence').commands;
    expect(fence.map((c) => `${c.command} ${c.note ?? ''}`).join('\n')).toMatch(/CLIENT PAUSE 2500 .*READS TOO/);
    expect(fence.map((c) => c.command)).not.toContain('CLIENT PAUSE 2500 WRITE');
    expect(p.findings.warnings.join('\n')).toMatch(/redis 5\.0\.14.*every client.*reads too.*2500 ms/);
  });

  it('5.0 -> 7.4 under a live writer and a straggler: exit 0, no acknowledged write lost, the pause in the report', async () => {
    const [source, target] = await pair(VERSIONS['5.0'], VERSIONS['7.4']);
    const dir = tmp();
    const seed = source.client();
    await fillVersion(seed, VERSIONS['5.0']);
    seed.disconnect();
    const masterFile = join(dir, 'master');
    const stragglerFile = join(dir, 'straggler');
    pointMasterFile(masterFile, source.host, source.port);
    pointMasterFile(stragglerFile, source.host, source.port);
    const load = startWriteLoad({ masterFile, lanes: 4, maxMs: 50_000, intervalMs: 2 });
    // Never repointed: it writes to the old master until the fence and after it (retire makes
    // its writes fail with READONLY); every write it got acknowledged must be on the target.
    const straggler = startWriteLoad({ masterFile: stragglerFile, lanes: 2, maxMs: 50_000, intervalMs: 2, prefix: 'straggler', connectionName: 'app-straggler' });
    let run;
    let moved;
    let stuck;
    try {
      const hook = `exec:printf '%s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${masterFile}.tmp && mv ${masterFile}.tmp ${masterFile}`;
      run = await ferry(['run', '--from', source.url, '--to', target.url, '--repoint', hook, '--yes', '--json', '--state', join(dir, 's.json'), '--drain-timeout', '1000', '--pause-timeout', '2000'], { cwd: dir, timeoutMs: 50_000 });
    } finally {
      await new Promise((r) => setTimeout(r, 300));
      moved = await load.stop();
      stuck = await straggler.stop();
    }
    expect(run.code, run.stderr).toBe(0);
    const events = jsonEvents(run.stdout);
    const report = events[events.length - 1].report;
    expect(report.pauseMs).toBe(2000); // no CLIENT UNPAUSE before 6.2: the pause lasts its whole time
    const t = target.client();
    expect(await missingKeys(t, moved.acked)).toEqual([]);
    expect(stuck.acked.length).toBeGreaterThan(0);
    expect(await missingKeys(t, stuck.acked)).toEqual([]);
    // Its writes after the cutover are refused, not lost: the old master is a read-only replica.
    const old = source.client();
    expect(((await old.call('ROLE')) as unknown[])[0]).toBe('slave');
    await waitFor(async () => /READONLY/.test(await old.set('late', '1').then(() => 'ok', (e: Error) => e.message)), 20_000, 'READONLY from the old master');
    console.log(`5.0 -> 7.4: ${moved.acked.length} + ${stuck.acked.length} (straggler) acked writes, pause ${report.pauseMs} ms, straggler writes refused: ${stuck.failed}`);
  }, 60_000);
});
