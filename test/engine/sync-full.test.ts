/**
 * `ferry sync --until-caught-up` end to end: a source holding every type and encoding (Engine I's
 * fillEveryType) plus 200k bulk keys, a live mixed writer during the full sync; at the end DEBUG
 * DIGEST of source and target are equal — with diskless sync on and off, and with the commands
 * writer (the path for targets too old for the source's RESTORE payloads).
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_KEY } from '../../src/engine/checkpoint.js';
import { fillEveryType } from '../helpers/dataset.js';
import { digest, mixedWorkload, syncCounters, waitFor } from '../helpers/engine.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const FERRY = join(process.cwd(), 'bin', 'ferry');
const DEBUG = ['--enable-debug-command', 'yes'];

describe('ferry sync --until-caught-up: digests equal', () => {
  let servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
  });

  const cases = [
    { name: 'diskless sync, RESTORE writer', diskless: 'yes', bulk: 200_000, writer: 'auto' },
    { name: 'disk-based sync, RESTORE writer', diskless: 'no', bulk: 200_000, writer: 'auto' },
    { name: 'diskless sync, commands writer', diskless: 'yes', bulk: 20_000, writer: 'commands' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const source = await startRedis({ args: [...DEBUG, '--repl-diskless-sync', c.diskless, '--repl-backlog-size', '16mb'] });
      const target = await startRedis({ args: DEBUG });
      servers.push(source, target);
      const src = source.client();
      const dst = target.client();
      const filled = await fillEveryType(src, { debug: true, bulk: 2000 });
      await src.call('DEBUG', 'POPULATE', String(c.bulk), 'pop');
      await src.select(2);
      await fillEveryType(src, { prefix: 'db2:', functions: false });
      await src.select(0);
      const load = mixedWorkload(src);
      const child = execa(FERRY, ['sync', '--from', source.url, '--to', target.url, '--until-caught-up', '--json', '--writer', c.writer], { reject: false, timeout: 50_000 });
      // The writer runs through the fork and the transfer, and stops once the target is loading.
      await waitFor(async () => (await dst.get(CHECKPOINT_KEY))?.includes('"rdb"') ?? false, 30_000, 'full sync start');
      const written = await load.stop();
      const res = await child;
      expect(res.exitCode, res.stderr).toBe(0);
      const events = res.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const done = events.find((e) => e.event === 'done');
      expect(done.report.fullSyncs).toBe(1);
      expect(done.report.keys).toBeGreaterThanOrEqual(filled.keys + c.bulk);
      expect(done.report.writer).toBe(c.writer === 'auto' ? 'restore' : 'commands');
      expect(written).toBeGreaterThan(0);
      expect(await dst.exists(CHECKPOINT_KEY)).toBe(0);
      expect(await digest(dst)).toBe(await digest(src));
      expect(await dst.dbsize()).toBe(await src.dbsize());
      expect(await dst.call('FUNCTION', 'LIST')).toEqual(await src.call('FUNCTION', 'LIST'));
      expect((await syncCounters(src)).full).toBe(1);
    }, 60_000);
  }
});
