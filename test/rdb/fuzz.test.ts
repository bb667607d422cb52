/**
 * Bounded fuzzing (fixed seed, fixed count): random byte flips, truncations and splices of valid
 * RDB files. Every case must either parse or throw RdbError: no other exception, no hang (each case
 * runs synchronously to completion), in both modes and with random chunking.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePayload, RdbError, RdbParser, type RdbRecord } from '../../src/engine/rdb/index.js';
import { len, listpack, RdbBuilder, str } from './rdb-builder.js';

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function seeds(): Buffer[] {
  const out = [
    new RdbBuilder(11)
      .aux('redis-ver', '7.2.0')
      .select(0)
      .key(0, 'str', str('hello world'), 4102444800000)
      .key(1, 'list', Buffer.concat([len(3), str('a'), str(''), str('c')]))
      .key(16, 'hash', str(listpack(['f', 'v', 'n', 5])))
      .key(18, 'ql', Buffer.concat([len(2), len(2), str(listpack(['x', 'y', 3])), len(1), str('plain')]))
      .key(0, 'lzf', Buffer.from([0xc3, 0x07, 0x0e, 0x02, 0x61, 0x62, 0x63, 0xe0, 0x02, 0x02]))
      .build(),
  ];
  const corpus = join(process.cwd(), '..', 'shared', 'rdb-corpus');
  for (const f of ['hdt-rdb/listpack.rdb', 'hdt-rdb/stream_listpacks_2.rdb', 'hdt-rdb/hash_with_hfe.rdb', 'rdbtools/ziplist_with_integers.rdb',
    'rdbtools/zipmap_that_compresses_easily.rdb', 'rdbtools/redis_50_with_streams.rdb', 'hdt-rdb/intset_64.rdb', 'rdbtools/redis_40_with_module.rdb',
    'hdt-rdb/quicklist.rdb', 'hdt-rdb/function.rdb']) {
    const p = join(corpus, f);
    if (existsSync(p)) out.push(readFileSync(p));
  }
  return out;
}

function mutate(buf: Buffer, rand: () => number): Buffer {
  const b = Buffer.from(buf);
  const kind = rand();
  if (kind < 0.5) {
    const flips = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < flips; i++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    return b;
  }
  if (kind < 0.75) return b.subarray(0, Math.floor(rand() * b.length));
  // splice a random slice of the file somewhere else
  const a = Math.floor(rand() * b.length);
  const n = Math.floor(rand() * 40);
  const at = Math.floor(rand() * b.length);
  return Buffer.concat([b.subarray(0, at), b.subarray(a, a + n), b.subarray(at)]);
}

/** Runs one input; returns 'ok' or 'rdb-error', rethrows anything else. */
function run(input: Buffer, mode: 'payload' | 'decode', rand: () => number): string {
  const p = new RdbParser({ mode, verifyChecksum: rand() < 0.3, payloadLimit: rand() < 0.5 ? 16 : 1 << 20 });
  try {
    let i = 0;
    while (i < input.length) {
      const n = 1 + Math.floor(rand() * 64);
      const recs: RdbRecord[] = p.write(input.subarray(i, i + n));
      for (const r of recs) if (r.kind === 'key' && r.payload && r.type !== 'module') decodePayload(r.payload);
      i += n;
    }
    p.end();
    return 'ok';
  } catch (e) {
    if (e instanceof RdbError) return 'rdb-error';
    throw e;
  }
}

describe('RDB parser fuzzing', () => {
  it('never throws anything but RdbError on 4000 mutated inputs', () => {
    const rand = rng(0xfe77);
    const inputs = seeds();
    for (const s of inputs) expect(run(s, 'decode', rand)).toBe('ok');
    const seen = { ok: 0, 'rdb-error': 0 } as Record<string, number>;
    for (let i = 0; i < Number(process.env.FERRY_FUZZ_CASES ?? 4000); i++) {
      const input = mutate(inputs[i % inputs.length], rand);
      const mode = i % 2 ? 'decode' : 'payload';
      let outcome: string;
      try {
        outcome = run(input, mode, rand);
      } catch (e) {
        throw new Error(`case ${i} (${mode}, seed file ${i % inputs.length}, hex ${input.toString('hex').slice(0, 400)}): ${(e as Error).stack}`);
      }
      seen[outcome]++;
    }
    expect(seen['rdb-error']).toBeGreaterThan(1000);
    expect(seen.ok).toBeGreaterThan(10);
  });
});
