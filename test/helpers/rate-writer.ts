/**
 * The paced writer of bench/rate-writer.ts as a test's background load: registered (test/setup.ts
 * stops it after each test, and `waitFor` fails at once when it died), stopped by itself when its
 * connection ends or after its time limit.
 */
import type { Redis } from 'ioredis';
import { startRateWriter as start, type RateWriterOptions, type RateWriterReport } from '../../bench/rate-writer.js';
import { trackLoad, untrackLoad } from './loads.js';

export type { RateWriterOptions, RateWriterReport };

/** Starts the writer; `stop()` rejects if it had ended by itself with an error. */
export function startRateWriter(c: Redis, o: RateWriterOptions): { stop(): Promise<RateWriterReport>; readonly error: Error | null } {
  const w = start(c, o);
  let report: RateWriterReport | undefined;
  const load = {
    name: `rate writer ${o.prefix ?? 'rate'} (${o.bytesPerSec} B/s)`,
    get error() {
      return w.error;
    },
    async halt() {
      report ??= await w.stop();
    },
  };
  trackLoad(load);
  return {
    get error() {
      return w.error;
    },
    async stop() {
      await load.halt();
      untrackLoad(load);
      if (w.error) throw new Error(`background load "${load.name}" had stopped by itself: ${w.error.message}`);
      return report!;
    },
  };
}
