/**
 * `--backlog` against real servers: `auto` raises the source's repl-backlog-size to cover 60 s of
 * the write rate preflight measured, every link cut (through the TCP proxy) then gets +CONTINUE,
 * and the value found is back after the run, after a failed or interrupted run, after a rollback
 * and after a resumed run; `keep` never sends CONFIG SET; the plan shows the change.
 *
 * NOTE: the loads are paced (bench/rate-writer.ts) at a few MB/s, so a test's numbers do not
 * depend on this machine's speed: the assertions compare the backlog with the rate ferry itself
 * measured, and the link-down windows with what the source wrote meanwhile.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../src/core/endpoint.js';
import { SyncEngine } from '../src/engine/sync.js';
import { ferry, jsonEvents, spawnFerry } from './helpers/cli.js';
import { syncCounters, waitFor } from './helpers/engine.js';
import { startRateWriter } from './helpers/rate-writer.js';
import { startRedis, type TestServer } from './helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function backlogSize(c: Redis): Promise<number> {
  const [, v] = (await c.call('CONFIG', 'GET', 'repl-backlog-size')) as string[];
  return Number(v);
}

/** CONFIG SET calls the server has served (INFO commandstats, 7.0+: `cmdstat_config|set`). */
async function configSetCalls(c: Redis): Promise<number> {
  // NOTE: successful calls only: preflight probes permissions with CONFIG SET of an invalid value, which fails and changes nothing.
  const m = /^cmdstat_config\|set:calls=(\d+).*?failed_calls=(\d+)/m.exec(await c.info('commandstats'));
  return m ? Number(m[1]) - Number(m[2]) : 0;
}

async function masterOffset(c: Redis): Promise<number> {
  return Number(/master_repl_offset:(\d+)/.exec(await c.info('replication'))![1]);
}

function readJson(path: string): Record<string, any> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null; // not written yet
  }
}

/** Everything a test started, torn down after it whatever happened. */
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
});

async function setup(opts: { proxy?: boolean } = {}): Promise<{ source: TestServer; target: TestServer; proxy: TcpProxy | null; dir: string; from: string }> {
  const [source, target] = await Promise.all([startRedis(), startRedis()]);
  cleanups.push(() => source.stop(), () => target.stop());
  const proxy = opts.proxy ? await startTcpProxy(source.port) : null;
  if (proxy) cleanups.push(() => proxy.close());
  const dir = mkdtempSync(join(tmpdir(), 'ferry-backlog-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return { source, target, proxy, dir, from: proxy ? `redis://127.0.0.1:${proxy.port}` : source.url };
}

/**
 * The source's client, its repl-backlog-size before the test, and a paced load of `mbPerSec` MB/s
 * on it that has been running for 300 ms (stopped after the test by the rate writer itself).
 */
async function loaded(source: TestServer, mbPerSec: number) {
  const src = source.client();
  const original = await backlogSize(src);
  const writer = startRateWriter(source.client(), { bytesPerSec: mbPerSec * MB, maxMs: 50_000 });
  await sleep(300);
  return { src, original, writer };
}

/** Starts ferry in the background; killed (by its pid) after the test if it is still running. */
function background(args: string[], cwd: string) {
  const child = spawnFerry(args, { cwd });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    return child.catch(() => {});
  });
  return child;
}

/** A repoint hook that holds the run (engine or REPLICAOF streaming) until the test writes DIR/go. */
const holdHook = (dir: string) => `exec:while [ ! -f ${dir}/go ]; do sleep 0.05; done`;

