/**
 * The suite cannot hang on a test whose load server dies: a child vitest runs a fixture that
 * SIGKILLs the server under a live mixed workload while waiting; it must fail within seconds
 * (not after its 50 s wait, and not never), naming the dead load. Plus the load registry itself:
 * a load stops by itself when its connection ends, and loads left running are stopped.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mixedWorkload } from './helpers/engine.js';
import { loadsRunning, stopAllLoads } from './helpers/loads.js';
import { startRedis } from './helpers/redis-server.js';

describe('suite guard', () => {
  it('a file whose load server is killed mid-run fails in seconds and does not hang', async () => {
    const t0 = Date.now();
    const res = await execa('npx', ['vitest', 'run', '--config', join('test', 'fixtures', 'vitest.fixtures.config.ts')], {
      reject: false,
      timeout: 45_000,
      env: { CI: 'true' },
      all: true,
    });
    const secs = (Date.now() - t0) / 1000;
    expect(res.timedOut, res.all).toBe(false);
    expect(res.exitCode, res.all).toBe(1);
    expect(res.all).toMatch(/background load "mixed w" stopped by itself/);
    // vitest's own start-up is most of this; the wait alone would have taken 50 s.
    expect(secs).toBeLessThan(30);
  }, 60_000);

  it('a load stops by itself when its connection ends, and stop() says why', async () => {
    const server = await startRedis();
    const c = server.client();
    const load = mixedWorkload(c, 'g', { opsPerSec: 2_000 });
    await new Promise((r) => setTimeout(r, 200));
    await server.stop();
    const deadline = Date.now() + 5_000;
    while (!load.error && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(load.error?.message).toMatch(/closed|error/);
    await expect(load.stop()).rejects.toThrow(/stopped by itself/);
  });

  it('stopAllLoads stops what a test left running', async () => {
    const server = await startRedis();
    try {
      mixedWorkload(server.client(), 'left', { opsPerSec: 2_000 });
      expect(loadsRunning()).toBe(1);
      expect(await stopAllLoads()).toEqual(['mixed left']);
      expect(loadsRunning()).toBe(0);
      const n = Number(await server.client().dbsize());
      await new Promise((r) => setTimeout(r, 200));
      expect(Number(await server.client().dbsize())).toBe(n);
    } finally {
      await server.stop();
    }
  });
});
