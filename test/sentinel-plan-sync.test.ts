/**
 * Sentinel-managed masters (issue 13), the rest of test/sentinel.test.ts (split so that each file
 * stays well under two minutes): what `ferry plan` shows and preflight refuses behind Sentinel,
 * and a SENTINEL FAILOVER during `ferry sync`, followed with a partial resync through replid2:
 * the target ends identical to the new master.
 */
import { describe, expect, it } from 'vitest';
import { ferry, jsonEvents, spawnFerry } from './helpers/cli.js';
import { freePort, startRedis, type TestServer } from './helpers/redis-server.js';
import { missingKeys } from './helpers/write-load.js';
import { startSentinelLoad, waitFor } from './helpers/sentinel.js';
import { sentinelFixture } from './helpers/sentinel-fixture.js';

const { dir, cleanup, group, server } = sentinelFixture();

describe('plan and preflight behind Sentinel', { timeout: 90_000 }, () => {
  it('the plan shows every command per Sentinel (auth-pass redacted); preflight refuses what the cutover could not repoint', async () => {
    const g = await group({ password: 'sekret' });
    const target = await server(['--requirepass', 'sekret']);
    const plan = async (...extra: string[]) => ferry(['plan', '--from', g.url(), '--to', target.url, '--json', ...extra], { cwd: dir });
    const engine = await plan('--pause-timeout', '3000');
    expect(engine.code, engine.stderr).toBe(0);
    expect(engine.stdout + engine.stderr).not.toContain('sekret');
    const p = JSON.parse(engine.stdout);
    expect(p.findings.refusals).toEqual([]);
    expect(p.source).toBe(`${g.url().replace(':sekret@', ':***@')} (master 127.0.0.1:${g.master.port})`);
    expect(p.sentinel.sentinels.map((x: { settings: unknown }) => x.settings)).toEqual(Array(3).fill({ quorum: 2, 'down-after-milliseconds': 4000, 'failover-timeout': 20000, 'parallel-syncs': 1 }));
    const step = p.steps.find((x: { id: string }) => x.id === 'sentinel');
    for (const sen of g.sentinels) {
      const mine = step.commands.filter((c: { on: string }) => c.on === `sentinel 127.0.0.1:${sen.port}`).map((c: { command: string }) => c.command);
      expect(mine).toEqual([
        'SENTINEL REMOVE mymaster',
        `SENTINEL MONITOR mymaster 127.0.0.1 ${target.port} 2`,
        'SENTINEL SET mymaster down-after-milliseconds 4000 failover-timeout 20000 parallel-syncs 1 auth-pass <redacted>',
        'SENTINEL GET-MASTER-ADDR-BY-NAME mymaster',
      ]);
    }
    const human = await ferry(['plan', '--from', g.url(), '--to', target.url, '--pause-timeout', '3000'], { cwd: dir, env: { NO_COLOR: '1' } });
    expect(human.stdout).toContain(`sentinel mymaster: 3 of 3 Sentinels name 127.0.0.1:${g.master.port} · quorum 2 · down-after 4000 ms · failover-timeout 20000 ms · parallel-syncs 1`);
    const native = JSON.parse((await plan('--pause-timeout', '3000', '--sync', 'native')).stdout);
    const prep = native.steps.find((x: { id: string }) => x.id === 'sentinel-prepare').commands.map((c: { on: string; command: string }) => `${c.on}: ${c.command}`);
    expect(prep).toContain(`replica 127.0.0.1:${g.replicas[0].port}: CONFIG SET replica-priority 0`);
    expect(native.steps.find((x: { id: string }) => x.id === 'sentinel').commands[0].command).toBe('SENTINEL FAILOVER mymaster');
    // a pause as long as down-after-milliseconds would make Sentinel fail the master over
    const long = JSON.parse((await plan('--pause-timeout', '4000')).stdout);
    expect(long.findings.refusals.join('\n')).toMatch(/--pause-timeout 4000 is not below Sentinel's down-after-milliseconds 4000/);
    // a Sentinel that cannot be reached could not be repointed: refused before anything changes
    const dead = await freePort();
    const url = g.url().replace('/mymaster', `,127.0.0.1:${dead}/mymaster`);
    const run = await ferry(['run', '--from', url, '--to', target.url, '--yes', '--json', '--pause-timeout', '3000'], { cwd: dir });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(new RegExp(`Sentinel 127\\.0\\.0\\.1:${dead} of mymaster cannot be reached`));
    expect(await target.client().dbsize()).toBe(0);
    // a name no Sentinel monitors, no Sentinel at all: exit 2
    const unknown = await ferry(['plan', '--from', g.url().replace('/mymaster', '/other'), '--to', target.url], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no Sentinel of .* monitors a master named "other"/);
    const none = await ferry(['plan', '--from', `sentinel://127.0.0.1:${dead}/mymaster`, '--to', target.url], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/cannot reach any Sentinel .*connection refused/);
    // a Sentinel that names another master: the Sentinels disagree
    const lone = await startRedis({ sentinel: true, config: `sentinel monitor mymaster 127.0.0.1 ${g.replicas[0].port} 1\nsentinel auth-pass mymaster sekret\n` });
    cleanup.push(() => lone.stop());
    const split = JSON.parse((await ferry(['plan', '--from', g.url().replace('/mymaster', `,127.0.0.1:${lone.port}/mymaster`), '--to', target.url, '--json', '--pause-timeout', '3000'], { cwd: dir })).stdout);
    expect(split.findings.refusals.join('\n')).toMatch(/the Sentinels disagree about mymaster/);
  });
});

describe('ferry sync from a Sentinel-managed master', { timeout: 90_000 }, () => {
  it('follows a SENTINEL FAILOVER (partial resync through replid2) and ends identical to the new master', async () => {
    // NOTE: the old master keeps streaming a little after the promotion (Sentinel's hello PUBLISH,
    // PINGs), so the engine is usually past the promoted replica's second_repl_offset: it
    // continues from that offset when what it applied past it changed no data.
    const g = await group();
    const target = await server();
    const child = spawnFerry(['sync', '--from', g.url(), '--to', target.url, '--json'], { cwd: dir });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    cleanup.push(async () => {
      child.kill('SIGKILL');
      await child;
    });
    await waitFor(async () => out.includes('following the stream'), 20_000, 'the engine to follow the stream');
    const load = startSentinelLoad(g, { prefix: 'before' });
    await waitFor(async () => load.ackedCount() > 300, 10_000, 'writes');
    await load.stop();
    // NOTE: Sentinel's reconfiguration kills normal clients (CLIENT KILL TYPE normal), so every
    // check below opens a fresh connection.
    const offset = async (s: TestServer, field: string) => Number((await s.client().info('replication')).match(new RegExp(`${field}:(\\d+)`))![1]);
    await waitFor(async () => (await offset(g.master, 'master_repl_offset')) === (await offset(g.replicas[0], 'slave_repl_offset')), 10_000, 'the replica to catch up');
    await g.sentinel(0).call('SENTINEL', 'FAILOVER', g.name);
    await waitFor(async () => (await g.masters()).every((m) => m === `127.0.0.1:${g.replicas[0].port}`), 20_000, 'every Sentinel to name the replica');
    const after = startSentinelLoad(g, { prefix: 'after' });
    await waitFor(async () => after.ackedCount() > 300, 15_000, 'writes to the new master');
    const report = await after.stop();
    await waitFor(async () => (await missingKeys(target.client(), report.acked)).length === 0 && (await target.client().dbsize()) === (await g.replicas[0].client().dbsize()) + 1, 15_000, 'the target to catch up').catch((e: Error) => {
      throw new Error(`${e.message}\n${out.slice(-4000)}`);
    });
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(130);
    const events = jsonEvents(out);
    const messages = events.filter((e) => e.event === 'info').map((e) => e.message as string);
    expect(messages.some((m) => /Sentinel switched mymaster/.test(m))).toBe(true);
    expect(messages.filter((m) => /^full sync from offset/.test(m))).toHaveLength(1);
    expect(messages.some((m) => /^partial resync \(\+CONTINUE\)/.test(m))).toBe(true);
    expect(events.filter((e) => e.event === 'warning' && /source link lost/.test(e.message))).toHaveLength(1);
    // identical: every key and value of the new master, nothing else
    const newMaster = g.replicas[0].client();
    const t = target.client();
    const keys = (await newMaster.keys('*')).sort();
    expect((await t.keys('*')).filter((k) => !k.startsWith('__ferry')).sort()).toEqual(keys);
    const a = await newMaster.mget(...keys);
    const b = await t.mget(...keys);
    expect(b).toEqual(a);
  });
});
