import { describe, expect, it } from 'vitest';
import { NEED_MORE, RespDecoder, RespError, RespProtocolError, SkippedBulk, type RespValue } from '../../src/engine/resp/decoder.js';
import { CommandBuffer, commandLength, encodeCommand } from '../../src/engine/resp/encoder.js';

interface Case {
  name: string;
  wire: Buffer;
  values: RespValue[];
  lengths: number[];
}

const bin = Buffer.from([0, 13, 10, 255, 42, 36, 13]);
const cases: Case[] = [
  { name: 'simple string', wire: Buffer.from('+OK\r\n'), values: ['OK'], lengths: [5] },
  { name: 'error', wire: Buffer.from('-ERR wrong\r\n'), values: [new RespError('ERR wrong')], lengths: [12] },
  { name: 'integer', wire: Buffer.from(':-42\r\n'), values: [-42], lengths: [6] },
  { name: 'bulk', wire: Buffer.from('$5\r\nhello\r\n'), values: [Buffer.from('hello')], lengths: [11] },
  { name: 'empty bulk', wire: Buffer.from('$0\r\n\r\n'), values: [Buffer.alloc(0)], lengths: [6] },
  { name: 'nil bulk', wire: Buffer.from('$-1\r\n'), values: [null], lengths: [5] },
  { name: 'nil array', wire: Buffer.from('*-1\r\n'), values: [null], lengths: [5] },
  { name: 'empty array', wire: Buffer.from('*0\r\n'), values: [[]], lengths: [4] },
  {
    name: 'binary bulk with CRLF inside',
    wire: Buffer.concat([Buffer.from('$7\r\n'), bin, Buffer.from('\r\n')]),
    values: [bin],
    lengths: [13],
  },
  {
    name: 'command (PING as the master sends it)',
    wire: Buffer.from('*1\r\n$4\r\nPING\r\n'),
    values: [[Buffer.from('PING')]],
    lengths: [14],
  },
  {
    name: 'REPLCONF GETACK is 37 bytes',
    wire: Buffer.from('*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n'),
    values: [[Buffer.from('REPLCONF'), Buffer.from('GETACK'), Buffer.from('*')]],
    lengths: [37],
  },
  {
    name: 'nested arrays with mixed types (EXEC reply)',
    wire: Buffer.from('*3\r\n:1\r\n*2\r\n+QUEUED\r\n$-1\r\n-ERR x\r\n'),
    values: [[1, ['QUEUED', null], new RespError('ERR x')]],
    lengths: [34],
  },
  {
    name: 'keepalive newlines between values are skipped and not counted',
    wire: Buffer.from('\n\n+FULLRESYNC abc 7\r\n\n*1\r\n$4\r\nPING\r\n\r\n:3\r\n'),
    values: ['FULLRESYNC abc 7', [Buffer.from('PING')], 3],
    lengths: [19, 14, 4],
  },
  {
    name: 'a long bulk (crosses many chunks when split)',
    wire: Buffer.concat([Buffer.from('*2\r\n$3\r\nSET\r\n$300\r\n'), Buffer.alloc(300, 7), Buffer.from('\r\n')]),
    values: [[Buffer.from('SET'), Buffer.alloc(300, 7)]],
    lengths: [4 + 9 + 6 + 302],
  },
];

function decodeChunks(chunks: Buffer[]): { values: RespValue[]; lengths: number[]; dec: RespDecoder } {
  const dec = new RespDecoder();
  const values: RespValue[] = [];
  const lengths: number[] = [];
  for (const c of chunks) {
    dec.write(c);
    dec.drain((v, n) => {
      values.push(v);
      lengths.push(n);
    });
  }
  return { values, lengths, dec };
}

function check(c: Case, chunks: Buffer[]): void {
  const { values, lengths, dec } = decodeChunks(chunks);
  expect(values).toEqual(c.values);
  expect(lengths).toEqual(c.lengths);
  expect(dec.buffered).toBe(0);
}

