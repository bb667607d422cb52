/**
 * The per-slot MSET gathering of the cluster full sync (src/engine/cluster/mset-gather.ts), without
 * servers: an encoded MSET taken apart by slot and regathered, and parser-made string keys gathered
 * straight from an RDB's bytes, each slot's MSET decoded back to the same pairs, a slot flushed at
 * 64 keys, the caller answered once every batch holding its keys has answered (with the first
 * error).
 */
import { describe, expect, it } from 'vitest';
import type { ReplyHandler } from '../../src/engine/apply/target.js';
import { isMset, MsetGatherer, type SlotBatch } from '../../src/engine/cluster/mset-gather.js';
import { keySlot } from '../../src/engine/cluster/slots.js';
import type { KeyEntry } from '../../src/engine/entry.js';
import { parseRdbBuffer } from '../../src/engine/rdb/index.js';
import { RespDecoder, RespError } from '../../src/engine/resp/decoder.js';
import { encodeCommand } from '../../src/engine/resp/encoder.js';
import { RdbBuilder, str } from '../rdb/rdb-builder.js';

function decode(b: Buffer): Buffer[] {
  const d = new RespDecoder();
  d.write(b);
  return d.read() as Buffer[];
}

/** Every command encoded in `b`, one after another. */
function decodeAll(b: Buffer): Buffer[][] {
  const d = new RespDecoder();
  d.write(b);
  const out: Buffer[][] = [];
  d.drain((v) => out.push(v as Buffer[]));
  return out;
}

