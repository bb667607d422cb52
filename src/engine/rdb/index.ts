/**
 * The RDB layer of the embedded engine: a streaming parser (parser.ts) and helpers to parse a whole
 * file (used by `ferry rdb inspect`, tests and the bench) or decode a single DUMP payload (used by
 * writers that must rewrite a payload into commands, e.g. for an older target).
 */
import { open } from 'node:fs/promises';
import type { ChunkEntry } from '../entry.js';
import { Crc64 } from './crc64.js';
import { RdbError } from './errors.js';
import { Reader } from './reader.js';
import { RdbParser, type RdbParserOptions, type RdbRecord } from './parser.js';
import { VALUE_TYPE, internalType } from './types.js';
import { newChunk, type RdbChunk } from './chunk.js';
import { decodeValue } from './value.js';

export { RdbParser, type RdbParserOptions, type RdbRecord } from './parser.js';
export { RdbError } from './errors.js';
export { crc64, Crc64 } from './crc64.js';
export { buildPayload, RdbKeyEntry } from './key-record.js';
export { RdbChunk } from './chunk.js';
export { RDB_TYPE_NAME, VALUE_TYPE, moduleName } from './types.js';

/** Reads a file in `chunkSize` pieces through a parser; calls onRecords for each chunk's records. */
export async function parseRdbFile(
  path: string,
  opts: RdbParserOptions,
  onRecords: (records: RdbRecord[], parser: RdbParser) => void | Promise<void>,
  chunkSize = 1 << 20,
): Promise<RdbParser> {
  const parser = new RdbParser(opts);
  const fh = await open(path, 'r');
  try {
    for (;;) {
      // NOTE: a fresh buffer per read: the parser's records keep slices of it.
      const buf = Buffer.allocUnsafe(chunkSize);
      const { bytesRead } = await fh.read(buf, 0, chunkSize, null);
      if (bytesRead === 0) break;
      const recs = parser.write(bytesRead === chunkSize ? buf : buf.subarray(0, bytesRead));
      if (recs.length > 0) await onRecords(recs, parser);
      if (parser.done) break;
    }
  } finally {
    await fh.close();
  }
  parser.end();
  return parser;
}

/** Parses an in-memory RDB, returning every record (tests, small files). */
export function parseRdbBuffer(buf: Buffer, opts: RdbParserOptions = {}): { records: RdbRecord[]; parser: RdbParser } {
  const parser = new RdbParser(opts);
  const records = parser.write(buf);
  parser.end();
  return { records, parser };
}

/**
 * Decodes a DUMP/RESTORE payload (type byte + value + version u16 LE + CRC64 LE) into its elements
 * (one ChunkEntry with last: true). Throws RdbError on a bad checksum or a corrupt value.
 */
export function decodePayload(payload: Buffer): { rdbType: number; version: number; chunk: RdbChunk } {
  if (payload.length < 11) throw new RdbError('DUMP payload (shorter than 11 bytes)', 0);
  const n = payload.length;
  const crc = new Crc64().update(payload, 0, n - 8);
  const stored = payload.readBigUInt64LE(n - 8);
  if (stored !== 0n && !crc.equalsLE(payload, n - 8)) throw new RdbError('DUMP payload CRC64', n - 8);
  const rdbType = payload[0];
  const version = payload.readUInt16LE(n - 10);
  // RDB version 80 is Valkey 9's own numbering (types.ts RDB_TYPE_VALKEY_HASH_2).
  const type = internalType(rdbType, version >= 80);
  if (VALUE_TYPE[type] === undefined) throw new RdbError(`DUMP payload of unknown RDB type ${rdbType}`, 0);
  const r = new Reader();
  r.reset(payload, 1, n - 10, 0, true);
  const chunk = newChunk();
  decodeValue(r, type, chunk);
  if (r.pos !== n - 10) throw new RdbError('DUMP payload (bytes after the value)', r.pos);
  chunk.last = true;
  return { rdbType, version, chunk };
}
