/**
 * Streams (RDB types 15/19/21: STREAM_LISTPACKS v1/v2/v3).
 *
 *   len nodes; per node: string (16-byte master ID: u64 BE ms, u64 BE seq) + string (listpack)
 *   len length, len last_id.ms, len last_id.seq
 *   v2+: len first_id.ms/.seq, len max_deleted.ms/.seq, len entries_added
 *   len groups; per group: string name, len last_id.ms/.seq, v2+: len entries_read (2^64-1 = -1),
 *     len pel; per pending: 16-byte ID, int64 LE delivery_time, len delivery_count
 *     len consumers; per consumer: string name, int64 LE seen_time, v3: int64 LE active_time,
 *       len pel; per entry a 16-byte ID
 * Node listpack: master entry `count, deleted, nfields, field_1..field_n, 0`; then per entry
 * `flags, ms_delta, seq_delta, (values only if flags & 2 SAMEFIELDS | nfields, field, value...),
 * lp_count`; flags & 1 = deleted. IDs are master + delta modulo 2^64 (deltas may be negative).
 */
import type { StreamEntryRecord, StreamGroup, StreamMeta } from '../entry.js';
import { ListpackIter, type BlobCtx } from './compact.js';
import { RdbError } from './errors.js';
import type { Reader } from './reader.js';

const U64 = (1n << 64n) - 1n;
const FLAG_DELETED = 1;
const FLAG_SAMEFIELDS = 2;

/** A 64-bit stream ID part written with rdbSaveLen (may exceed 2^53). */
function lenBig(r: Reader, what: string): bigint {
  const p = r.pos;
  r.ensure(1, what);
  if (r.buf[p] === 0x81) {
    r.ensure(9, what);
    r.pos = p + 9;
    return r.buf.readBigUInt64BE(p + 1);
  }
  return BigInt(r.len(what));
}

function idText(ms: bigint | number, seq: bigint | number): string {
  return `${ms}-${seq}`;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** master ID part + listpack delta, modulo 2^64; plain numbers when everything is small (fast). */
function addDelta(base: bigint, baseNum: number, it: ListpackIter, what: string): number | bigint {
  if (baseNum >= 0 && !it.isStr && it.big === null) {
    const v = baseNum + it.num;
    if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) return v;
  }
  return (base + it.bigint(what)) & U64;
}

function rawId(r: Reader, what: string): string {
  r.ensure(16, what);
  const p = r.pos;
  r.pos = p + 16;
  return idText(r.buf.readBigUInt64BE(p), r.buf.readBigUInt64BE(p + 8));
}

/** Skips one node (master ID + listpack) without looking inside. */
export function skipStreamNode(r: Reader): void {
  r.skipString('stream node master ID');
  r.skipString('stream node listpack');
}

/** Reads one node and appends its live entries to `out`. */
export function readStreamNode(r: Reader, out: StreamEntryRecord[]): void {
  const master = r.string('stream node master ID');
  if (master.length !== 16) r.fail(`stream node master ID of ${master.length} bytes`);
  const lp = r.string('stream node listpack');
  decodeStreamListpack(master.readBigUInt64BE(0), master.readBigUInt64BE(8), lp, out, { at: r.dataAt, reader: r });
}