describe('MSET gathering per slot', () => {
  it('regathers the pairs of an MSET by slot, encodes each slot as one MSET, answers the caller once', () => {
    const sent: Array<{ slot: number; batch: SlotBatch; onReply: ReplyHandler }> = [];
    const g = new MsetGatherer((slot, batch, onReply) => sent.push({ slot, batch, onReply }), (e) => {
      throw e;
    });
    const pairs: Array<[string, Buffer]> = [];
    // 31 keys: below the sweep's 32, so nothing goes out before flushAll.
    for (let i = 0; i < 31; i++) pairs.push([i % 5 === 0 ? `{tag}:${i}` : `key:${i}`, Buffer.from(`v${i}\r\n\u00ff`, 'latin1')]);
    const mset = encodeCommand(['MSET', ...pairs.flat()]);
    expect(isMset(mset)).toBe(true);
    expect(isMset(encodeCommand(['SET', 'a', 'b']))).toBe(false);
    let answer: unknown = 'none';
    g.add(mset, (r) => (answer = r));
    expect(sent).toHaveLength(0); // nothing full yet: batches wait
    g.flushAll();
    const slots = new Set(pairs.map(([k]) => keySlot(k)));
    expect(new Set(sent.map((s) => s.slot))).toEqual(slots);
    const seen = new Map<string, string>();
    for (const s of sent) {
      const argv = decode(s.batch.cmd);
      expect(argv[0].toString()).toBe('MSET');
      expect(argv.length).toBe(1 + 2 * s.batch.count);
      for (let i = 1; i < argv.length; i += 2) {
        expect(keySlot(argv[i])).toBe(s.slot);
        seen.set(argv[i].toString(), argv[i + 1].toString('latin1'));
      }
    }
    expect(seen).toEqual(new Map(pairs.map(([k, v]) => [k, v.toString('latin1')])));
    // The caller's MSET is answered once: when the last batch answers, or at once with the first error.
    let answers = 0;
    g.add(encodeCommand(['MSET', 'a', '1']), () => answers++);
    sent[0].onReply('OK');
    expect(answer).toBe('none');
    sent[1].onReply(new RespError('OOM command not allowed'));
    expect(answer).toBeInstanceOf(RespError);
    expect(answers).toBe(1); // the later MSET waited for the failed batch too: it has its error
    for (const s of sent.slice(2)) s.onReply('OK');
    expect(answers).toBe(1);
    // A caller after the error learns it at once.
    let late: unknown = 'none';
    g.add(encodeCommand(['MSET', 'b', '2']), (r) => (late = r));
    expect(late).toBeInstanceOf(RespError);
  });

  it('answers a caller only once every batch opened before its call ended has answered', () => {
    const sent: Array<{ slot: number; onReply: ReplyHandler }> = [];
    const g = new MsetGatherer((slot, _batch, onReply) => sent.push({ slot, onReply }), (e) => {
      throw e;
    });
    const answers: string[] = [];
    g.add(encodeCommand(['MSET', '{a}1', 'x']), () => answers.push('first'));
    g.add(encodeCommand(['MSET', '{b}1', 'x', '{a}2', 'x']), () => answers.push('second'));
    g.flushSlot(keySlot('{b}'));
    sent[0].onReply('OK'); // {b}: the second caller also has a key in {a}, still gathered
    expect(answers).toEqual([]);
    g.flushAll();
    sent[1].onReply('OK');
    expect(answers).toEqual(['first', 'second']);
  });

  it('sends a slot when its KiB is full, and flushSlot sends what one slot holds', () => {
    const sent: Array<[number, number]> = [];
    const g = new MsetGatherer((slot, batch) => sent.push([batch.count, batch.cmd.length]), () => {});
    const pairs: string[] = [];
    for (let i = 10; i < 22; i++) pairs.push(`{same}:${i}`, 'v'.repeat(100)); // 12 pairs of 123 bytes
    g.add(encodeCommand(['MSET', ...pairs]));
    expect(sent).toEqual([[8, 8 * 123 + 15]]); // a region holds 8 (its header included)
    g.flushSlot(keySlot('{same}'));
    expect(sent.map(([n]) => n)).toEqual([8, 4]);
    g.flushAll();
    expect(sent).toHaveLength(2);
  });

  it('sends the oldest open batch every 32 keys (the masters get work all along)', () => {
    const sent: number[] = [];
    const g = new MsetGatherer((slot) => sent.push(slot), () => {});
    const keys = Array.from({ length: 32 }, (_, i) => `{s${i}}`);
    g.add(encodeCommand(['MSET', ...keys.flatMap((k) => [k, 'x'])]));
    expect(sent).toEqual([keySlot(keys[0])]);
    g.add(encodeCommand(['MSET', ...keys.slice(1, 31).flatMap((k) => [`${k}:b`, 'x']), '{s0}:b', 'x', '{s0}:c', 'x']));
    expect(sent).toEqual([keySlot(keys[0]), keySlot(keys[1])]); // {s1} holds 2 keys now
    g.flushAll();
    expect(sent.slice(2).sort()).toEqual(keys.slice(2).map(keySlot).concat(keySlot(keys[0])).sort());
  });

  it('gathers parser-made string keys straight from the RDB bytes: raw and int values, long keys, TTLs as SET … PXAT in their batch, a key over 1 KiB alone', () => {
    const rdb = new RdbBuilder(9);
    const want = new Map<string, string>();
    const ttls = new Map<string, number>();
    const add = (k: string, v: Buffer, shown: string, expireAt?: number): void => {
      rdb.key(0, k, v, expireAt);
      want.set(k, shown);
      if (expireAt !== undefined) ttls.set(k, expireAt);
    };
    for (let i = 0; i < 300; i++) add(i % 7 === 0 ? `{user${i % 3}}:${i}` : `key:${i}`, str(`value:${i}`), `value:${i}`);
    add('int8', Buffer.from([0xc0, 0xfb]), '-5');
    add('int16', Buffer.from([0xc1, 0x39, 0x30]), '12345');
    add('int32', Buffer.from([0xc2, 0x15, 0xcd, 0x5b, 0x07]), '123456789');
    const longKey = `long:${'k'.repeat(2000)}`; // past the gatherer's scratch: sloted from the key itself
    add(longKey, str('lv'), 'lv');
    add('big', str('b'.repeat(100 * 1024)), 'b'.repeat(100 * 1024), 4_000_000_000_000);
    for (let i = 0; i < 20; i++) add(`ttl:${i}`, str('t'), 't', 4_000_000_000_000 + i);
    const { records } = parseRdbBuffer(rdb.build(), { mode: 'payload' });
    const keys = records.filter((r): r is KeyEntry => r.kind === 'key');
    expect(keys).toHaveLength(want.size);
    const sent: SlotBatch[] = [];
    const replies: ReplyHandler[] = [];
    const g = new MsetGatherer((slot, batch, onReply) => {
      sent.push(batch);
      replies.push(onReply);
      for (const argv of decodeAll(batch.cmd)) {
        if (argv[0].toString() === 'MSET') for (let i = 1; i < argv.length; i += 2) expect(keySlot(argv[i])).toBe(slot);
        else expect(keySlot(argv[1])).toBe(slot);
      }
    }, (e) => {
      throw e;
    });
    let answers = 0;
    g.addStrings(keys.slice(0, 200), true, () => answers++);
    g.addStrings(keys.slice(200), true, () => answers++);
    expect(sent.filter((b) => b.cmd.length > 100 * 1024)).toHaveLength(1); // the big key went at once, alone
    g.flushAll();
    const seen = new Map<string, string>();
    const seenTtls = new Map<string, number>();
    for (const b of sent) {
      const cmds = decodeAll(b.cmd);
      expect(b.commands).toBe(cmds.length);
      const [first, ...rest] = cmds;
      const pxats = first[0].toString() === 'MSET' ? rest : cmds;
      if (first[0].toString() === 'MSET') {
        expect(first.length).toBe(1 + 2 * b.count);
        for (let i = 1; i < first.length; i += 2) seen.set(first[i].toString(), first[i + 1].toString());
      } else expect(b.count).toBe(0);
      // A key with a TTL goes as SET key value PXAT ms, in the blob of its slot's batch.
      for (const [name, k, v, px, at] of pxats) {
        expect([name.toString(), px.toString()]).toEqual(['SET', 'PXAT']);
        seen.set(k.toString(), v.toString());
        seenTtls.set(k.toString(), Number(at.toString()));
      }
    }
    expect(seen).toEqual(want);
    expect(seenTtls).toEqual(ttls);
    for (const r of replies) r('OK');
    expect(answers).toBe(2);
  });

  it('sends batches of keys that all have a TTL (SET … PXAT only) at the sweep and at flushAll', () => {
    const rdb = new RdbBuilder(9);
    for (let i = 0; i < 70; i++) rdb.key(0, `{t${i}}:k`, str('v'), 4_000_000_000_000 + i);
    const keys = parseRdbBuffer(rdb.build(), { mode: 'payload' }).records.filter((r): r is KeyEntry => r.kind === 'key');
    const got: string[] = [];
    const g = new MsetGatherer((_slot, batch) => {
      for (const argv of decodeAll(batch.cmd)) got.push(`${argv[0]} ${argv[1]} ${argv[3]}`);
    }, (e) => {
      throw e;
    });
    g.addStrings(keys, true);
    expect(got).toHaveLength(2); // the sweep: the oldest batch at 32 keys and at 64
    g.flushAll();
    expect(got.sort()).toEqual(Array.from({ length: 70 }, (_, i) => `SET {t${i}}:k PXAT`).sort());
  });
});

