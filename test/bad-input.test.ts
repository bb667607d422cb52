/**
 * Bad input gets its documented exit code and one line naming the fix, and leaves the source's
 * data, config and role as they were; plan and run --dry-run change nothing on either server.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { ferry, fill, snapshot } from './helpers/cli.js';
import { freePort, startRedis, type TestServer } from './helpers/redis-server.js';

let source: TestServer; // password-protected, holds data
let target: TestServer; // empty
let full: TestServer; // holds keys
let sc: Redis;
let dir: string;

beforeAll(async () => {
  [source, target, full] = await Promise.all([startRedis({ args: ['--requirepass', 'pw1'] }), startRedis(), startRedis()]);
  sc = source.client();
  await fill(sc, 50);
  await fill(full.client(), 3, 'other');
  dir = mkdtempSync(join(tmpdir(), 'ferry-bad-'));
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop(), full?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs ferry and checks: exit code, exactly one `ferry:`/`error:` line, and the source unchanged. */
async function expectRefused(args: string[], code: number, pattern: RegExp) {
  const before = await snapshot(sc);
  const r = await ferry(args, { cwd: dir });
  const errorLines = r.stderr.split('\n').filter((l) => /^(ferry|error):/.test(l));
  expect(r.code, r.stderr).toBe(code);
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  expect(await snapshot(sc)).toEqual(before);
  return r;
}

const good = () => ['--from', source.url];

