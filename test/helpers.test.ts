import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestServer } from './helpers/redis-server.js';
import { missingKeys, pointMasterFile, startWriteLoad } from './helpers/write-load.js';

describe('test helpers', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    [a, b] = await Promise.all([startRedis(), startRedis()]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('write-load follows the master file and records acknowledged writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-load-'));
    const file = join(dir, 'master');
    pointMasterFile(file, a.host, a.port);
    const load = startWriteLoad({ masterFile: file, maxMs: 30_000 });
    // NOTE: wait for acknowledged writes, not for a fixed time: a busy machine may be slow to connect.
    const acksAtLeast = async (n: number) => {
      for (let i = 0; i < 500 && load.ackedCount() < n; i++) await new Promise((r) => setTimeout(r, 20));
    };
    await acksAtLeast(100);
    pointMasterFile(file, b.host, b.port);
    await new Promise((r) => setTimeout(r, 300)); // the watcher polls the file every 20 ms
    await acksAtLeast(load.ackedCount() + 100);
    const report = await load.stop();
    expect(report.switches).toBe(1);
    expect(report.acked.length).toBeGreaterThan(100);
    const ca = a.client();
    const cb = b.client();
    const onA = report.acked.length - (await missingKeys(ca, report.acked)).length;
    const onB = report.acked.length - (await missingKeys(cb, report.acked)).length;
    expect(onA).toBeGreaterThan(0);
    expect(onB).toBeGreaterThan(0);
    expect(onA + onB).toBe(report.acked.length);
    rmSync(dir, { recursive: true, force: true });
  });

  it('stop() kills the server by pid', async () => {
    const s = await startRedis();
    const pid = s.pid;
    await s.stop();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
