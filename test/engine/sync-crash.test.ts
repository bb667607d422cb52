/**
 * Exactly once: `ferry sync` is SIGKILLed three times during the stream phase while an INCR
 * workload runs; each restart with the same --state resumes with a partial resync, and in the end
 * every counter on the target equals the number of INCRs the source acknowledged.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_KEY } from '../../src/engine/checkpoint.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';
import { digest, incrWorkload, syncCounters, waitFor } from '../helpers/engine.js';

const DEBUG = ['--enable-debug-command', 'yes'];
const FERRY = join(process.cwd(), 'bin', 'ferry');

describe('ferry sync: SIGKILL during the stream phase, then resume', () => {
  let source: TestServer;
  let target: TestServer;
  let dir: string;

  beforeAll(async () => {
    // The backlog must cover the gap while ferry is down: the workload is paced at 10k INCR/s
    // (about 0.4 MB/s of stream), so 64 MB holds minutes of it, whatever the machine.
    [source, target] = await Promise.all([startRedis({ args: [...DEBUG, '--repl-backlog-size', '64mb'] }), startRedis({ args: DEBUG })]);
    dir = mkdtempSync(join(tmpdir(), 'ferry-crash-'));
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies every INCR exactly once across three kills', async () => {
    const src = source.client();
    const dst = target.client();
    const state = join(dir, 'sync.json');
    const args = ['sync', '--from', source.url, '--to', target.url, '--state', state];
    let load: ReturnType<typeof incrWorkload> | null = null;
    let child: ResultPromise | null = null;
    for (let round = 0; round < 3; round++) {
      child = execa(FERRY, args, { reject: false });
      // The workload starts once the first full sync is done and then never pauses.
      if (!load) {
        await waitFor(async () => (await dst.get(CHECKPOINT_KEY))?.includes('"stream"') ?? false, 20_000, 'first full sync');
        load = incrWorkload(src, 20);
      }
      // In the stream phase and applying: the checkpoint key in the target moves forward.
      let first = -1;
      await waitFor(async () => {
        const cp = await dst.get(CHECKPOINT_KEY);
        if (!cp || !cp.includes('"stream"')) return false;
        const off = JSON.parse(cp).offset as number;
        if (first < 0) first = off;
        return off > first;
      }, 20_000, 'stream progress');
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGKILL');
      await child;
      await new Promise((r) => setTimeout(r, 200));
    }
    const acked = await load!.stop();
    const final = await execa(FERRY, [...args, '--until-caught-up', '--json'], { reject: false, timeout: 30_000 });
    expect(final.exitCode, final.stderr).toBe(0);
    const counters = await syncCounters(src);
    expect(counters.full).toBe(1);
    expect(counters.partialOk).toBe(3);
    const values = await dst.mget(acked.map((_, i) => `ctr:${i}`));
    expect(values.map(Number)).toEqual(acked);
    expect(acked.reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);
    expect(await dst.exists(CHECKPOINT_KEY)).toBe(0);
    expect(await digest(dst)).toBe(await digest(src));
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    expect(saved.checkpoint.phase).toBe('stream');
    expect(JSON.stringify(saved)).not.toMatch(/pass/i);
  }, 60_000);
});