describe('bad input', () => {
  it('unreachable source → exit 2', async () => {
    const port = await freePort();
    const r = await expectRefused(['run', '--from', `redis://127.0.0.1:${port}`, '--to', target.url, '--yes'], 2, /cannot reach redis:\/\/127\.0\.0\.1:\d+ \(connection refused\); check --from/);
    // besides the human step log (→ ✓ ✗ ! and indented lines), exactly one line: the error
    expect(r.stderr.split('\n').filter((l) => l && !/^([→✓✗!]|  )/.test(l))).toHaveLength(1);
  });

  it('wrong password → exit 2, and the password is not printed', async () => {
    const r = await expectRefused(['run', '--from', `redis://:wrong-pw@127.0.0.1:${source.port}`, '--to', target.url, '--yes', '--json'], 2, /refused the password; check the credentials in --from or FERRY_FROM_PASSWORD/);
    expect(r.stderr + r.stdout).not.toContain('wrong-pw');
    expect(r.stderr.trim().split('\n')).toHaveLength(1); // --json: stderr carries only the error
  });

  it('missing password → exit 2 naming FERRY_FROM_PASSWORD', async () => {
    await expectRefused(['plan', '--from', `redis://127.0.0.1:${source.port}`, '--to', target.url], 2, /requires a password.*FERRY_FROM_PASSWORD/);
  });

  it('the same server twice → exit 3', async () => {
    await expectRefused(['run', ...good(), '--to', source.url, '--yes', '--json'], 3, /same server.*point --to at the new instance/);
  });

  it('a target that holds keys → exit 3 naming --flush-target', async () => {
    const before = await snapshot(full.client());
    await expectRefused(['run', ...good(), '--to', full.url, '--yes', '--json'], 3, /holds 3 keys.*--flush-target/);
    expect(await snapshot(full.client())).toEqual(before);
  });

  it('unknown flag → exit 2', async () => {
    const r = await expectRefused(['run', ...good(), '--to', target.url, '--bogus'], 2, /unknown option '--bogus'/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a TLS certificate file that cannot be read → exit 2 naming its flag, no state file', async () => {
    const missing = join(dir, 'no-such-ca.pem');
    const states = () => (existsSync(join(dir, '.ferry')) ? readdirSync(join(dir, '.ferry')).length : 0);
    const before = states();
    const r = await expectRefused(['run', ...good(), '--to', target.url, '--tls-ca', missing, '--yes'], 2, /^ferry: --tls-ca .*no-such-ca\.pem: cannot read it \(ENOENT\); give the path of a PEM file$/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(states()).toBe(before);
    await expectRefused(['sync', ...good(), '--to', target.url, '--tls-key', missing, '--until-caught-up'], 2, /^ferry: --tls-key .*: cannot read it/);
  });

  it('malformed URL → exit 2', async () => {
    const r = await expectRefused(['run', '--from', 'redis://127.0.0.1:99999', '--to', target.url, '--yes'], 2, /--from: .*port|out of range/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    await expectRefused(['plan', '--from', 'http://x', '--to', target.url], 2, /unsupported scheme/);
    await expectRefused(['plan', ...good(), '--to', 'start:abc'], 2, /--to: "start:abc" has no valid port/);
    await expectRefused(['plan', ...good(), '--to', target.url, '--retire', 'maybe'], 2, /--retire: "maybe" is not one of/);
  });

  it('no terminal and no --yes → exit 2 naming --yes, before touching anything', async () => {
    await expectRefused(['run', ...good(), '--to', target.url], 2, /pass --yes/);
  });

  it('--to start on a port that is taken → exit 2 naming start:PORT', async () => {
    await expectRefused(['run', ...good(), '--to', `start:${target.port}`, '--yes', '--json'], 2, new RegExp(`port ${target.port} on 127.0.0.1 is in use; choose another with --to start:PORT`));
  });

  it('--to start without a redis-server binary → exit 2 naming the fix', async () => {
    const r = await ferry(['run', ...good(), '--to', 'start', '--yes', '--json'], { cwd: dir, env: { FERRY_REDIS_SERVER: '/nonexistent/redis-server' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ferry: cannot run \/nonexistent\/redis-server: install redis-server \(apt-get install redis-server\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--to start with a config line redis-server refuses → exit 2 naming --server-arg', async () => {
    await expectRefused(['run', ...good(), '--to', 'start', '--server-arg', 'maxmemory banana', '--repoint', 'none', '--yes', '--json'], 2, /redis-server refused its config \(argument must be a memory value\); check --server-arg/);
  });

  it('--sync names the allowed modes; the default (engine) plan states the full-sync writer and why', async () => {
    await expectRefused(['run', ...good(), '--to', target.url, '--sync', 'rsync', '--yes'], 2, /--sync: "rsync" is not one of/);
    const plan = await ferry(['plan', ...good(), '--to', target.url]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/\(sync: engine\)/);
    expect(plan.stdout).toMatch(/full-sync writer: RESTORE .*RDB 10/);
  });
});

describe('dry run', () => {
  it('plan and run --dry-run print every step and change nothing on either server', async () => {
    const tc = target.client();
    const beforeS = await snapshot(sc);
    const beforeT = await snapshot(tc);
    const env = { FERRY_FROM_PASSWORD: 'pw1' };
    const cwd = join(dir, 'dry');
    mkdirSync(cwd);
    const from = `redis://127.0.0.1:${source.port}`;
    const human = await ferry(['plan', '--from', from, '--to', target.url, '--sync', 'native'], { cwd, env });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^ 1 {2}preflight/m);
    expect(human.stdout).toMatch(/^ +target +CONFIG SET masterauth <redacted>$/m);
    expect(human.stdout).toMatch(new RegExp(`^ +target +REPLICAOF 127.0.0.1 ${source.port}$`, 'm'));
    expect(human.stdout).toMatch(/^ +source +CLIENT PAUSE 10000 WRITE$/m);
    expect(human.stdout).not.toContain('pw1');
    const json = await ferry(['run', '--dry-run', '--json', '--from', from, '--to', target.url], { cwd, env });
    expect(json.code, json.stderr).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan.version).toBe(1);
    expect(plan.steps.map((s: { id: string }) => s.id)).toEqual(['preflight', 'provision', 'backlog', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'fence', 'promote', 'final-check', 'reparent', 'retire']);
    expect(json.stdout).not.toContain('pw1');
    expect(existsSync(join(cwd, '.ferry'))).toBe(false); // no state file either
    expect(await snapshot(sc)).toEqual(beforeS);
    expect(await snapshot(tc)).toEqual(beforeT);
  });
});
