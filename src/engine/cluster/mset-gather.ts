/**
 * The full sync's plain strings into a cluster, gathered per slot (router.ts uses it).
 *
 * The KeyWriter batches plain strings into MSETs of ~1000 keys, which a cluster refuses (their keys
 * span slots). Here each key goes straight into its slot's batch: its slot is computed from the
 * key's bytes (slots.ts slotOfBytes) and its `$len key $len value` pair is written once, from the
 * parser's input, into the slot's region of one arena (`addStrings`: no Buffer and no object per
 * key; an encoded MSET is taken apart the same way by `add`). A slot's batch goes out as one MSET
 * when its region is full (SLOT_BYTES: ~30 small keys), when it is the oldest open batch and
 * SWEEP_KEYS more keys came in (so the masters work while the RDB is read, and little is left for
 * them at its end), and when the router flushes it (before any other command for the slot, and
 * whenever the engine waits for the window or for idle). A pair too big for a region goes out
 * alone, right after its slot's batch. A key with a TTL (when the caller says the target has SET …
 * PXAT, 6.2+) is written as `SET key value PXAT ms` into the same region, from the region's end
 * backwards, and the batch goes out as the MSET followed by those, one blob (SlotBatch.commands).
 * NOTE: not MSET + PEXPIREAT: a PEXPIREAT that reaches a node without the key (a slot in
 * migration, a resend) answers 0, not an error, and the TTL was lost (seen in the resharding test,
 * 1 run in 7); a SET … PXAT carries its TTL wherever it lands, and no MSET holds such a key. And
 * not one command object per key (the KeyWriter's PEXPIREAT also flushed the slot's batch first:
 * MSETs of one key when every key has a TTL).
 *
 * NOTE (why one arena): the keys of an RDB come in hash-table order, so consecutive keys land in
 * random slots. With one Buffer (and a list of callers) per slot, each key touched three or four
 * objects scattered over the heap, and the cache misses plus the garbage cost ~1 µs per key, more
 * than parsing it; in one arena of SLOTS regions a key costs one write where its slot's region is.
 *
 * Replies: batches are numbered as they open; a caller is answered once every batch opened before
 * its call ended has answered (all that can hold its keys: a batch opened later cannot), or at the
 * first error among them, at once. Callers in the same stretch may share an error that was
 * another's key: every caller (the KeyWriter) treats a refused full-sync write as fatal anyway.
 */
import type { KeyEntry } from '../entry.js';
import { stringPairLength, writeStringPair } from '../apply/key-writer.js';
import type { ReplyHandler } from '../apply/target.js';
import { RespError, type RespValue } from '../resp/decoder.js';
import { decimalLength, writeHeader } from '../resp/encoder.js';
import { SLOTS, keySlot, slotOfBytes } from './slots.js';

/** Bytes of a slot's region in the arena (SLOTS of them: 16 MiB), the MSET's header space included. */
const SLOT_BYTES = 1024;
/**
 * One batch goes out, the oldest open one, per this many keys gathered: the masters get MSETs all
 * along (not the whole arena at the end), of about SWEEP_KEYS keys each once every slot has an
 * open batch (a batch then lives while SWEEP_KEYS keys times the open slots go by).
 */
const SWEEP_KEYS = 32;
/** Room kept at the start of a region for `*<argc>\r\n$4\r\nMSET\r\n` (a pair is at least 11 bytes). */
const HEAD = 1 + decimalLength(1 + 2 * Math.floor(SLOT_BYTES / 11)) + 2 + 10;
/** Keys up to this long get their slot from a scratch copy (no Buffer view made). */
const SCRATCH = 1024;

/** One slot's gathered strings, ready to send. */
export interface SlotBatch {
  /** The encoded `MSET k v …` command (its own Buffer: kept for a resend until answered). */
  cmd: Buffer;
  /** Keys in it. */
  count: number;
  /** Commands in `cmd`: the MSET (when `count` > 0), then a `SET … PXAT` per key with a TTL. */
  commands: number;
}

/** A caller waiting for the batches opened before `mark`. */
interface Waiter {
  mark: number;
  onReply: ReplyHandler;
}

