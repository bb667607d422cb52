/**
 * Framing of the RDB payload that follows +FULLRESYNC (REPLICATION-FACTS A, "RDB payload framing"):
 *
 *   [\n …]  $<len>\r\n  <len bytes>                          disk-based, no trailing CRLF
 *   [\n …]  $EOF:<40 hex chars>\r\n  <rdb>  <same 40 chars>  diskless (the default since 7.0)
 *
 * Newlines before the `$` line are keepalives sent while the master's BGSAVE runs. A line starting
 * with `-` means the master gave up on the transfer.
 *
 * NOTE: the diskless end is found by matching the mark against the last 40 bytes received, so the
 * framing works without help from the RDB parser. That is exact because a diskless master sends
 * nothing after the mark until the replica's first REPLCONF ACK, and the mark is 40 random hex
 * characters.
 */

const MARK_LEN = 40;
const MAX_HEADER = 1024;

/** What the framer reports for each chunk it is given. */
export interface PayloadProgress {
  /** RDB bytes to hand to the parser (may be empty). */
  data: Buffer[];
  /** True once the payload is complete; `rest` holds the bytes after it (the command stream). */
  done: boolean;
  rest?: Buffer;
}

/** Thrown when the master aborts the transfer or sends a malformed header. */
export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadError';
  }
}

/** Splits the bytes after +FULLRESYNC into RDB data and whatever follows. */
export class PayloadFramer {
  /** 'disk' or 'diskless' once the header is read. */
  mode: 'unknown' | 'disk' | 'diskless' = 'unknown';
  /** Payload length for disk-based transfers. */
  total = -1;
  /** RDB bytes passed on so far. */
  received = 0;

  private header: Buffer[] = [];
  private headerLen = 0;
  private left = 0;
  private mark: Buffer | null = null;
  /** Diskless: the last bytes seen, held back until we know they are not the mark. */
  private tail: Buffer = Buffer.alloc(0);

  /** Feeds bytes; see PayloadProgress. */
  push(chunk: Buffer): PayloadProgress {
    const data: Buffer[] = [];
    if (this.mode === 'unknown') {
      const body = this.readHeader(chunk);
      if (body === null) return { data, done: false };
      chunk = body;
    }
    if (this.mode === 'disk') {
      const take = Math.min(this.left, chunk.length);
      if (take > 0) data.push(chunk.subarray(0, take));
      this.left -= take;
      this.received += take;
      if (this.left === 0) return { data, done: true, rest: chunk.subarray(take) };
      return { data, done: false };
    }
    return this.pushDiskless(chunk, data);
  }

  private pushDiskless(chunk: Buffer, data: Buffer[]): PayloadProgress {
    const mark = this.mark as Buffer;
    if (chunk.length >= MARK_LEN) {
      // Common case, no copy: the mark can only be the chunk's own last 40 bytes.
      if (this.tail.length) data.push(this.tail);
      const body = chunk.subarray(0, chunk.length - MARK_LEN);
      if (body.length) data.push(body);
      this.received += this.tail.length + body.length;
      const end = chunk.subarray(chunk.length - MARK_LEN);
      if (end.equals(mark)) {
        this.tail = Buffer.alloc(0);
        return { data, done: true, rest: Buffer.alloc(0) };
      }
      this.tail = Buffer.from(end);
      return { data, done: false };
    }
    const joined = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    if (joined.length >= MARK_LEN && joined.subarray(joined.length - MARK_LEN).equals(mark)) {
      const body = joined.subarray(0, joined.length - MARK_LEN);
      if (body.length) data.push(body);
      this.received += body.length;
      this.tail = Buffer.alloc(0);
      return { data, done: true, rest: Buffer.alloc(0) };
    }
    const keep = Math.min(MARK_LEN, joined.length);
    const body = joined.subarray(0, joined.length - keep);
    if (body.length) data.push(body);
    this.received += body.length;
    this.tail = Buffer.from(joined.subarray(joined.length - keep));
    return { data, done: false };
  }

  /** Reads keepalives and the `$` line; returns the bytes after it, or null if incomplete. */
  private readHeader(chunk: Buffer): Buffer | null {
    let rest = chunk;
    for (;;) {
      const nl = rest.indexOf(10);
      if (nl < 0) {
        this.header.push(rest);
        this.headerLen += rest.length;
        if (this.headerLen > MAX_HEADER) throw new PayloadError('no payload header from the master');
        return null;
      }
      const line = Buffer.concat([...this.header, rest.subarray(0, nl)]).toString('latin1').replace(/\r$/, '');
      this.header = [];
      this.headerLen = 0;
      rest = rest.subarray(nl + 1);
      if (line === '') continue; // keepalive while the master prepares the RDB
      if (line.startsWith('-')) throw new PayloadError(`the master aborted the transfer: ${line.slice(1)}`);
      if (!line.startsWith('$')) throw new PayloadError(`unexpected payload header "${line.slice(0, 60)}"`);
      if (line.startsWith('$EOF:')) {
        const mark = line.slice(5);
        if (mark.length !== MARK_LEN) throw new PayloadError(`bad diskless mark length ${mark.length}`);
        this.mark = Buffer.from(mark, 'latin1');
        this.mode = 'diskless';
      } else {
        const len = Number(line.slice(1));
        if (!Number.isSafeInteger(len) || len < 0) throw new PayloadError(`bad payload length "${line.slice(0, 30)}"`);
        this.total = len;
        this.left = len;
        this.mode = 'disk';
      }
      return rest;
    }
  }
}
