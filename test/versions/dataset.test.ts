/**
 * The matrix dataset (test/helpers/version-dataset.ts) really holds every encoding each version
 * has: OBJECT ENCODING of its keys on each server, so a matrix pair cannot pass on a dataset that
 * lost an encoding (a changed default, a config name a version does not know).
 */
import { describe, expect, it } from 'vitest';
import { fillVersion } from '../helpers/version-dataset.js';
import { HAVE_VERSIONS, MATRIX_SOURCES, startVersion, type ServerVersion } from '../helpers/versions.js';

function expected(v: ServerVersion): Record<string, string> {
  const compact = v.redis >= 700 ? 'listpack' : 'ziplist';
  return {
    'd0:str:int8': 'int',
    'd0:str:raw': 'embstr',
    'd0:str:lzf': 'raw',
    'd0:list:small': v.redis >= 702 ? 'listpack' : 'quicklist',
    'd0:list:big': 'quicklist',
    'd0:list:compressed': 'quicklist',
    ...(v.redis >= 700 ? { 'd0:list:plain': 'quicklist' } : {}),
    'd0:set:int16': 'intset',
    'd0:set:strings': v.redis >= 702 ? 'listpack' : 'hashtable',
    'd0:set:big': 'hashtable',
    'd0:zset:small': compact,
    'd0:zset:big': 'skiplist',
    'd0:hash:small': compact,
    'd0:hash:big': 'hashtable',
    ...(v.redis >= 704 && !v.valkey ? { 'd0:hfe:small': 'listpackex', 'd0:hfe:big': 'hashtable' } : {}),
    'd0:stream:groups': v.redis >= 602 ? 'stream' : 'unknown', // 5.0's OBJECT ENCODING does not name it
    'd3:zset:small': compact,
  };
}

describe.skipIf(!HAVE_VERSIONS).concurrent('the matrix dataset per version', () => {
  for (const v of MATRIX_SOURCES) {
    it(`${v.name}: every encoding`, async () => {
      const s = await startVersion(v);
      try {
        const c = s.client();
        const fill = await fillVersion(c, v);
        const want = expected(v);
        const got: Record<string, string> = {};
        for (const k of Object.keys(want)) {
          await c.select(Number(k.slice(1, k.indexOf(':'))));
          got[k] = String(await c.object('ENCODING', k));
        }
        expect(got).toEqual(want);
        expect(Object.keys(fill.keys).map(Number)).toEqual([0, 3, 15]);
        expect(fill.fieldTtlKeys).toBe(v.redis >= 704 && !v.valkey ? 2 : 0);
      } finally {
        await s.stop();
      }
    });
  }
});