describe('--backlog auto with ferry run', () => {
  it.each(['engine', 'native'] as const)('%s: raises it to 60 s of the measured writes, every cut gets +CONTINUE, and the old value is back after the run', async (mode) => {
    const { source, target, proxy, dir, from } = await setup({ proxy: true });
    const { src, original, writer } = await loaded(source, 4);
    expect(original).toBe(MB); // Redis' default: 0.25 s of this load
    const state = join(dir, 'state.json');
    const run = background(['run', '--from', from, '--to', target.url, '--sync', mode, '--repoint', holdHook(dir), '--hook-timeout', '50000', '--drain-timeout', '200', '--yes', '--json', '--state', state], dir);
    await waitFor(() => readJson(state)?.steps?.repoint?.status === 'running', 40_000, 'the repoint hook (replication streaming)');
    const detail = readJson(state)!.steps.backlog.detail;
    const raised = await backlogSize(src);
    expect(detail.policy).toBe('auto');
    expect(raised).toBe(detail.set);
    expect(raised).toBeGreaterThanOrEqual(60 * detail.writeRate);
    expect(raised).toBeGreaterThan(original);
    expect(readJson(state)!.data['backlog.record']).toEqual({ original, set: raised });

    const before = await syncCounters(src);
    // Cuts, and every other one holds the link down for 1 s: 4 MB of writes, 4 times the 1 MB
    // the source had, so without the raise those reconnects could only be full syncs.
    for (let cut = 1; cut <= 5; cut++) {
      await sleep(300);
      if (cut % 2) await proxy!.down(1000);
      else proxy!.cut();
      await waitFor(async () => (await syncCounters(src)).partialOk >= before.partialOk + cut, 15_000, `+CONTINUE after cut ${cut}`);
    }
    const after = await syncCounters(src);
    expect(after.full).toBe(before.full);
    expect(after.partialErr).toBe(before.partialErr);
    await writer.stop();
    writeFileSync(join(dir, 'go'), '');
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    // --retire replica (default): the old master is now a replica of the new one, and has its value back.
    const old = source.client();
    expect(((await old.call('ROLE')) as string[])[0]).toBe('slave');
    expect(await backlogSize(old)).toBe(original);
    const messages = jsonEvents(String(r.stdout)).map((e) => String(e.message ?? ''));
    expect(messages).toContainEqual(expect.stringMatching(/^repl-backlog-size on the old master \(now a replica of the new one\) put back to 1\.0mb/));
    expect(readJson(state)!.data['backlog.record']).toBeUndefined();
  }, 90_000);
});