/** Walks one node's listpack (see the module comment). */
export function decodeStreamListpack(ms0: bigint, seq0: bigint, lp: Buffer, out: StreamEntryRecord[], ctx: BlobCtx): void {
  const it = new ListpackIter(lp, ctx);
  const ms0n = ms0 <= SAFE ? Number(ms0) : -1;
  const seq0n = seq0 <= SAFE ? Number(seq0) : -1;
  const need = (what: string): void => {
    if (!it.next()) failAt(ctx, `stream listpack: missing ${what}`, it.p);
  };
  need('master count');
  const count = it.int('stream master count');
  need('master deleted count');
  const deleted = it.int('stream master deleted count');
  need('master field count');
  const nMaster = it.int('stream master field count');
  const masterFields: Buffer[] = [];
  for (let i = 0; i < nMaster; i++) {
    need('master field');
    masterFields.push(it.value());
  }
  need('master terminator');
  const total = count + deleted;
  for (let e = 0; e < total; e++) {
    need('entry flags');
    const flags = it.int('stream entry flags');
    need('entry ms delta');
    const ms = addDelta(ms0, ms0n, it, 'stream entry ms delta');
    need('entry seq delta');
    const seq = addDelta(seq0, seq0n, it, 'stream entry seq delta');
    const fields: Buffer[] = [];
    if (flags & FLAG_SAMEFIELDS) {
      for (let i = 0; i < nMaster; i++) {
        need('entry value');
        fields.push(masterFields[i], it.value());
      }
    } else {
      need('entry field count');
      const n = it.int('stream entry field count');
      for (let i = 0; i < n; i++) {
        need('entry field');
        const f = it.value();
        need('entry value');
        fields.push(f, it.value());
      }
    }
    need('entry lp-count');
    if (!(flags & FLAG_DELETED)) out.push({ id: idText(ms, seq), fields });
  }
  if (it.next()) failAt(ctx, 'stream listpack: entries beyond the master count', it.p);
}

function failAt(ctx: BlobCtx, what: string, p: number): never {
  throw new RdbError(what, ctx.at + p, ctx.key ?? ctx.reader?.key);
}

/** Reads (or, with out = null, skips) everything after the nodes: lengths, IDs and groups. */
export function readStreamTail(r: Reader, rdbType: number, out: StreamMeta | null): void {
  const v2 = rdbType >= 19;
  const v3 = rdbType >= 21;
  const length = r.len('stream length');
  const lastId = idText(lenBig(r, 'stream last ID'), lenBig(r, 'stream last ID'));
  let firstId = '0-0';
  let maxDeletedId = '0-0';
  let entriesAdded = length;
  if (v2) {
    firstId = idText(lenBig(r, 'stream first ID'), lenBig(r, 'stream first ID'));
    maxDeletedId = idText(lenBig(r, 'stream max deleted ID'), lenBig(r, 'stream max deleted ID'));
    entriesAdded = Number(lenBig(r, 'stream entries added'));
  }
  const nGroups = r.len('stream group count');
  const groups: StreamGroup[] = [];
  for (let g = 0; g < nGroups; g++) {
    const name = r.string('stream group name');
    const gLast = idText(lenBig(r, 'stream group last ID'), lenBig(r, 'stream group last ID'));
    let entriesRead = -1;
    if (v2) {
      const er = lenBig(r, 'stream group entries read');
      entriesRead = er >= 1n << 53n ? -1 : Number(er);
    }
    const nPel = r.len('stream group PEL size');
    const pending = [];
    for (let i = 0; i < nPel; i++) {
      const id = rawId(r, 'stream PEL entry ID');
      const deliveryTime = r.int64LE('stream PEL delivery time');
      const deliveryCount = r.len('stream PEL delivery count');
      if (out) pending.push({ id, deliveryTime, deliveryCount });
    }
    const nConsumers = r.len('stream consumer count');
    const consumers = [];
    for (let c = 0; c < nConsumers; c++) {
      const cname = r.string('stream consumer name');
      const seenTime = r.int64LE('stream consumer seen time');
      const activeTime = v3 ? r.int64LE('stream consumer active time') : seenTime;
      const nCp = r.len('stream consumer PEL size');
      const cpel: string[] = [];
      for (let i = 0; i < nCp; i++) {
        const id = rawId(r, 'stream consumer PEL ID');
        if (out) cpel.push(id);
      }
      if (out) consumers.push({ name: cname, seenTime, activeTime, pending: cpel });
    }
    if (out) groups.push({ name, lastId: gLast, entriesRead, pending, consumers });
  }
  if (out) {
    out.length = length;
    out.lastId = lastId;
    out.firstId = firstId;
    out.maxDeletedId = maxDeletedId;
    out.entriesAdded = entriesAdded;
    out.groups = groups;
  }
}
