/**
 * The bridge between the payload bytes of a full sync and the streaming RDB parser
 * (src/engine/rdb/): bytes go in as they arrive, entries (KeyEntry, ChunkEntry, FunctionEntry)
 * come out in file order, synchronously, so backpressure is simply "stop feeding".
 */
import type { Entry } from './entry.js';
import { RdbParser } from './rdb/parser.js';

export interface RdbSink {
  write(chunk: Buffer): void;
  /** The payload is complete: throws if the RDB is truncated. */
  end(): void;
  /** AUX fields seen so far (repl-stream-db, repl-id, …). */
  aux(): Map<string, string>;
  /** RDB version of the payload (0 until the header is read). */
  version(): number;
  /** Script bodies the RDB carried (AUX `lua`, Redis 4.0 to 6.2). */
  luaScripts(): Buffer[];
}

export interface RdbSinkOptions {
  /** 'payload': keys come with DUMP payloads (RESTORE writer); 'decode': decoded chunks. */
  mode: 'payload' | 'decode';
  /** Payload mode: values larger than this come decoded in chunks (RdbParserOptions.payloadLimit). */
  payloadLimit?: number;
  onEntry(e: Entry): void;
  onWarning?(message: string): void;
}

/** Creates the parser for one full sync. */
export function createRdbSink(opts: RdbSinkOptions): RdbSink {
  const parser = new RdbParser({ mode: opts.mode, payloadLimit: opts.payloadLimit, onWarning: opts.onWarning });
  return {
    write(chunk) {
      const records = parser.write(chunk);
      for (let i = 0; i < records.length; i++) opts.onEntry(records[i]);
    },
    end: () => parser.end(),
    aux: () => parser.aux,
    version: () => parser.version,
    luaScripts: () => parser.luaScripts,
  };
}
