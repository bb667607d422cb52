/**
 * `ferry run` with the embedded engine (the default sync mode) under a live write load with a
 * repoint hook: exit 0, every acknowledged write is on the target, the checkpoint key is gone.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_KEY } from '../../src/engine/checkpoint.js';
import { fillEveryType } from '../helpers/dataset.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';
import { missingKeys, pointMasterFile, startWriteLoad } from '../helpers/write-load.js';

const FERRY = join(process.cwd(), 'bin', 'ferry');

describe('ferry run (engine, the default)', () => {
  const servers: TestServer[] = [];
  let dir = '';
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('migrates under load with a repoint hook and loses no acknowledged write', async () => {
    const [source, target] = await Promise.all([startRedis(), startRedis()]);
    servers.push(source, target);
    dir = mkdtempSync(join(tmpdir(), 'ferry-run-engine-'));
    const seed = source.client();
    await fillEveryType(seed, { bulk: 5000 });
    seed.disconnect(); // the drain waits for every non-ferry client to leave the old master
    const masterFile = join(dir, 'master');
    pointMasterFile(masterFile, source.host, source.port);
    const load = startWriteLoad({ masterFile, lanes: 8, maxMs: 50_000 });
    await new Promise((r) => setTimeout(r, 300));
    const hook = `exec:printf '%s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${masterFile}.tmp && mv ${masterFile}.tmp ${masterFile}`;
    const run = await execa('node', [FERRY, 'run', '--from', source.url, '--to', target.url, '--repoint', hook, '--yes', '--json', '--state', join(dir, 'state.json'), '--drain-timeout', '10000'], {
      reject: false,
      timeout: 50_000,
      cwd: dir,
      stdin: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 300));
    const report = await load.stop();
    expect(run.exitCode, run.stderr).toBe(0);
    const events = String(run.stdout).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const final = events[events.length - 1];
    expect(final.event).toBe('done');
    expect(events.some((e) => e.event === 'info' && /engine writer: RESTORE/.test(e.message))).toBe(true);
    expect(report.switches).toBe(1);
    const t = target.client();
    expect(await missingKeys(t, report.acked)).toEqual([]);
    expect(await t.exists(CHECKPOINT_KEY)).toBe(0);
    expect(await t.dbsize()).toBeGreaterThanOrEqual(5000 + report.acked.length);
    console.log(`engine run: ${report.acked.length} acked writes at ${Math.round(report.writesPerSecond)}/s, longest write stall ${report.longestGapMs} ms, old master paused ${final.report?.pauseMs} ms`);
  }, 60_000);
});