describe('the old value comes back on every way out', () => {
  it('a failed run keeps it raised for resume (and says so); the resumed run puts it back at the end', async () => {
    const { source, target, dir, from } = await setup();
    const { src, original, writer } = await loaded(source, 2);
    const state = join(dir, 'state.json');
    // The hook fails the first time only.
    const hook = `exec:[ -f ${dir}/ok ] || { touch ${dir}/ok; echo not yet; exit 3; }`;
    const failed = await ferry(['run', '--from', from, '--to', target.url, '--repoint', hook, '--drain-timeout', '200', '--yes', '--json', '--state', state], { cwd: dir });
    expect(failed.code, failed.stderr).toBe(4);
    const raised = await backlogSize(src);
    expect(raised).toBeGreaterThan(original);
    const stored = readJson(state)!;
    expect(stored.steps.backlog.status).toBe('done');
    expect(stored.data['backlog.record']).toEqual({ original, set: raised });
    expect(jsonEvents(failed.stdout).map((e) => String(e.message ?? ''))).toContainEqual(expect.stringMatching(/^repl-backlog-size stays at .* so that ferry resume can continue/));
    // Writes go on while no ferry runs: the raised backlog holds them for the resumed engine.
    await sleep(1000);
    await writer.stop();
    const resumed = await ferry(['resume', '--state', state, '--yes', '--json'], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    const events = jsonEvents(resumed.stdout);
    expect(events.filter((e) => e.event === 'step.start').map((e) => e.step)).not.toContain('backlog');
    expect(events.map((e) => String(e.message ?? ''))).toContainEqual(expect.stringMatching(/^repl-backlog-size on the old master \(now a replica of the new one\) put back to 1\.0mb/));
    expect(await backlogSize(source.client())).toBe(original);
  }, 90_000);

  it('an interrupted run (SIGINT) puts it back, and rollback leaves it so', async () => {
    const { source, target, dir, from } = await setup();
    const { src, original, writer } = await loaded(source, 2);
    const state = join(dir, 'state.json');
    const run = background(['run', '--from', from, '--to', target.url, '--repoint', holdHook(dir), '--hook-timeout', '50000', '--yes', '--json', '--state', state], dir);
    await waitFor(() => readJson(state)?.steps?.repoint?.status === 'running', 40_000, 'the repoint hook');
    expect(await backlogSize(src)).toBeGreaterThan(original);
    run.kill('SIGINT');
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(130);
    expect(await backlogSize(src)).toBe(original);
    await writer.stop();
    const rb = await ferry(['rollback', '--state', state, '--yes'], { cwd: dir });
    expect(rb.code, rb.stderr).toBe(0);
    expect(readJson(state)!.status).toBe('rolled-back');
    expect(await backlogSize(src)).toBe(original);
  }, 90_000);

  it('after a kill, rollback puts it back; after a kill, the resumed run puts it back at its end', async () => {
    const { source, target, dir, from } = await setup();
    const { src, original, writer } = await loaded(source, 2);
    const args = (state: string) => ['run', '--from', from, '--to', target.url, '--repoint', 'none', '--yes', '--json', '--state', state];
    const s1 = join(dir, 'one.json');
    const killed = await ferry(args(s1), { cwd: dir, env: { FERRY_TEST_KILL_AFTER: 'converge' } });
    expect(killed.signal).toBe('SIGKILL');
    const raised = await backlogSize(src);
    expect(raised).toBeGreaterThan(original); // a killed ferry cannot put it back…
    const rb = await ferry(['rollback', '--state', s1, '--yes'], { cwd: dir });
    expect(rb.code, rb.stderr).toBe(0);
    expect(await backlogSize(src)).toBe(original); // …its rollback does
    await target.client().flushall();

    const s2 = join(dir, 'two.json');
    const killed2 = await ferry(args(s2), { cwd: dir, env: { FERRY_TEST_KILL_AFTER: 'backlog' } });
    expect(killed2.signal).toBe('SIGKILL');
    expect(await backlogSize(src)).toBeGreaterThan(original);
    await writer.stop();
    const resumed = await ferry(['resume', '--state', s2, '--yes', '--json'], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await backlogSize(source.client())).toBe(original);
  }, 90_000);
});

describe('--backlog keep and the plan', () => {
  it('the plan shows the CONFIG SET with its numbers; keep sends no CONFIG SET at all', async () => {
    const { source, target, dir, from } = await setup();
    const { src, original, writer } = await loaded(source, 2);
    const plan = await ferry(['plan', '--from', from, '--to', target.url, '--repoint', 'none', '--json'], { cwd: dir });
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout);
    expect(p.backlog.set).toBeGreaterThanOrEqual(60 * p.backlog.writeRate);
    const cmds = p.steps.find((s: { id: string }) => s.id === 'backlog').commands;
    expect(cmds[0]).toMatchObject({ on: 'source', command: `CONFIG SET repl-backlog-size ${p.backlog.set}` });
    expect(cmds[0].note).toMatch(/^auto: [\d.]+mb\/s of writes x 60 s = [\d.]+mb \(cap [\d.]+gb\); was 1\.0mb; the rate is the bytes clients sent/);
    const dry = await ferry(['run', '--dry-run', '--from', from, '--to', target.url, '--repoint', 'none'], { cwd: dir });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/backlog .*\n.*source\s+CONFIG SET repl-backlog-size \d+\n.*↳ auto: .* x 60 s = /);
    expect(await backlogSize(src)).toBe(original); // plans change nothing

    const calls = await configSetCalls(src);
    const keepPlan = JSON.parse((await ferry(['plan', '--from', from, '--to', target.url, '--repoint', 'none', '--backlog', 'keep', '--json'], { cwd: dir })).stdout);
    expect(keepPlan.steps.find((s: { id: string }) => s.id === 'backlog').commands).toEqual([]);
    const run = await ferry(['run', '--from', from, '--to', target.url, '--repoint', 'none', '--retire', 'keep', '--backlog', 'keep', '--yes', '--json'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    await writer.stop();
    const done = jsonEvents(run.stdout).find((e) => e.event === 'step.done' && e.step === 'backlog');
    expect(done?.detail).toEqual({ policy: 'keep' });
    expect(await configSetCalls(src)).toBe(calls);
    expect(await backlogSize(src)).toBe(original);
  }, 90_000);
});

describe('a source that forbids CONFIG SET', () => {
  it('auto warns and goes on; an explicit SIZE is refused in preflight naming the ACL rule', async () => {
    const [source, target] = await Promise.all([startRedis({ args: ['--user', 'mig', 'on', '>pw', '~*', '&*', '+@all', '-config|set'] }), startRedis()]);
    cleanups.push(() => source.stop(), () => target.stop());
    const dir = mkdtempSync(join(tmpdir(), 'ferry-backlog-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { src, original, writer } = await loaded(source, 2);
    const from = `redis://mig:pw@127.0.0.1:${source.port}`;
    const args = ['run', '--from', from, '--to', target.url, '--repoint', 'none', '--retire', 'keep', '--yes', '--json'];
    const auto = await ferry([...args, '--state', join(dir, 'a.json')], { cwd: dir });
    expect(auto.code, auto.stderr).toBe(0);
    const warning = jsonEvents(auto.stdout).find((e) => e.event === 'warning' && /refused CONFIG SET repl-backlog-size/.test(e.message));
    expect(warning?.message).toMatch(/going on with 1\.0mb, so a link drop of more than [\d.]+ s means a full sync/);
    await target.client().flushall();
    const sized = await ferry([...args, '--backlog', '64mb', '--state', join(dir, 'b.json')], { cwd: dir });
    await writer.stop();
    // An explicit SIZE needs CONFIG SET: preflight's permission probe refuses the run before
    // anything changes (exit 3), naming the ACL rule.
    expect(sized.code, sized.stderr).toBe(3);
    expect(sized.stderr).toMatch(/config\|set/);
    expect(await backlogSize(src)).toBe(original);
  }, 60_000);
});

describe('the engine and ferry sync', () => {
  it('an outrun 1 MB backlog: the warning names the cause and the fix with numbers', async () => {
    const { source, target, proxy } = await setup({ proxy: true });
    const src = source.client();
    const warnings: string[] = [];
    const engine = new SyncEngine({
      from: parseRedisUrl(`redis://127.0.0.1:${proxy!.port}`, '--from'),
      to: parseRedisUrl(target.url, '--to'),
      emit: (e) => {
        if (e.event === 'warning') warnings.push(e.message);
      },
    });
    cleanups.push(() => engine.stop().catch(() => {}));
    await engine.start();
    await waitFor(() => engine.phase === 'stream', 20_000, 'stream phase');
    const writer = startRateWriter(source.client(), { bytesPerSec: 4 * MB, maxMs: 50_000 });
    await sleep(1000); // the engine's rate meter needs a few samples
    const before = await syncCounters(src);
    const offset0 = await masterOffset(src);
    await proxy!.down(1500);
    const written = (await masterOffset(src)) - offset0;
    expect(written).toBeGreaterThan(MB); // the premise: the link was down longer than 1 MB of writes
    await waitFor(async () => (await syncCounters(src)).full > before.full, 20_000, 'the full resync');
    await writer.stop();
    const advice = warnings.find((w) => /refused a partial resync/.test(w));
    expect(advice, warnings.join('\n')).toBeDefined();
    const m = /its backlog 1\.0mb = ([\d.]+) s of writes at ([\d.]+)mb\/s; the link was down ([\d.]+) s and ([\d.]+)mb of writes were missing; raise it with --backlog (\d+)mb/.exec(advice!);
    expect(m, advice).not.toBeNull();
    const [secs, rate, down, missing, suggest] = m!.slice(1).map(Number);
    expect(secs).toBeCloseTo(1 / rate, 1);
    expect(down).toBeGreaterThanOrEqual(1.4);
    expect(missing).toBeGreaterThan(1);
    expect(suggest).toBeGreaterThanOrEqual(Math.floor(60 * rate * 0.95)); // the message rounds the rate
  }, 60_000);

  it('SyncEngine with backlog auto raises it, a long link drop still gets +CONTINUE, and stop puts it back', async () => {
    const { source, target, proxy } = await setup({ proxy: true });
    const { src, original, writer } = await loaded(source, 4);
    const infos: string[] = [];
    const engine = new SyncEngine({
      from: parseRedisUrl(`redis://127.0.0.1:${proxy!.port}`, '--from'),
      to: parseRedisUrl(target.url, '--to'),
      backlog: { kind: 'auto' },
      emit: (e) => {
        if (e.event === 'info' || e.event === 'warning') infos.push(e.message);
      },
    });
    cleanups.push(() => engine.stop().catch(() => {}));
    await engine.start();
    const raised = await backlogSize(src);
    const m = /raised from 1\.0mb to [\d.]+mb \(auto: ([\d.]+)mb\/s of writes x 60 s/.exec(infos.join('\n'));
    expect(m, infos.join('\n')).not.toBeNull();
    expect(raised).toBeGreaterThanOrEqual(60 * Number(m![1]) * MB * 0.99); // the message rounds the rate
    await waitFor(() => engine.phase === 'stream', 20_000, 'stream phase');
    const before = await syncCounters(src);
    await proxy!.down(1500);
    await waitFor(async () => (await syncCounters(src)).partialOk > before.partialOk, 20_000, '+CONTINUE after the drop');
    expect((await syncCounters(src)).full).toBe(before.full);
    await writer.stop();
    await engine.waitCaughtUp(100, undefined, 30_000);
    await engine.stop({ removeCheckpoint: true });
    expect(await backlogSize(src)).toBe(original);
    expect(infos).toContainEqual(expect.stringMatching(/^repl-backlog-size on the source put back to 1\.0mb/));
  }, 60_000);

  it('ferry sync keeps the old value in its state file, puts it back on SIGINT; --backlog keep sends no CONFIG SET', async () => {
    const { source, target, dir } = await setup();
    const { src, original, writer } = await loaded(source, 2);
    const state = join(dir, 'sync.json');
    const sync = background(['sync', '--from', source.url, '--to', target.url, '--state', state, '--json'], dir);
    await waitFor(() => readJson(state)?.checkpoint?.phase === 'stream', 30_000, 'ferry sync streaming');
    const raised = await backlogSize(src);
    expect(raised).toBeGreaterThan(original);
    expect(readJson(state)!.sourceBacklog).toEqual({ original, set: raised });
    sync.kill('SIGINT');
    const r = await sync;
    expect(r.exitCode, String(r.stderr)).toBe(130);
    expect(await backlogSize(src)).toBe(original);
    expect(readJson(state)!.sourceBacklog).toBeUndefined();

    await target.client().flushall();
    const calls = await configSetCalls(src);
    const state2 = join(dir, 'keep.json');
    const keep = background(['sync', '--from', source.url, '--to', target.url, '--state', state2, '--backlog', 'keep', '--json'], dir);
    await waitFor(() => readJson(state2)?.checkpoint?.phase === 'stream', 30_000, 'ferry sync --backlog keep streaming');
    keep.kill('SIGINT');
    expect((await keep).exitCode).toBe(130);
    await writer.stop();
    expect(await configSetCalls(src)).toBe(calls);
    expect(existsSync(state2)).toBe(true);
  }, 90_000);
});
