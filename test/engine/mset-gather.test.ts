/**
 * The per-slot MSET gathering of the cluster full sync (src/engine/cluster/mset-gather.ts), without
 * servers: an encoded MSET taken apart by slot and regathered, each slot's MSET encoded in place
 * and decoded back to the same pairs, a slot flushed at 64 keys, the caller answered once every
 * batch holding its keys has answered (with the first error), and the pairs recovered as SET
 * arguments for a resend.
 */
import { describe, expect, it } from 'vitest';
import type { ReplyHandler } from '../../src/engine/apply/target.js';
import { gatheredArgs, gatheredLength, isMset, MsetGatherer, writeGathered, type SlotBatch } from '../../src/engine/cluster/mset-gather.js';
import { keySlot } from '../../src/engine/cluster/slots.js';
import { RespDecoder, RespError } from '../../src/engine/resp/decoder.js';
import { encodeCommand } from '../../src/engine/resp/encoder.js';

function decode(b: Buffer): Buffer[] {
  const d = new RespDecoder();
  d.write(b);
  return d.read() as Buffer[];
}

describe('MSET gathering per slot', () => {
  it('regathers the pairs of an MSET by slot, encodes each slot as one MSET, answers the caller once', () => {
    const sent: Array<{ slot: number; batch: SlotBatch; onReply: ReplyHandler }> = [];
    const g = new MsetGatherer((slot, batch, onReply) => sent.push({ slot, batch, onReply }), (e) => {
      throw e;
    });
    const pairs: Array<[string, Buffer]> = [];
    for (let i = 0; i < 40; i++) pairs.push([i % 5 === 0 ? `{tag}:${i}` : `key:${i}`, Buffer.from(`v${i}\r\n\u00ff`, 'latin1')]);
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
      const out = Buffer.alloc(gatheredLength(s.batch) + 8);
      const end = writeGathered(out, 4, s.batch);
      expect(end - 4).toBe(gatheredLength(s.batch));
      const argv = decode(out.subarray(4, end));
      expect(argv[0].toString()).toBe('MSET');
      expect(gatheredArgs(s.batch).map((b) => b.toString('latin1'))).toEqual(argv.map((b) => b.toString('latin1')));
      for (let i = 1; i < argv.length; i += 2) {
        expect(keySlot(argv[i])).toBe(s.slot);
        seen.set(argv[i].toString(), argv[i + 1].toString('latin1'));
      }
    }
    expect(seen).toEqual(new Map(pairs.map(([k, v]) => [k, v.toString('latin1')])));
    // The caller's MSET is answered when the last batch answers, with the first error.
    sent.forEach((s, i) => {
      expect(answer).toBe('none');
      s.onReply(i === 1 ? new RespError('OOM command not allowed') : 'OK');
    });
    expect(answer).toBeInstanceOf(RespError);
  });

  it('sends a slot at 64 keys, and flushSlot sends what one slot holds', () => {
    const sent: number[] = [];
    const g = new MsetGatherer((slot, batch) => sent.push(batch.count), () => {});
    const pairs: string[] = [];
    for (let i = 0; i < 70; i++) pairs.push(`{same}:${i}`, 'x');
    g.add(encodeCommand(['MSET', ...pairs]));
    expect(sent).toEqual([64]);
    g.flushSlot(keySlot('{same}'));
    expect(sent).toEqual([64, 6]);
    g.flushAll();
    expect(sent).toEqual([64, 6]);
  });
});
