/**
 * Filters on the RDB and on the stream: --include/--exclude globs and --db-map. The target ends up
 * with exactly the matching keys (values equal), in the mapped db.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedis, type TestServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/engine.js';
import { CHECKPOINT_KEY } from '../../src/engine/checkpoint.js';

const FERRY = join(process.cwd(), 'bin', 'ferry');

describe('ferry sync with filters', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('copies only matching keys, into the mapped db, from the RDB and from the stream', async () => {
    const [source, target] = await Promise.all([startRedis(), startRedis()]);
    servers.push(source, target);
    const src = source.client();
    const dst = target.client();
    const p = src.pipeline();
    for (let i = 0; i < 300; i++) {
      p.set(`keep:${i}`, `v${i}`);
      p.set(`keep:tmp:${i}`, `t${i}`);
      p.hset(`other:${i}`, 'f', i);
    }
    await p.exec();
    const child = execa(FERRY, ['sync', '--from', source.url, '--to', target.url, '--include', 'keep:*', '--exclude', 'keep:tmp:*', '--db-map', '0:3', '--json'], { reject: false, timeout: 40_000 });
    const t3 = target.client();
    await t3.select(3);
    await waitFor(async () => (await dst.get(CHECKPOINT_KEY))?.includes('"stream"') ?? false, 20_000, 'stream phase');
    // Stream: single-key writes on both sides of the filter, a DEL and an MSET crossing it.
    await src.set('keep:new', 'n');
    await src.set('other:new', 'n');
    await src.set('keep:tmp:new', 'n');
    await src.del('keep:0', 'other:0', 'keep:tmp:0');
    await src.mset('keep:m', '1', 'other:m', '2');
    await src.multi().incr('keep:ctr').incr('other:ctr').exec();
    await waitFor(async () => (await t3.exists('keep:ctr')) === 1, 10_000, 'stream applied');
    child.kill('SIGINT');
    const res = await child;
    expect(res.exitCode, res.stderr).toBe(130);
    const want = (await src.keys('keep:*')).filter((k) => !k.startsWith('keep:tmp:')).sort();
    const got = (await t3.keys('*')).filter((k) => k !== CHECKPOINT_KEY).sort();
    expect(got).toEqual(want);
    expect(got).toContain('keep:m');
    expect(got).not.toContain('keep:0');
    for (const k of ['keep:1', 'keep:new', 'keep:m', 'keep:ctr']) expect(await t3.get(k)).toBe(await src.get(k));
    // Nothing but the checkpoint key (kept: no --state) in db 0.
    expect(await dst.keys('*')).toEqual([CHECKPOINT_KEY]);
  }, 60_000);
});
