/**
 * A write load paced to a number of bytes per second of replication stream: SETs of `valueBytes`
 * values over a small, fixed set of keys (so the dataset stays small however long it runs),
 * pipelined every 10 ms from a token bucket that holds at most 50 ms of writes: it writes at most
 * the rate asked over any stretch of time (a slow or busy machine writes less, never more, and
 * never catches up in one burst) and ends by itself after `maxMs`, on the first error reply, and
 * when its connection ends.
 * Shared by the backlog bench and the backlog tests (test/helpers/rate-writer.ts).
 */
import type { Redis } from 'ioredis';

export interface RateWriterOptions {
  /** Replication stream bytes per second to aim at (each SET counts as its value plus the key). */
  bytesPerSec: number;
  /** Size of each value (default 16 KiB). */
  valueBytes?: number;
  /** Keys written in turn (default 64). */
  keys?: number;
  prefix?: string;
  /** Stops by itself after this long (default 60 s). */
  maxMs?: number;
}

export interface RateWriterReport {
  writes: number;
  /** Bytes of values written (the stream carries a few dozen more per SET). */
  bytes: number;
  ms: number;
}

export interface RateWriter {
  /** Why it ended by itself (connection ended, error reply, time limit), or null while it runs. */
  readonly error: Error | null;
  /** Stops it; resolves once the last pipeline is answered. */
  stop(): Promise<RateWriterReport>;
}

const TICK_MS = 10;
/** The most the writer may send at once after falling behind: this long of writes. */
const BURST_MS = 50;

/** Starts writing at `bytesPerSec` on `c`. */
export function startRateWriter(c: Redis, o: RateWriterOptions): RateWriter {
  const valueBytes = o.valueBytes ?? 16 * 1024;
  const keys = o.keys ?? 64;
  const prefix = o.prefix ?? 'rate';
  const maxMs = o.maxMs ?? 60_000;
  const value = Buffer.alloc(valueBytes, 'x');
  const started = Date.now();
  let writes = 0;
  const burst = Math.max(valueBytes, (o.bytesPerSec * BURST_MS) / 1000);
  let tokens = 0;
  let last = started;
  let stopping = false;
  let error: Error | null = null;
  const onEnd = (): void => {
    error ??= new Error(`the connection to ${c.options.host}:${c.options.port} ended`);
  };
  c.once('end', onEnd);
  const run = (async () => {
    while (!stopping && !error) {
      if (c.status === 'end') onEnd();
      else if (Date.now() - started > maxMs) error = new Error(`still running after its limit of ${maxMs} ms`);
      if (error) break;
      const now = Date.now();
      tokens = Math.min(tokens + ((now - last) / 1000) * o.bytesPerSec, burst);
      last = now;
      const due = Math.floor(tokens / valueBytes);
      if (due > 0) {
        const p = c.pipeline();
        const n = Math.min(due, 1024);
        tokens -= n * valueBytes;
        for (let i = 0; i < n; i++) p.set(`${prefix}:${(writes + i) % keys}`, value);
        writes += n;
        try {
          const failed = ((await p.exec()) ?? []).find(([e]) => e);
          if (failed) error = new Error(`the server answered an error: ${failed[0]!.message}`);
        } catch (e) {
          error = e as Error;
        }
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
  })();
  return {
    get error() {
      return error;
    },
    async stop() {
      stopping = true;
      await run;
      c.off('end', onEnd);
      return { writes, bytes: writes * valueBytes, ms: Date.now() - started };
    },
  };
}
