/**
 * Acceptance: a live migration under write load with a repoint hook loses no acknowledged write,
 * attaching to an existing target and with `--to start:PORT`.
 */
import { existsSync, mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ferry, fill, jsonEvents } from './helpers/cli.js';
import { freePort, killPid, startRedis, type TestServer } from './helpers/redis-server.js';
import { missingKeys, pointMasterFile, startWriteLoad } from './helpers/write-load.js';

const dirs: string[] = [];
const servers: TestServer[] = [];
const pids: number[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-mig-'));
  dirs.push(d);
  return d;
}

async function server(args: string[] = []): Promise<TestServer> {
  const s = await startRedis({ args });
  servers.push(s);
  return s;
}

/** Pid files of servers ferry started: read at teardown, so a failed run leaves none behind. */
const pidFiles: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const f of pidFiles.splice(0)) {
    const pid = Number(existsSync(f) ? readFileSync(f, 'utf8').trim() : 0);
    if (pid) pids.push(pid);
  }
  await Promise.all(pids.splice(0).map((p) => killPid(p)));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The hook a deployment would use: rewrite the file the application reads its master from. */
function hookFor(masterFile: string): string {
  return `exec:printf '%s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${masterFile}.tmp && mv ${masterFile}.tmp ${masterFile}`;
}

/**
 * The longest gap between acknowledged writes of the same load with no migration, against a
 * scratch server in this run: the baseline the migration's stall is reported against.
 */
async function baselineStall(): Promise<number> {
  const scratch = await server();
  const file = join(tempDir(), 'master');
  pointMasterFile(file, scratch.host, scratch.port);
  const load = startWriteLoad({ masterFile: file, lanes: 4, maxMs: 10_000 });
  await new Promise((r) => setTimeout(r, 1500));
  return (await load.stop()).longestGapMs;
}

async function migrateUnderLoad(source: TestServer, to: string, extra: string[], password?: string) {
  const dir = tempDir();
  if (to.startsWith('start:')) pidFiles.push(join(dir, '.ferry', to.slice(6), 'redis.pid'));
  const masterFile = join(dir, 'master');
  const statePath = join(dir, 'state.json');
  const seed = source.client();
  await fill(seed, 2000);
  seed.disconnect(); // the drain waits for every non-ferry client to leave the old master
  pointMasterFile(masterFile, source.host, source.port);
  const load = startWriteLoad({ masterFile, password, lanes: 4, maxMs: 60_000 });
  await new Promise((r) => setTimeout(r, 500));
  const run = await ferry(['run', '--from', source.url, '--to', to, '--sync', 'native', '--repoint', hookFor(masterFile), '--yes', '--json', '--state', statePath, '--drain-timeout', '10000', ...extra], { cwd: dir, timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 300)); // the load keeps writing to the new master
  const report = await load.stop();
  return { run, report, statePath, masterFile, dir };
}

describe('ferry run --sync native under write load', () => {
  it('attaches to a target, repoints with a hook, and loses no acknowledged write', async () => {
    const [source, target] = await Promise.all([server(), server()]);
    const baseline = await baselineStall();
    const { run, report, statePath } = await migrateUnderLoad(source, target.url, []);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code).toBe(0);
    const events = jsonEvents(run.stdout);
    const final = events[events.length - 1];
    expect(final.event).toBe('done');
    expect(final.exitCode).toBe(0);
    expect(typeof final.report.pauseMs).toBe('number');
    expect(typeof final.report.finalOffset).toBe('number');
    expect(events.filter((e) => e.event === 'step.done').map((e) => e.step)).toEqual(['preflight', 'provision', 'backlog', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'fence', 'promote', 'final-check', 'reparent', 'retire']);
    expect(report.switches).toBe(1);
    expect(report.writesPerSecond).toBeGreaterThan(1000);
    const t = target.client();
    expect(await missingKeys(t, report.acked)).toEqual([]);
    expect(await t.exists('seed:0', 'seed:1999')).toBe(2);
    expect(((await t.call('ROLE')) as string[])[0]).toBe('master');
    // retire replica: the old master follows the new one (rollback copy, stragglers fail loudly)
    const s = source.client();
    const role = (await s.call('ROLE')) as unknown[];
    expect(role[0]).toBe('slave');
    expect(role[2]).toBe(target.port);
    expect(statSync(statePath).mode & 0o777).toBe(0o600);
    console.log(
      `native attach: ${report.acked.length} acked writes at ${Math.round(report.writesPerSecond)}/s, longest write stall ${report.longestGapMs} ms ` +
        `(${(report.longestGapMs / Math.max(1, baseline)).toFixed(1)}x the ${baseline} ms of the same load without a migration), ` +
        `old master paused ${final.report.pauseMs} ms, final offset ${final.report.finalOffset}`,
    );
  }, 90_000);

  it('--to start:PORT starts a detached redis-server that outlives ferry, with a password from the source', async () => {
    const source = await server(['--requirepass', 's3cret-pw']);
    const port = await freePort();
    const { run, report, statePath, dir } = await migrateUnderLoad(source, `start:${port}`, ['--server-arg', 'appendonly yes'], 's3cret-pw');
    const events = jsonEvents(run.stdout);
    const final = events[events.length - 1];
    if (final?.report?.target?.pid) pids.push(final.report.target.pid);
    // On a failure (or ferry's own 60 s bound), say where it stood.
    expect(run.code, `${run.stderr.slice(-2000)}\n${run.stdout.split('\n').slice(-15).join('\n')}`).toBe(0);
    expect(final.event).toBe('done');
    const pid = final.report.target.pid as number;
    expect(() => process.kill(pid, 0)).not.toThrow(); // alive after ferry exited
    const dataDir = join(dir, '.ferry', String(port));
    expect(readFileSync(join(dataDir, 'redis.pid'), 'utf8').trim()).toBe(String(pid));
    expect(readFileSync(join(dataDir, 'redis.conf'), 'utf8')).toMatch(/^appendonly yes$/m);
    const t = new Redis({ port, host: '127.0.0.1', password: 's3cret-pw', lazyConnect: true, retryStrategy: () => null });
    t.on('error', () => {});
    try {
      await t.connect();
      expect(await missingKeys(t, report.acked)).toEqual([]);
      expect(((await t.call('ROLE')) as string[])[0]).toBe('master');
    } finally {
      t.disconnect();
    }
    // retire replica with a password on the new master: masterauth lets the old one sync from it
    const old = source.client();
    let link = '';
    for (let i = 0; i < 100 && link !== 'connected'; i++) {
      const r = (await old.call('ROLE')) as unknown[];
      link = r[0] === 'slave' && r[2] === port ? String(r[3]) : '';
      if (link !== 'connected') await new Promise((res) => setTimeout(res, 50));
    }
    expect(link).toBe('connected');
    // no secret in the state file or the JSON events
    expect(readFileSync(statePath, 'utf8')).not.toContain('s3cret-pw');
    expect(run.stdout).not.toContain('s3cret-pw');
    expect(run.stderr).not.toContain('s3cret-pw');
    console.log(`native start:PORT: ${report.acked.length} acked writes at ${Math.round(report.writesPerSecond)}/s, longest write stall ${report.longestGapMs} ms, old master paused ${final.report.pauseMs} ms`);
  }, 90_000);
});
