import { describe, expect, it } from 'vitest';
import { globToRegExp, KeyFilter } from '../../src/engine/apply/filter.js';
import { specFromFlags } from '../../src/core/spec-from-flags.js';

const b = (s: string): Buffer => Buffer.from(s);
const argv = (...a: string[]): Buffer[] => a.map(b);

describe('globToRegExp (Redis glob syntax)', () => {
  it.each([
    ['user:*', 'user:1', true],
    ['user:*', 'users:1', false],
    ['h?llo', 'hallo', true],
    ['h?llo', 'hllo', false],
    ['h[ae]llo', 'hello', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-c]llo', 'hbllo', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['x.y', 'xzy', false],
  ])('%s vs %s -> %s', (glob, key, want) => {
    expect(globToRegExp(glob).test(key)).toBe(want);
  });
});

describe('KeyFilter', () => {
  const f = new KeyFilter({ include: ['keep:*'], exclude: ['keep:secret:*'], dbMap: { 0: 3 } });

  it('filters keys and maps dbs', () => {
    expect(f.keyPasses(b('keep:1'))).toBe(true);
    expect(f.keyPasses(b('keep:secret:1'))).toBe(false);
    expect(f.keyPasses(b('other'))).toBe(false);
    expect(f.mapDb(0)).toBe(3);
    expect(f.mapDb(1)).toBe(1);
  });

  it('keeps, drops and rewrites stream commands', () => {
    expect(f.filterCommand(argv('SET', 'keep:1', 'v'))).toEqual({ action: 'keep' });
    expect(f.filterCommand(argv('SET', 'other', 'v'))).toEqual({ action: 'drop' });
    expect(f.filterCommand(argv('FLUSHALL'))).toEqual({ action: 'keep' });
    expect(f.filterCommand(argv('DEL', 'keep:1', 'other', 'keep:2'))).toEqual({ action: 'rewrite', argv: argv('DEL', 'keep:1', 'keep:2') });
    expect(f.filterCommand(argv('MSET', 'other', '1', 'keep:1', '2'))).toEqual({ action: 'rewrite', argv: argv('MSET', 'keep:1', '2') });
    expect(f.filterCommand(argv('ZUNIONSTORE', 'other', '2', 'x', 'y'))).toEqual({ action: 'drop' });
    expect(f.filterCommand(argv('RENAME', 'keep:a', 'out:b'))).toEqual({ action: 'keep' });
    expect(f.crossing.has('rename')).toBe(true);
  });

  it('passes everything without globs', () => {
    const all = new KeyFilter();
    expect(all.passAll).toBe(true);
    expect(all.filterCommand(argv('DEL', 'a', 'b'))).toEqual({ action: 'keep' });
  });
});

describe('filters in ferry run flags', () => {
  const base = { from: 'redis://127.0.0.1:7001', to: 'redis://127.0.0.1:7002' };
  it('parses --include/--exclude/--db-map for the engine and refuses them with --sync native', () => {
    const s = specFromFlags({ ...base, include: ['a:*'], exclude: ['a:b:*'], dbMap: ['0:2', '1:3'] }, {});
    expect(s).toMatchObject({ sync: 'engine', include: ['a:*'], exclude: ['a:b:*'], dbMap: { 0: 2, 1: 3 } });
    expect(() => specFromFlags({ ...base, sync: 'native', include: ['a:*'] }, {})).toThrow(/need the embedded engine/);
    expect(() => specFromFlags({ ...base, dbMap: ['x'] }, {})).toThrow(/--db-map "x" must be SRC:DST/);
  });
});
