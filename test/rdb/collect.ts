/**
 * Test helper: runs records from an RdbParser into whole keys (key record + its chunks joined), so
 * tests can compare keys regardless of how the input was split.
 */
import type { ChunkEntry, FunctionEntry, KeyEntry, StreamEntryRecord, StreamMeta } from '../../src/engine/entry.js';
import { RdbParser, type RdbRecord } from '../../src/engine/rdb/index.js';

export interface CollectedKey {
  entry: KeyEntry;
  items: Buffer[];
  fieldExpireAt?: number[];
  streamEntries: StreamEntryRecord[];
  stream?: StreamMeta;
}

/** Accumulates records into keys; throws on a chunk without a chunked key before it. */
export class KeyCollector {
  readonly keys: CollectedKey[] = [];
  readonly functions: FunctionEntry[] = [];
  private open: CollectedKey | null = null;

  add(records: RdbRecord[]): void {
    for (const rec of records) {
      if (rec.kind === 'key') {
        if (this.open) throw new Error('key record while a chunked key is open');
        const k: CollectedKey = { entry: rec, items: [], streamEntries: [] };
        this.keys.push(k);
        if (rec.chunked) this.open = k;
      } else if (rec.kind === 'chunk') {
        const k = this.open;
        if (!k) throw new Error('chunk without a chunked key');
        addChunk(k, rec);
        if (rec.last) this.open = null;
      } else {
        if (this.open) throw new Error('function record while a chunked key is open');
        this.functions.push(rec);
      }
    }
  }
}

function addChunk(k: CollectedKey, c: ChunkEntry): void {
  for (const it of c.items) k.items.push(Buffer.from(it));
  if (c.fieldExpireAt) (k.fieldExpireAt ??= []).push(...c.fieldExpireAt);
  if (c.streamEntries) k.streamEntries.push(...c.streamEntries);
  if (c.stream) k.stream = c.stream;
}

/**
 * Parses `buf` in `mode`, cut at each offset of `split` (ascending; [] = whole), and returns the
 * parser (for its counters) with the whole keys it produced.
 */
export function parseSplit(buf: Buffer, mode: 'payload' | 'decode', split: number[]): { parser: RdbParser; keys: CollectedKey[] } {
  const parser = new RdbParser({ mode });
  const c = new KeyCollector();
  let at = 0;
  for (const s of [...split, buf.length]) {
    c.add(parser.write(buf.subarray(at, s)));
    at = s;
  }
  parser.end();
  return { parser, keys: c.keys };
}
