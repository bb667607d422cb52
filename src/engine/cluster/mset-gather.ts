/**
 * The full sync's plain strings into a cluster, gathered per slot (router.ts uses it).
 *
 * The KeyWriter batches plain strings into MSETs of ~1000 keys, which a cluster refuses (their keys
 * span slots). Here such an MSET is taken apart from its bytes — for each key, its slot computed
 * in place (slots.ts slotOfBytes) and the byte range of its `$len key $len value` pair, nothing
 * copied — and the pairs are regathered per slot. A slot's batch goes out as one MSET (encoded
 * straight into the master's connection buffer, writeGathered) when it holds 64 keys or 64 KiB,
 * when 16 MiB wait in all batches, or when the router flushes it (before any other command for the
 * slot, and whenever the engine waits for the window or for idle). Each caller's MSET is answered
 * once every batch holding some of its keys has answered.
 */
import type { ReplyHandler } from '../apply/target.js';
import { RespError } from '../resp/decoder.js';
import { writeHeader } from '../resp/encoder.js';
import { SLOTS, slotOfBytes } from './slots.js';

/** A slot's gathered MSET goes out at this many keys or bytes; all of them at BATCHED_MAX bytes. */
const BATCH_KEYS = 64;
const BATCH_BYTES = 64 * 1024;
const BATCHED_MAX = 16 * 1024 * 1024;

/** One caller's MSET, answered once every slot batch holding some of its keys has answered. */
interface MsetJob {
  left: number;
  err: RespError | null;
  onReply?: ReplyHandler;
}

/** Plain strings of one slot waiting for their MSET: where their encoded `$len key $len value` pairs are. */
export interface SlotBatch {
  /** The MSET each pair came from, and the pair's [start, end) in it. */
  refs: Buffer[];
  ranges: number[];
  count: number;
  bytes: number;
  jobs: MsetJob[];
}

/** Encodes a gathered MSET at `off` of `out`; returns the end. */
export function writeGathered(out: Buffer, off: number, b: SlotBatch): number {
  let p = writeHeader(out, off, 0x2a, 1 + 2 * b.count);
  p += out.write('$4\r\nMSET\r\n', p, 'latin1');
  const { refs, ranges } = b;
  for (let i = 0; i < refs.length; i++) {
    const src = refs[i];
    const end = ranges[2 * i + 1];
    // NOTE: a loop, not Buffer#copy: the pairs are tens of bytes, where copy's own cost dominates.
    for (let j = ranges[2 * i]; j < end; j++) out[p++] = src[j];
  }
  return p;
}

/** Encoded size of a gathered MSET. */
export function gatheredLength(b: SlotBatch): number {
  const argc = 1 + 2 * b.count;
  return 1 + String(argc).length + 2 + 10 + b.bytes;
}

/** See the file comment. */
export class MsetGatherer {
  private batches: Array<SlotBatch | undefined> = new Array(SLOTS);
  /** Slots that may have a batch (flushAll walks them). */
  private batchedSlots: number[] = [];
  private batchedBytes = 0;

  constructor(
    /** Sends one slot's batch as an MSET (the router's per-slot ordered path). */
    private readonly send: (slot: number, batch: SlotBatch, onReply: ReplyHandler) => void,
    private readonly onFatal: (err: Error) => void,
  ) {}

  /**
   * Takes an encoded MSET apart into the slot batches (see the file comment): per key, its slot
   * from the bytes and the byte range of its `$len key $len value` pair. Nothing is copied here.
   */
  add(bytes: Buffer, onReply?: ReplyHandler): void {
    const job: MsetJob = { left: 0, err: null, onReply };
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
      let b = this.batches[slot];
      if (!b) {
        b = this.batches[slot] = { refs: [], ranges: [], count: 0, bytes: 0, jobs: [] };
        this.batchedSlots.push(slot);
      }
      b.refs.push(bytes);
      b.ranges.push(start, p);
      b.count++;
      b.bytes += p - start;
      this.batchedBytes += p - start;
      if (b.jobs[b.jobs.length - 1] !== job) {
        b.jobs.push(job);
        job.left++;
      }
      if (b.count >= BATCH_KEYS || b.bytes >= BATCH_BYTES) this.flushSlot(slot);
    }
    if (job.left === 0) onReply?.('OK');
    if (this.batchedBytes >= BATCHED_MAX) this.flushAll();
  }

  /** Sends a slot's gathered strings as one MSET (nothing when it has none). */
  flushSlot(slot: number): void {
    const b = this.batches[slot];
    if (!b) return;
    this.batches[slot] = undefined;
    this.batchedBytes -= b.bytes;
    const jobs = b.jobs;
    const onReply: ReplyHandler = (r) => {
      for (const j of jobs) {
        if (r instanceof RespError) j.err ??= r;
        if (--j.left === 0) {
          if (j.onReply) j.onReply(j.err ?? 'OK');
          else if (j.err) this.onFatal(new Error(`target replied: ${j.err.message}`));
        }
      }
    };
    this.send(slot, b, onReply);
  }

  /** Sends every slot's gathered strings. */
  flushAll(): void {
    const slots = this.batchedSlots;
    this.batchedSlots = [];
    for (const slot of slots) this.flushSlot(slot);
  }

  /** Drops every batch (the router starts over after a lost master). */
  clear(): void {
    this.batches.fill(undefined);
    this.batchedSlots = [];
    this.batchedBytes = 0;
  }
}

/** True when `bytes` is an encoded MSET (`*N\r\n$4\r\nMSET\r\n…`, any case). */
export function isMset(bytes: Buffer): boolean {
  const nl = bytes.indexOf(10);
  if (nl < 0 || bytes[nl + 1] !== 0x24 || bytes[nl + 2] !== 0x34) return false;
  return bytes.toString('latin1', nl + 5, nl + 9).toUpperCase() === 'MSET';
}

/** A gathered MSET as arguments (`MSET k v …`, views into the original MSETs): for a resend as SETs. */
export function gatheredArgs(g: SlotBatch): Buffer[] {
  const argv: Buffer[] = [Buffer.from('MSET')];
  for (let i = 0; i < g.refs.length; i++) {
    const src = g.refs[i];
    let p = g.ranges[2 * i];
    for (let k = 0; k < 2; k++) {
      let len = 0;
      for (p++; src[p] !== 13; p++) len = len * 10 + src[p] - 48;
      argv.push(src.subarray(p + 2, p + 2 + len));
      p += 2 + len + 2;
    }
  }
  return argv;
}
