/**
 * Helpers for engine tests: digests, replication counters, a mixed write workload that exercises
 * the stream (transactions, SELECT, expiries, deletes), and a counter workload for exactly-once.
 */
import type { Redis } from 'ioredis';
import { assertLoadsHealthy, pacer, trackLoad, untrackLoad } from './loads.js';

/** DEBUG DIGEST (servers must run with --enable-debug-command yes). */
export async function digest(c: Redis): Promise<string> {
  return String(await c.call('DEBUG', 'DIGEST'));
}

/** sync_full / sync_partial_ok / sync_partial_err from INFO stats. */
export async function syncCounters(c: Redis): Promise<{ full: number; partialOk: number; partialErr: number }> {
  const info = await c.info('stats');
  const n = (k: string): number => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? -1);
  return { full: n('sync_full'), partialOk: n('sync_partial_ok'), partialErr: n('sync_partial_err') };
}

/**
 * Waits until `cond()` is true, polling; throws after `ms`, and at once when a background load of
 * the test has died (its server is gone: waiting longer cannot help).
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    assertLoadsHealthy();
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface Workload {
  /** Stops the load; resolves with the operations written. Rejects if the load had died by itself. */
  stop(): Promise<number>;
  /** Why the load ended by itself, or null. */
  readonly error: Error | null;
}

export interface WorkloadOptions {
  /** Operations per second at most (default 10,000: about 1 MB/s of replication stream). */
  opsPerSec?: number;
  /** The load stops by itself after this long (default 60 s). */
  maxMs?: number;
}

/**
 * Runs `batch()` (one pipeline; resolves with its replies) until stopped, paced, registered as a
 * background load. It ends by itself, recording why, when the connection ends, when a pipeline
 * fails or answers an error (the server went away or refused), or at `maxMs`.
 */
function runLoad<T>(name: string, c: Redis, opts: WorkloadOptions, batch: () => Promise<[Error | null, unknown][] | null>, ops: number, result: () => T): { stop(): Promise<T>; readonly error: Error | null } {
  let stop = false;
  let error: Error | null = null;
  const pace = pacer(opts.opsPerSec ?? 10_000);
  const started = Date.now();
  const maxMs = opts.maxMs ?? 60_000;
  const onEnd = (): void => {
    error ??= new Error(`the connection to ${c.options.host}:${c.options.port} closed`);
  };
  c.once('end', onEnd);
  const run = (async () => {
    while (!stop && !error) {
      if (c.status === 'end') onEnd();
      else if (Date.now() - started > maxMs) error = new Error(`still running after its limit of ${maxMs} ms`);
      if (error) break;
      try {
        const res = (await batch()) ?? [];
        const failed = res.find(([e]) => e);
        if (failed) error = new Error(`the server answered an error: ${failed[0]!.message}`);
      } catch (e) {
        error = e as Error;
      }
      await pace(ops);
    }
  })();
  const load = {
    name,
    get error() {
      return error;
    },
    async halt() {
      stop = true;
      await run;
      c.off('end', onEnd);
    },
  };
  trackLoad(load);
  return {
    get error() {
      return error;
    },
    async stop() {
      await load.halt();
      untrackLoad(load);
      if (error) throw new Error(`background load "${name}" had stopped by itself: ${error.message}`);
      return result();
    },
  };
}

/**
 * Writes a mix of commands in pipelines until stopped: strings, INCR, hashes, lists, sets, zsets,
 * expiries, deletes, MULTI/EXEC blocks and writes in db 1 (so the stream carries SELECTs).
 */
export function mixedWorkload(c: Redis, prefix = 'w', opts: WorkloadOptions = {}): Workload {
  let n = 0;
  return runLoad(`mixed ${prefix}`, c, opts, () => {
    const p = c.pipeline();
    for (let i = 0; i < 50; i++, n++) {
      const k = `${prefix}:${n % 500}`;
      switch (n % 9) {
        case 0: p.set(k, `v${n}`); break;
        case 1: p.incr(`${prefix}:ctr:${n % 17}`); break;
        case 2: p.hset(`${prefix}:h:${n % 31}`, `f${n % 7}`, n); break;
        case 3: p.rpush(`${prefix}:l:${n % 13}`, `e${n}`); break;
        case 4: p.sadd(`${prefix}:s:${n % 11}`, `m${n % 97}`); break;
        case 5: p.zadd(`${prefix}:z:${n % 5}`, n % 1000, `m${n % 50}`); break;
        case 6: p.pexpire(k, 600_000 + n); break;
        case 7: p.del(`${prefix}:${(n + 250) % 500}`); break;
        // NOTE: MULTI inside a pipeline works in ioredis but is missing from its types.
        case 8: (p as unknown as { multi(): typeof p }).multi().incr(`${prefix}:tx`).lpush(`${prefix}:txl`, n).exec(); break;
      }
    }
    p.select(1).set(`${prefix}:db1:${n % 100}`, n).select(0);
    return p.exec();
  }, 50, () => n);
}

/**
 * INCRs counters `${prefix}:0..counters-1` in pipelines and keeps the acknowledged count of each,
 * so a test can check the target's values exactly.
 */
export function incrWorkload(c: Redis, counters = 20, prefix = 'ctr', opts: WorkloadOptions = {}): { stop(): Promise<number[]>; readonly error: Error | null } {
  const acked = new Array<number>(counters).fill(0);
  let i = 0;
  return runLoad(`incr ${prefix}`, c, opts, async () => {
    const p = c.pipeline();
    const ids: number[] = [];
    for (let j = 0; j < 100; j++, i++) {
      const id = (i * 7) % counters;
      ids.push(id);
      p.incr(`${prefix}:${id}`);
    }
    const res = (await p.exec()) ?? [];
    res.forEach(([err], j) => {
      if (!err) acked[ids[j]]++;
    });
    return res;
  }, 100, () => acked);
}
