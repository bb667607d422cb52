/**
 * A sync that restarts by itself is a hazard the procedure warns about ("syncs loop"): the replica
 * keeps asking for full syncs and converge, whose bytes keep moving, would wait for ever. Here the
 * target's data dir is removed after it started, so every disk-based full sync fails to open its
 * temp file and the replica retries about once a second. converge must fail (exit 4) within
 * seconds, naming the loop, instead of hanging.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ferry, fill, jsonEvents } from './helpers/cli.js';
import { startRedis, type TestServer } from './helpers/redis-server.js';

const live: TestServer[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((s) => s.stop()));
});

describe('converge stops a looping full sync', () => {
  it('native sync into a target that cannot store the RDB: exit 4 naming the loop', async () => {
    const [source, target] = await Promise.all([startRedis(), startRedis({ args: ['--repl-diskless-load', 'disabled'] })]);
    live.push(source, target);
    const c = source.client();
    await fill(c, 100);
    c.disconnect();
    rmSync(target.dir, { recursive: true, force: true });
    const t0 = Date.now();
    const res = await ferry(['run', '--from', source.url, '--to', target.url, '--sync', 'native', '--repoint', 'none', '--yes', '--json', '--state', `${source.dir}/state.json`], { timeoutMs: 50_000 });
    expect(res.code, res.stderr).toBe(4);
    const failed = jsonEvents(res.stdout).find((e) => e.event === 'failed');
    expect(failed?.error).toMatch(/full sync restarted by itself/);
    expect(Date.now() - t0).toBeLessThan(45_000);
    // Nothing on the source changed for good: it is still a master with its keys.
    const s = source.client();
    expect(await s.dbsize()).toBe(100);
    expect(String(await s.info('replication'))).toMatch(/role:master/);
  }, 60_000);
});
