/**
 * "`verify` agrees with DEBUG DIGEST in every test where both are available": a verify report
 * checked against both servers' DEBUG DIGEST (skipped when either server refuses DEBUG).
 *
 * What DEBUG DIGEST covers (redis 7.0 src/debug.c computeDatasetDigest / xorObjectDigest): every
 * db's number, every key, its type and value (set and hash elements and zset scores as `%.17g`
 * order-free, list elements in order, stream entries by ID and fields) and whether the key has an
 * expire ("!!expire!!" is mixed in, not the time). Not covered: TTL times, and a stream's consumer
 * groups and metadata (last ID, entries-added, max-deleted-entry-id). So:
 * - different digests: verify must report a difference;
 * - equal digests: verify may report only what the digest cannot see: TTLs both sides have but
 *   that are apart, and differences in a stream's groups or metadata.
 */
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import type { VerifyReport } from '../../src/verify/report.js';

/** DEBUG DIGEST, or null when the server refuses DEBUG. */
async function digestOrNull(c: Redis): Promise<string | null> {
  try {
    return String(await c.call('DEBUG', 'DIGEST'));
  } catch {
    return null;
  }
}

/** Differences DEBUG DIGEST cannot see (see the file comment). */
function invisibleToDigest(k: VerifyReport['keys'][number]): boolean {
  if (k.class === 'ttl') return /^expires .* apart/.test(k.detail);
  if (k.class === 'value') return /^stream: (group |\d[\d,]* consumer groups|last ID|entries-added|max-deleted-entry-id|metadata)/.test(k.detail);
  return false;
}

/**
 * Asserts that `report` (of an unfiltered verification of `s` against `t`, every key named: keep
 * differences under --max-keys) says what DEBUG DIGEST says. Returns whether digests were compared.
 */
export async function expectDigestAgrees(s: Redis, t: Redis, report: VerifyReport): Promise<boolean> {
  const [ds, dt] = await Promise.all([digestOrNull(s), digestOrNull(t)]);
  if (ds === null || dt === null) return false;
  if (ds !== dt) {
    expect(report.agree, 'DEBUG DIGEST differs, verify must report a difference').toBe(false);
  } else {
    const seen = report.keys.filter((k) => !invisibleToDigest(k));
    expect(seen, 'DEBUG DIGEST is equal: verify may report only TTL times and stream groups/metadata').toEqual([]);
    expect(report.totalDifferences).toBe(report.keys.length);
  }
  return true;
}
