/**
 * `ferry rdb inspect` end to end (the built CLI): summary, JSON lines with the documented shapes,
 * and exit code 2 for a missing or corrupt file.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { len, listpack, RdbBuilder, str } from './rdb-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ferry = (...args: string[]) => execa('node', ['bin/ferry', ...args], { reject: false });

function fixture(): string {
  const f64 = (d: number) => Buffer.from(new Float64Array([d]).buffer);
  const minExpire = Buffer.alloc(8);
  minExpire.writeBigInt64LE(1_900_000_000_000n);
  const rdb = new RdbBuilder(12)
    .aux('redis-ver', '7.4.0')
    .select(0)
    .key(0, 'greeting', str('hello'), 4_102_444_800_000)
    .key(0, Buffer.from([0xff, 0xfe]), str(Buffer.from([0xc3, 0x28])))
    .key(2, 'set', Buffer.concat([len(2), str('b'), str('a')]))
    .key(5, 'z', Buffer.concat([len(2), str('one'), f64(1), str('top'), f64(Infinity)]))
    .key(24, 'h', Buffer.concat([minExpire, len(2), len(0), str('f1'), str('v1'), len(1001), str('f2'), str('v2')]))
    .select(2)
    .key(18, 'l', Buffer.concat([len(1), len(2), str(listpack(['x', 7]))]))
    .build();
  const file = join(dir, 'fixture.rdb');
  writeFileSync(file, rdb);
  return file;
}

describe('ferry rdb inspect', () => {
  const file = fixture();

  it('prints a summary', async () => {
    const r = await ferry('rdb', 'inspect', file);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('REDIS RDB version 12, checksum ok');
    expect(r.stdout).toContain('redis-ver=7.4.0');
    expect(r.stdout).toMatch(/db 0: 5 keys \(string 2, set 1, zset 1, hash 1\), 1 with TTL/);
    expect(r.stdout).toMatch(/db 2: 1 keys \(list 1\), 0 with TTL/);
    expect(r.stdout).toMatch(/biggest keys[^\n]*\n  1\. db 0 "z" zset 25 B\n  2\. db 0 "h" hash 24 B/);
  });

  it('--json prints one object per key with the documented shapes', async () => {
    const r = await ferry('rdb', 'inspect', '--json', file);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { db: 0, key: 'greeting', type: 'string', expireAt: 4_102_444_800_000, value: 'hello' },
      { db: 0, key: { base64: '//4=' }, type: 'string', expireAt: null, value: { base64: 'wyg=' } },
      { db: 0, key: 'set', type: 'set', expireAt: null, value: ['b', 'a'] },
      { db: 0, key: 'z', type: 'zset', expireAt: null, value: [['one', 1], ['top', 'inf']] },
      { db: 0, key: 'h', type: 'hash', expireAt: null, value: { f1: 'v1', f2: 'v2' }, fieldExpireAt: { f2: 1_900_000_001_000 } },
      { db: 2, key: 'l', type: 'list', expireAt: null, value: ['x', '7'] },
    ]);
  });

  const streams = join(process.cwd(), '..', 'shared', 'rdb-corpus', 'hdt-rdb', 'stream_listpacks_1.rdb');
  it.skipIf(!existsSync(streams))('--json writes streams with entries, lastId and groups', async () => {
    const r = await ferry('rdb', 'inspect', '--json', streams);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const s = lines.find((l) => l.value.groups.length > 0);
    expect(s.type).toBe('stream');
    expect(s.value.lastId).toMatch(/^\d+-\d+$/);
    expect(s.value.entries[0]).toEqual({ id: expect.stringMatching(/^\d+-\d+$/), fields: expect.any(Object) });
    expect(s.value.groups[0]).toMatchObject({ name: 'g1', pending: expect.any(Array), consumers: expect.any(Array) });
    expect(s.value.groups[0].pending[0]).toMatchObject({ consumer: 'c1', deliveryCount: 1 });
  });

  it('exits 2 with one line for a missing or corrupt file', async () => {
    const missing = await ferry('rdb', 'inspect', join(dir, 'nope.rdb'));
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.rdb \(ENOENT\)/);
    const bad = join(dir, 'bad.rdb');
    writeFileSync(bad, Buffer.from('REDIS0011\xfa', 'latin1'));
    const corrupt = await ferry('rdb', 'inspect', bad);
    expect(corrupt.exitCode).toBe(2);
    expect(corrupt.stderr.trim().split('\n')).toHaveLength(1);
    expect(corrupt.stderr).toMatch(/truncated RDB/);
  });
});
