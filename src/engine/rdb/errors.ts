/**
 * Errors of the RDB parser. RdbError is the only error a parser throws for bad input; it names what
 * was being read, the absolute byte offset in the stream and the key (when inside a key).
 */
import { ExitCode, FerryError } from '../../core/errors.js';

/** Renders a key for messages: printable ASCII as is, anything else hex-escaped, long keys cut. */
export function showKey(key: Uint8Array): string {
  let s = '';
  const n = Math.min(key.length, 80);
  for (let i = 0; i < n; i++) {
    const c = key[i];
    s += c >= 0x20 && c < 0x7f && c !== 0x27 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return key.length > n ? `${s}...` : s;
}

/** Truncated, corrupt or unsupported RDB input. `what` names the field, `offset` is absolute. */
export class RdbError extends FerryError {
  constructor(
    readonly what: string,
    readonly offset: number,
    readonly key?: Uint8Array,
  ) {
    super(
      `bad RDB: ${what} at byte ${offset}${key ? ` of key '${showKey(key)}'` : ''}`,
      ExitCode.stepFailed,
      'check that the file/stream is a complete RDB produced by Redis or Valkey',
    );
    this.name = 'RdbError';
  }
}

/**
 * Thrown (as this one shared object, never constructed per use) when a read runs past the bytes
 * buffered so far; the parser catches it, rewinds to the start of the unit and waits for more input.
 */
export const NEED_MORE: { readonly needMore: true } = Object.freeze({ needMore: true as const });