/** See the file comment. */
export class MsetGatherer {
  private arena: Buffer | null = null;
  /** Per slot: the end of what its region holds (offset in the region), its keys, its batch number. */
  private readonly end = new Int32Array(SLOTS).fill(HEAD);
  private readonly count = new Int32Array(SLOTS);
  private readonly seqOf = new Float64Array(SLOTS);
  /** Per slot: where its SET … PXATs start (they fill the region from its end down), and how many. */
  private readonly tail = new Int32Array(SLOTS).fill(SLOT_BYTES);
  private readonly ttls = new Int32Array(SLOTS);
  /** The open batches, oldest first (a slot with the batch's number; stale once it went out). */
  private openSlots: number[] = [];
  private openSeqs: number[] = [];
  private openHead = 0;
  /** Keys gathered since the oldest batch was last sent (see SWEEP_KEYS). */
  private sinceSweep = 0;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH);
  /** Batches are numbered from 0 as they open; every batch below `low` has answered. */
  private nextSeq = 0;
  private low = 0;
  private answeredAbove = new Set<number>();
  private waiters: Waiter[] = [];
  private waitersHead = 0;
  /** Errors of answered batches, in the order they came: [seq, error]. */
  private errors: Array<[number, RespError]> = [];

  constructor(
    /** Sends one slot's batch as an MSET (the router's per-slot ordered path). */
    private readonly send: (slot: number, batch: SlotBatch, onReply: ReplyHandler) => void,
    private readonly onFatal: (err: Error) => void,
  ) {}

  /** Gathers plain-string keys (CommandSink.sendStrings): each pair written once, into its slot's region. */
  addStrings(entries: readonly KeyEntry[], ttls: boolean, onReply?: ReplyHandler): void {
    const arena = (this.arena ??= Buffer.allocUnsafe(SLOTS * SLOT_BYTES));
    const scratch = this.scratch;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const klen = e.keyLength ?? e.key.length;
      const vlen = e.valueLength ?? e.value!.length;
      let slot: number;
      if (e.writeKey && klen <= SCRATCH) {
        e.writeKey(scratch, 0);
        slot = slotOfBytes(scratch, 0, klen);
      } else slot = keySlot(e.key);
      const n = stringPairLength(klen, vlen);
      const ttl = ttls ? e.expireAt : null;
      if (ttl !== null) {
        const m = SET_HEAD.length + n + PXAT.length + 1 + decimalLength(decimalLength(ttl)) + 2 + decimalLength(ttl) + 2;
        const write = (out: Buffer, p: number): number => writeSetPxat(out, p, e, klen, vlen, ttl);
        if (m > SLOT_BYTES - HEAD) this.sendAlone(slot, m, write, false);
        else {
          this.room(slot, m);
          const from = (this.tail[slot] -= m);
          if (write(arena, slot * SLOT_BYTES + from) !== slot * SLOT_BYTES + from + m) throw new Error('MSET gathering: a SET of the wrong size');
          this.ttls[slot]++;
          this.added(slot, 0, false);
        }
        continue;
      }
      if (n > SLOT_BYTES - HEAD) {
        this.sendAlone(slot, n, (out, p) => writeStringPair(out, p, e, klen, vlen), true);
        continue;
      }
      const at = this.room(slot, n);
      const end = writeStringPair(arena, at, e, klen, vlen);
      if (end !== at + n) throw new Error(`MSET gathering: wrote ${end - at} bytes, expected ${n}`);
      this.added(slot, n, true);
    }
    this.wait(onReply);
  }

  /**
   * Takes an encoded MSET apart into the slot batches (see the file comment): per key, its slot
   * from the bytes, and its `$len key $len value` pair copied into the slot's region.
   */
  add(bytes: Buffer, onReply?: ReplyHandler): void {
    const arena = (this.arena ??= Buffer.allocUnsafe(SLOTS * SLOT_BYTES));
    let p = bytes.indexOf(10) + 11; // after `*N\r\n` and `$4\r\nMSET\r\n`
    const n = bytes.length;
    while (p < n) {
      const start = p;
      let klen = 0;
      for (p++; bytes[p] !== 13; p++) klen = klen * 10 + bytes[p] - 48;
      const kdata = p + 2;
      p = kdata + klen + 2;
      let vlen = 0;
      for (p++; bytes[p] !== 13; p++) vlen = vlen * 10 + bytes[p] - 48;
      p += 2 + vlen + 2;
      const slot = slotOfBytes(bytes, kdata, kdata + klen);
      if (p - start > SLOT_BYTES - HEAD) {
        this.sendAlone(slot, p - start, (out, at) => at + bytes.copy(out, at, start, p), true);
        continue;
      }
      bytes.copy(arena, this.room(slot, p - start), start, p);
      this.added(slot, p - start, true);
    }
    this.wait(onReply);
  }

  /** Sends a slot's gathered strings as one MSET (nothing when it has none). */
  flushSlot(slot: number): void {
    const count = this.count[slot];
    const tail = this.tail[slot];
    if (count === 0 && tail === SLOT_BYTES) return;
    const base = slot * SLOT_BYTES;
    const arena = this.arena!;
    let start = HEAD;
    if (count > 0) {
      const argc = 1 + 2 * count;
      start = HEAD - (1 + decimalLength(argc) + 2 + 10);
      writeHeader(arena, base + start, 0x2a, argc);
      arena.write('$4\r\nMSET\r\n', base + HEAD - 10, 'latin1');
    }
    const mset = this.end[slot] - start;
    const cmd = Buffer.allocUnsafe(mset + SLOT_BYTES - tail);
    if (mset > 0) arena.copy(cmd, 0, base + start, base + this.end[slot]);
    if (tail < SLOT_BYTES) arena.copy(cmd, mset, base + tail, base + SLOT_BYTES);
    const commands = (count > 0 ? 1 : 0) + this.ttls[slot];
    this.end[slot] = HEAD;
    this.count[slot] = 0;
    this.tail[slot] = SLOT_BYTES;
    this.ttls[slot] = 0;
    this.send(slot, { cmd, count, commands }, this.answerer(this.seqOf[slot]));
  }

  /** Sends every slot's gathered strings. */
  flushAll(): void {
    const slots = this.openSlots;
    for (let i = this.openHead; i < slots.length; i++) this.flushSlot(slots[i]);
    this.openSlots = [];
    this.openSeqs = [];
    this.openHead = 0;
  }

  /** Drops every batch and every waiting caller (the router starts over after a lost master). */
  clear(): void {
    this.end.fill(HEAD);
    this.count.fill(0);
    this.tail.fill(SLOT_BYTES);
    this.ttls.fill(0);
    this.openSlots = [];
    this.openSeqs = [];
    this.openHead = 0;
    this.low = this.nextSeq;
    this.answeredAbove.clear();
    this.waiters = [];
    this.waitersHead = 0;
    this.errors = [];
  }

  /** The arena offset where the slot's next `n` bytes go (its batch flushed first when full). */
  private room(slot: number, n: number): number {
    if (this.end[slot] + n > this.tail[slot]) this.flushSlot(slot);
    return slot * SLOT_BYTES + this.end[slot];
  }

  /**
   * A key was written into the slot's region (`n` bytes at its end, a pair of the MSET; or a SET …
   * PXAT at its tail): counts it, opens the batch; the sweep.
   */
  private added(slot: number, n: number, pair: boolean): void {
    this.end[slot] += n;
    if (pair) this.count[slot]++;
    if (this.count[slot] + this.ttls[slot] === 1) {
      this.seqOf[slot] = this.nextSeq;
      this.openSlots.push(slot);
      this.openSeqs.push(this.nextSeq++);
    }
    if (++this.sinceSweep >= SWEEP_KEYS) {
      this.sinceSweep = 0;
      this.flushOldest();
    }
  }

  /** Sends the batch open the longest (SWEEP_KEYS). */
  private flushOldest(): void {
    const slots = this.openSlots;
    const seqs = this.openSeqs;
    while (this.openHead < slots.length) {
      const i = this.openHead++;
      const slot = slots[i];
      if (this.count[slot] + this.ttls[slot] > 0 && this.seqOf[slot] === seqs[i]) {
        this.flushSlot(slot);
        break;
      }
    }
    if (this.openHead > 4096 && this.openHead * 2 > slots.length) {
      this.openSlots = slots.slice(this.openHead);
      this.openSeqs = seqs.slice(this.openHead);
      this.openHead = 0;
    }
  }

  /**
   * A key too big for a region: the slot's batch first (order), then a command of its own: a
   * one-key MSET of its `n`-byte pair (`pair`), or its `n`-byte SET … PXAT.
   */
  private sendAlone(slot: number, n: number, fill: (out: Buffer, at: number) => number, pair: boolean): void {
    this.flushSlot(slot);
    const head = pair ? 1 + 1 + 2 + 10 : 0; // *3\r\n$4\r\nMSET\r\n
    const cmd = Buffer.allocUnsafe(head + n);
    if (pair) cmd.write('*3\r\n$4\r\nMSET\r\n', 0, 'latin1');
    if (fill(cmd, head) !== head + n) throw new Error('MSET gathering: a key of the wrong size');
    this.send(slot, { cmd, count: pair ? 1 : 0, commands: 1 }, this.answerer(this.nextSeq++));
  }

  /** A caller's keys are all in batches opened so far: answer it once they have answered. */
  private wait(onReply?: ReplyHandler): void {
    if (!onReply) onReply = (r) => r instanceof RespError && this.onFatal(new Error(`target replied: ${r.message}`));
    const err = this.errorBelow(this.nextSeq);
    if (err || this.low >= this.nextSeq) onReply(err ?? 'OK');
    else this.waiters.push({ mark: this.nextSeq, onReply });
  }

  /** The reply handler of batch `seq`: moves `low` on, answers the callers it covers now. */
  private answerer(seq: number): ReplyHandler {
    return (r: RespValue) => {
      if (seq < this.low) return; // cleared meanwhile
      const ws = this.waiters;
      if (r instanceof RespError) {
        // Every caller waiting for this batch gets an error whatever else answers: tell them now
        // (their marks are in order, so they are the queue's tail).
        this.errors.push([seq, r]);
        let i = ws.length;
        while (i > this.waitersHead && ws[i - 1].mark > seq) i--;
        for (const w of ws.splice(i)) w.onReply(this.errorBelow(w.mark)!);
      }
      if (seq !== this.low) {
        this.answeredAbove.add(seq);
        return;
      }
      this.low++;
      while (this.answeredAbove.delete(this.low)) this.low++;
      while (this.waitersHead < ws.length && ws[this.waitersHead].mark <= this.low) {
        const w = ws[this.waitersHead++];
        w.onReply(this.errorBelow(w.mark) ?? 'OK');
      }
      if (this.waitersHead > 1024 && this.waitersHead * 2 > ws.length) {
        this.waiters = ws.slice(this.waitersHead);
        this.waitersHead = 0;
      }
    };
  }

  /** The first error of a batch below `mark`. */
  private errorBelow(mark: number): RespError | null {
    for (const [seq, err] of this.errors) if (seq < mark) return err;
    return null;
  }
}

