/**
 * The source link cut 10 times during the stream phase (through a TCP proxy) under a live mixed
 * workload: every reconnect is a partial resync (+CONTINUE), the source counts exactly one full
 * sync, and the digests match at the end. Then the backlog outrun on purpose: a full resync, and
 * the digests still match.
 *
 * NOTE: the workload is paced (10k ops/s, about 1 MB/s of stream) and the source's backlog holds
 * 64 MB, a minute of it: whether a cut gets +CONTINUE depends on the engine, not on how fast this
 * machine writes or how long a busy core delays the reconnect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../src/core/endpoint.js';
import { SyncEngine } from '../../src/engine/sync.js';
import { CHECKPOINT_KEY } from '../../src/engine/checkpoint.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { digest, mixedWorkload, syncCounters, waitFor } from '../helpers/engine.js';

const DEBUG = ['--enable-debug-command', 'yes'];
const BACKLOG = ['--repl-backlog-size', '64mb'];

describe('engine link cuts during the stream phase', () => {
  let source: TestServer;
  let target: TestServer;
  let proxy: TcpProxy;

  beforeAll(async () => {
    [source, target] = await Promise.all([startRedis({ args: [...DEBUG, ...BACKLOG] }), startRedis({ args: DEBUG })]);
    proxy = await startTcpProxy(source.port);
  });
  // Engines still running after a failed or timed-out test are stopped, so nothing outlives the file.
  const engines: SyncEngine[] = [];
  const track = (e: SyncEngine): SyncEngine => (engines.push(e), e);
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.stop().catch(() => {})));
    await proxy?.close();
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('resumes with +CONTINUE after each of 10 cuts and ends with equal digests', async () => {
    const src = source.client();
    const dst = target.client();
    for (let i = 0; i < Number(process.env.PRE ?? 2000); i++) await src.set(`pre:${i}`, `value-${i}`);
    const events: string[] = [];
    const engine = track(new SyncEngine({
      from: parseRedisUrl(`redis://127.0.0.1:${proxy.port}`, '--from'),
      to: parseRedisUrl(target.url, '--to'),
      emit: (e) => {
        if (e.event === 'warning' || e.event === 'info') events.push(e.message);
      },
    }));
    await engine.start();
    await waitFor(() => engine.phase === 'stream', 20_000, 'stream phase');
    const load = mixedWorkload(src, 'w', { opsPerSec: 10_000 });
    for (let cut = 1; cut <= 10; cut++) {
      await new Promise((r) => setTimeout(r, 150));
      proxy.cut();
      await waitFor(async () => (await syncCounters(src)).partialOk >= cut, 10_000, `partial resync #${cut}`);
      await waitFor(() => engine.phase === 'stream', 10_000, 'stream phase again');
    }
    const written = await load.stop();
    expect(written).toBeGreaterThan(1000);
    // Every cut was followed by a reconnect at once (no back-off after a working link).
    expect(events.filter((m) => /source link lost/.test(m)).every((m) => /reconnecting now/.test(m))).toBe(true);
    await engine.waitCaughtUp(100, undefined, 30_000);
    const report = await engine.stop({ removeCheckpoint: true });
    const counters = await syncCounters(src);
    expect(counters.full).toBe(1);
    expect(counters.partialOk).toBe(10);
    expect(report.fullSyncs).toBe(1);
    expect(report.partialSyncs).toBe(10);
    expect(await dst.exists(CHECKPOINT_KEY)).toBe(0);
    expect(await digest(dst)).toBe(await digest(src));
  }, 60_000);

  it('refuses to flush a target clients may write to when the master answers +FULLRESYNC', async () => {
    const dst = target.client();
    await dst.flushall();
    // A checkpoint the source's backlog cannot serve (unknown replid) and a key a client wrote.
    await dst.set(CHECKPOINT_KEY, JSON.stringify({ v: 1, replid: 'f'.repeat(40), offset: 5, db: 0, phase: 'stream' }));
    await dst.set('client:write', 'precious');
    const engine = track(new SyncEngine({
      from: parseRedisUrl(source.url, '--from'),
      to: parseRedisUrl(target.url, '--to'),
      canFlushTarget: () => false,
    }));
    await engine.start();
    await expect(engine.done()).rejects.toThrow(/would delete the writes clients made on the target/);
    expect(await dst.get('client:write')).toBe('precious');
  }, 30_000);

  it('closes a silent link after the timeout and resumes with +CONTINUE', async () => {
    const src = source.client();
    const dst = target.client();
    await dst.flushall();
    const before = await syncCounters(src);
    const engine = track(new SyncEngine({
      from: parseRedisUrl(`redis://127.0.0.1:${proxy.port}`, '--from'),
      to: parseRedisUrl(target.url, '--to'),
      silenceTimeoutMs: 800,
    }));
    await engine.start();
    await waitFor(() => engine.phase === 'stream', 20_000, 'stream phase');
    // The master PINGs only every 10 s: a 2.5 s stall in both directions trips the 0.8 s timeout.
    const stalled = proxy.stall(2500);
    await src.set('during:stall', '1');
    await stalled;
    await waitFor(async () => (await syncCounters(src)).partialOk > before.partialOk, 10_000, 'partial resync after the stall');
    await src.set('after:stall', '1');
    await engine.waitCaughtUp(100, undefined, 30_000);
    const report = await engine.stop({ removeCheckpoint: true });
    expect(report.reconnects).toBeGreaterThanOrEqual(1);
    expect((await syncCounters(src)).full).toBe(before.full + 1);
    expect(await digest(dst)).toBe(await digest(src));
  }, 40_000);

  it('keeps SWAPDB and MOVE exact and the checkpoint key in db 0 only', async () => {
    const src = source.client();
    const dst = target.client();
    await dst.flushall();
    const engine = track(new SyncEngine({ from: parseRedisUrl(source.url, '--from'), to: parseRedisUrl(target.url, '--to') }));
    await engine.start();
    await waitFor(() => engine.phase === 'stream', 20_000, 'stream phase');
    for (let i = 0; i < 5; i++) {
      await src.set(`swap:${i}`, i);
      await src.call('SWAPDB', '0', '1');
      await src.set(`moved:${i}`, i);
      await src.move(`moved:${i}`, 2);
    }
    await engine.waitCaughtUp(100, undefined, 30_000);
    const inDb1 = target.client();
    await inDb1.select(1);
    expect(await inDb1.exists(CHECKPOINT_KEY)).toBe(0);
    expect(await dst.exists(CHECKPOINT_KEY)).toBe(1);
    await engine.stop({ removeCheckpoint: true });
    expect(await digest(dst)).toBe(await digest(src));
  }, 30_000);

  it('does a full resync when the link is down longer than the backlog covers, and ends equal', async () => {
    // Its own source with the smallest backlog Redis allows (16 kB), so the outrun is certain.
    const small = await startRedis({ args: [...DEBUG, '--repl-backlog-size', '16384'] });
    const cutter = await startTcpProxy(small.port);
    try {
      const src = small.client();
      const dst = target.client();
      await dst.flushall();
      const warnings: string[] = [];
      const engine = track(new SyncEngine({
        from: parseRedisUrl(`redis://127.0.0.1:${cutter.port}`, '--from'),
        to: parseRedisUrl(target.url, '--to'),
        emit: (e) => {
          if (e.event === 'warning' || e.event === 'info') warnings.push(e.message);
        },
      }));
      await engine.start();
      await waitFor(() => engine.phase === 'stream', 20_000, 'stream phase');
      // The link is held (no byte either way) while 1 MB is written: 64 times the backlog.
      const stalled = cutter.stall(1500);
      for (let i = 0; i < 64; i++) await src.set(`big:${i}`, 'x'.repeat(16 * 1024));
      cutter.cut();
      await stalled;
      await waitFor(async () => (await syncCounters(src)).full >= 2, 20_000, 'the second full sync');
      await engine.waitCaughtUp(100, undefined, 30_000);
      const report = await engine.stop({ removeCheckpoint: true });
      expect(report.fullSyncs).toBe(2);
      expect((await syncCounters(src)).partialErr).toBeGreaterThanOrEqual(1);
      expect(await digest(dst)).toBe(await digest(src));
    } finally {
      await cutter.close();
      await small.stop();
    }
  }, 60_000);
});
