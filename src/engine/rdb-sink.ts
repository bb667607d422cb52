/**
 * The bridge between the payload bytes of a full sync and the RDB parser (src/engine/rdb/): bytes
 * go in as they arrive, entries (KeyEntry, ChunkEntry, FunctionEntry) come out in file order.
 */
import type { Entry } from './entry.js';

export interface RdbSink {
  write(chunk: Buffer): void;
  /** The payload is complete. */
  end(): void;
  /** AUX fields seen so far (repl-stream-db, repl-id, …). */
  aux(): Map<string, string>;
}

export interface RdbSinkOptions {
  /** 'payload': keys come with DUMP payloads (RESTORE writer); 'decode': decoded chunks. */
  mode: 'payload' | 'decode';
  onEntry(e: Entry): void;
}

/** Creates the parser for one full sync. */
export function createRdbSink(_opts: RdbSinkOptions): RdbSink {
  // NOTE: placeholder until the streaming parser lands: accepts the bytes and emits nothing.
  return { write() {}, end() {}, aux: () => new Map() };
}