describe('RespDecoder', () => {
  for (const c of cases) {
    it(`${c.name}: one chunk`, () => check(c, [c.wire]));
    it(`${c.name}: byte by byte`, () => check(c, [...c.wire].map((b) => Buffer.from([b]))));
    it(`${c.name}: split at every boundary`, () => {
      for (let i = 1; i < c.wire.length; i++) check(c, [c.wire.subarray(0, i), c.wire.subarray(i)]);
    });
  }

  it('all cases concatenated, split at every boundary into three chunks', () => {
    const wire = Buffer.concat(cases.map((c) => c.wire));
    const all = cases.flatMap((c) => c.values);
    const lengths = cases.flatMap((c) => c.lengths);
    for (let i = 1; i < wire.length; i += 7) {
      for (let j = i; j < wire.length; j += 13) {
        const got = decodeChunks([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)]);
        expect(got.values).toEqual(all);
        expect(got.lengths).toEqual(lengths);
      }
    }
  });

  it('returns NEED_MORE on a partial value and takeRest hands back the bytes after a value', () => {
    const dec = new RespDecoder();
    dec.write(Buffer.from('+FULLRESYNC x 0\r\n$10\r\nREDIS'));
    expect(dec.read()).toBe('FULLRESYNC x 0');
    expect(dec.atBoundary).toBe(true);
    expect(dec.takeRest().toString()).toBe('$10\r\nREDIS');
    expect(dec.read()).toBe(NEED_MORE);
  });

  it('maxBulk: a longer bulk string is dropped as it arrives (a SkippedBulk), in one chunk or byte by byte', () => {
    const wire = Buffer.from(`$20\r\n${'x'.repeat(20)}\r\n$3\r\nabc\r\n*2\r\n$25\r\n${'y'.repeat(25)}\r\n:7\r\n`);
    for (const step of [wire.length, 1, 7]) {
      const d = new RespDecoder();
      d.maxBulk = 10;
      const out: RespValue[] = [];
      for (let i = 0; i < wire.length; i += step) {
        d.write(wire.subarray(i, i + step));
        d.drain((v) => out.push(v));
      }
      expect(out).toEqual([new SkippedBulk(20), Buffer.from('abc'), [new SkippedBulk(25), 7]]);
      expect(d.atBoundary).toBe(true);
    }
  });

  it('rejects garbage with a protocol error', () => {
    const dec = new RespDecoder();
    dec.write(Buffer.from('?what\r\n'));
    expect(() => dec.read()).toThrow(RespProtocolError);
    const dec2 = new RespDecoder();
    dec2.write(Buffer.from('$3\r\nabcXY'));
    expect(() => dec2.read()).toThrow(/CRLF/);
  });
});

describe('encoder', () => {
  it('encodes Buffer, string and number arguments and decodes back', () => {
    const args = [Buffer.from('SET'), 'k\u00e9y', 12345, bin, Buffer.alloc(0)];
    const wire = encodeCommand(args);
    expect(wire.length).toBe(commandLength(args));
    const { values, lengths } = decodeChunks([wire]);
    expect(values).toEqual([[Buffer.from('SET'), Buffer.from('k\u00e9y'), Buffer.from('12345'), bin, Buffer.alloc(0)]]);
    expect(lengths).toEqual([wire.length]);
  });

  it('encodes lengths and numbers of every digit count exactly', () => {
    const nums = [0, 7, 10, 99, 100, 999, 1000, 12345, 99999, 100000, 1234567890123, -5, 1.5, 1795625420702];
    const big = Buffer.alloc(123456, 1);
    const wire = encodeCommand(['X', ...nums, big]);
    const { values } = decodeChunks([wire]);
    expect(values).toEqual([[Buffer.from('X'), ...nums.map((n) => Buffer.from(String(n))), big]]);
    expect(wire.length).toBe(commandLength(['X', ...nums, big]));
  });

  it('CommandBuffer batches commands and keeps big arguments uncopied', () => {
    const cb = new CommandBuffer(64);
    const big = Buffer.alloc(100_000, 1);
    const cmds = [['SET', 'a', '1'], ['SET', 'big', big], ['MSET', 'x', 'y', 'z', Buffer.alloc(40, 2)], ['PING']];
    let total = 0;
    for (const c of cmds) total += cb.push(c);
    expect(cb.size).toBe(total);
    const parts = cb.take();
    expect(parts.some((p) => p === big)).toBe(true);
    const wire = Buffer.concat(parts);
    expect(wire).toEqual(Buffer.concat(cmds.map((c) => encodeCommand(c))));
    expect(cb.take()).toEqual([]);
  });
});
