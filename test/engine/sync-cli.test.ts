/**
 * `ferry sync` at its edges: a password-protected source (AUTH in the replica handshake, no secret
 * in any output), and bad input with its documented exit codes.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const FERRY = join(process.cwd(), 'bin', 'ferry');
const PW = 'pa55-w0rd-secret';

function ferry(args: string[]) {
  return execa(FERRY, args, { reject: false, timeout: 30_000, stdin: 'ignore' });
}

describe('ferry sync: auth and bad input', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('syncs from a password-protected source without printing the password', async () => {
    const [source, target] = await Promise.all([startRedis(), startRedis()]);
    servers.push(source, target);
    const src = source.client();
    for (let i = 0; i < 100; i++) await src.set(`k${i}`, i);
    await src.config('SET', 'requirepass', PW);
    const url = `redis://:${PW}@127.0.0.1:${source.port}`;
    const res = await ferry(['sync', '--from', url, '--to', target.url, '--until-caught-up', '--json']);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(await target.client().dbsize()).toBe(100);
    await target.client().flushall();
    expect(`${res.stdout}${res.stderr}`).not.toContain(PW);
    expect(res.stdout).toContain(':***@');

    const bad = await ferry(['sync', '--from', url.replace(PW, 'wrong'), '--to', target.url, '--until-caught-up']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/refused the password/);
    expect(bad.stderr).not.toContain('wrong@');
  }, 40_000);

  it('refuses a non-empty target (3) and bad flags (2) without touching the servers', async () => {
    const [source, target] = await Promise.all([startRedis(), startRedis()]);
    servers.push(source, target);
    await target.client().set('precious', '1');
    const busy = await ferry(['sync', '--from', source.url, '--to', target.url, '--until-caught-up']);
    expect(busy.exitCode).toBe(3);
    expect(busy.stderr).toMatch(/not empty.*--flush-target/);
    expect(await target.client().get('precious')).toBe('1');
    const map = await ferry(['sync', '--from', source.url, '--to', target.url, '--db-map', 'zero:1']);
    expect(map.exitCode).toBe(2);
    expect(map.stderr).toMatch(/--db-map/);
    const url = await ferry(['sync', '--from', 'http://x', '--to', target.url]);
    expect(url.exitCode).toBe(2);
    const writer = await ferry(['sync', '--from', source.url, '--to', target.url, '--writer', 'fast']);
    expect(writer.exitCode).toBe(2);
    expect((await source.client().info('replication')).includes('connected_slaves:0')).toBe(true);
  }, 40_000);
});