const SET_HEAD = Buffer.from('*5\r\n$3\r\nSET\r\n', 'latin1');
const PXAT = Buffer.from('$4\r\nPXAT\r\n', 'latin1');

/** Writes `SET <key> <value> PXAT <at>` of a plain-string key at out[p]; returns the end. */
function writeSetPxat(out: Buffer, p: number, e: KeyEntry, klen: number, vlen: number, at: number): number {
  for (let i = 0; i < SET_HEAD.length; i++) out[p++] = SET_HEAD[i];
  p = writeStringPair(out, p, e, klen, vlen);
  for (let i = 0; i < PXAT.length; i++) out[p++] = PXAT[i];
  const d = decimalLength(at);
  p = writeHeader(out, p, 0x24, d);
  for (let i = d - 1, v = at; i >= 0; i--, v = Math.floor(v / 10)) out[p + i] = 48 + (v % 10);
  p += d;
  out[p++] = 13;
  out[p++] = 10;
  return p;
}

/** True when `bytes` is an encoded MSET (`*N\r\n$4\r\nMSET\r\n…`, any case). */
export function isMset(bytes: Buffer): boolean {
  const nl = bytes.indexOf(10);
  if (nl < 0 || bytes[nl + 1] !== 0x24 || bytes[nl + 2] !== 0x34) return false;
  return bytes.toString('latin1', nl + 5, nl + 9).toUpperCase() === 'MSET';
}
