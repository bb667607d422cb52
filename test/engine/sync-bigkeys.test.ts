/**
 * Keys above RESTORE_LIMIT with the automatic writer (RESTORE): each one is written as chunked
 * commands instead of one RESTORE (so ferry never holds it whole), the small keys are still
 * RESTOREd, and the target ends identical to the source (DEBUG DIGEST).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RESTORE_LIMIT } from '../../src/engine/apply/key-writer.js';
import { parseRedisUrl } from '../../src/core/endpoint.js';
import { SyncEngine } from '../../src/engine/sync.js';
import { fillEveryType, pseudoRandomBytes } from '../helpers/dataset.js';
import { digest } from '../helpers/engine.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const DEBUG = ['--enable-debug-command', 'yes'];

/** Pipelined `cmd key …` with `per` elements per command. */
async function fill(c: ReturnType<TestServer['client']>, cmd: string, key: string, n: number, per: number, element: (i: number) => Array<string | number | Buffer>): Promise<void> {
  const p = c.pipeline();
  for (let j = 0; j < n; j += per) {
    const args: Array<string | number | Buffer> = [key];
    for (let k = j; k < Math.min(n, j + per); k++) args.push(...element(k));
    p.call(cmd, ...args);
  }
  for (const [err] of (await p.exec()) ?? []) if (err) throw err;
}

describe('full sync of keys above RESTORE_LIMIT (auto writer)', () => {
  let servers: TestServer[] = [];
  let engine: SyncEngine | null = null;
  afterEach(async () => {
    await engine?.stop().catch(() => {});
    engine = null;
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
  });

  it('writes each big key as chunked commands, RESTOREs the rest; digests equal', async () => {
    const [source, target] = await Promise.all([startRedis({ args: DEBUG }), startRedis({ args: DEBUG })]);
    servers.push(source, target);
    const src = source.client();
    const dst = target.client();
    const small = await fillEveryType(src, { debug: true, functions: false });
    // A hash a little above the limit in the RDB (every type takes the same switch: the parser's,
    // key-writer.test.ts), and a string above it (SET + APPEND pieces).
    await fill(src, 'HSET', 'big:hash', 180_000, 1000, (k) => [`field:${k}`, `value:${k}`]);
    await src.pexpire('big:hash', 3_600_000);
    await src.set('big:string', pseudoRandomBytes(RESTORE_LIMIT + 100_000, 7));
    const big = ['big:hash', 'big:string'];
    for (const k of big) {
      // A DUMP payload is the value as the RDB stores it (+ 11 bytes): the test sizes hold.
      expect((await src.dumpBuffer(k))!.length, k).toBeGreaterThan(RESTORE_LIMIT + 11);
    }

    engine = new SyncEngine({ from: parseRedisUrl(source.url, '--from'), to: parseRedisUrl(target.url, '--to'), writer: 'auto' });
    await engine.start();
    await engine.waitCaughtUp(50, undefined, 45_000);
    const report = await engine.stop({ removeCheckpoint: true });
    engine = null;

    expect(report.writer).toBe('restore');
    expect(report.fullSyncs).toBe(1);
    expect(report.chunkedKeys).toBe(big.length);
    expect(report.restoredKeys).toBeGreaterThan(small.keys / 2);
    expect(report.keys).toBe(await src.dbsize());
    expect(await digest(dst)).toBe(await digest(src));
    expect(await dst.pttl('big:hash')).toBeGreaterThan(3_000_000);
  }, 60_000);
});
