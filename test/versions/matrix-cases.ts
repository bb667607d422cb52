/**
 * The cases of the version matrix (issue 11), shared by the matrix test files: for each pair the
 * engine path of `ferry run` (and native where the target reads the source's RDB), a live writer,
 * canonical equality, 0 acknowledged writes lost. Pairs run concurrently within a file.
 */
import { describe, expect, it } from 'vitest';
import { expectedWriter, finalReport, runPair, writerOf } from '../helpers/matrix.js';
import { HAVE_VERSIONS, MATRIX_TARGETS, type ServerVersion } from '../helpers/versions.js';

const hasFieldTtl = (v: ServerVersion): boolean => !v.valkey && v.redis >= 704;

/**
 * At most this many pairs of one file run at once: each is two servers, a ferry process and a
 * writer, and the suite runs two files side by side on a 2-core machine shared with other tests.
 */
const PAIRS_AT_ONCE = 3;

/** A counting semaphore: `run(fn)` waits for a free slot. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let free = n;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (free === 0) await new Promise<void>((r) => waiting.push(r));
    else free--;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

/** Registers one concurrent test per pair of `sources` × the matrix targets. */
export function matrixSuite(title: string, sources: ServerVersion[], sync: 'engine' | 'native'): void {
  const slot = limiter(PAIRS_AT_ONCE);
  describe.skipIf(!HAVE_VERSIONS).concurrent(title, () => {
    for (const s of sources) {
      for (const t of MATRIX_TARGETS) {
        if (sync === 'native' && t.rdb < s.rdb) continue; // refused in preflight (versions-refusals.test.ts)
        // 7.4's field TTLs into a target without them: only with the opt-in (its refusal is tested apart).
        const drop = sync === 'engine' && hasFieldTtl(s) && !hasFieldTtl(t);
        it(`${s.name} -> ${t.name}${drop ? ' (--drop-field-ttl)' : ''}`, async () => {
          const r = await slot(() => runPair(s, t, { sync, flags: drop ? ['--drop-field-ttl'] : [] }));
          expect(r.exitCode, `${r.stderr}\n${JSON.stringify(r.events.at(-1))}`).toBe(0);
          expect(r.diff).toEqual([]);
          expect(r.missing).toEqual([]);
          expect(r.acked).toBeGreaterThan(0);
          expect(r.mixOps).toBeGreaterThan(0);
          const report = finalReport(r.events);
          expect(report.pauseMs).toBeGreaterThan(0);
          if (sync === 'engine') expect(writerOf(r.events)).toMatch(new RegExp(`^engine writer: ${expectedWriter(s, t)}`));
          // 2 + 3 fields of the dataset, and the command mix's HEXPIREs in the stream.
          if (drop) expect(report.fieldTtlsDropped).toBeGreaterThan(5);
          console.log(`matrix ${sync} ${s.name} -> ${t.name}: ${r.ms} ms, ${r.acked} acked writes, ${r.mixOps} mix ops, pause ${report.pauseMs} ms${drop ? `, ${report.fieldTtlsDropped} field TTLs dropped` : ''}`);
        }, 120_000);
      }
    }
  });
}
