/**
 * RESP2 command encoding. `encodeCommand` makes one Buffer per command; `CommandBuffer` appends
 * many commands into one growing buffer (one socket write per batch, few syscalls), and keeps big
 * arguments out of the copy: they are handed to the socket as their own Buffers.
 *
 * Wire format: `*<argc>\r\n` then per argument `$<len>\r\n<bytes>\r\n`.
 */

/** A command argument: Buffers are sent as they are, strings as UTF-8, numbers in decimal. */
export type Arg = Buffer | string | number;

/** Arguments at least this big are not copied into the batch buffer. */
const BIG_ARG = 64 * 1024;

function argLength(a: Arg): number {
  if (typeof a === 'string') return Buffer.byteLength(a);
  if (typeof a === 'number') return decimalLength(a);
  return a.length;
}

/** Digits of a non-negative integer (what lengths and counts are); other numbers via String. */
export function decimalLength(n: number): number {
  if (Number.isSafeInteger(n) && n >= 0) {
    if (n < 10) return 1;
    if (n < 100) return 2;
    if (n < 1000) return 3;
    if (n < 10000) return 4;
    if (n < 100000) return 5;
  }
  return String(n).length;
}

/** Bytes `encodeCommand(args)` would produce. */
export function commandLength(args: readonly Arg[]): number {
  let size = 1 + decimalLength(args.length) + 2;
  for (const a of args) {
    const len = argLength(a);
    size += 1 + decimalLength(len) + 2 + len + 2;
  }
  return size;
}

/** Encodes one command into a single Buffer. */
export function encodeCommand(args: readonly Arg[]): Buffer {
  const out = Buffer.allocUnsafe(commandLength(args));
  const end = writeCommandAt(out, 0, args);
  return end === out.length ? out : out.subarray(0, end);
}

function writeCommandAt(out: Buffer, at: number, args: readonly Arg[]): number {
  let p = writeHeader(out, at, 0x2a, args.length);
  for (const a of args) {
    if (typeof a === 'string') {
      const len = Buffer.byteLength(a);
      p = writeHeader(out, p, 0x24, len);
      p += out.write(a, p, 'utf8');
    } else if (typeof a === 'number') {
      if (Number.isSafeInteger(a) && a >= 0) {
        // `$<digits>\r\n<n>`: the number's own digits double as the payload.
        const d = decimalLength(a);
        p = writeHeader(out, p, 0x24, d);
        for (let i = d - 1, v = a; i >= 0; i--, v = Math.floor(v / 10)) out[p + i] = 48 + (v % 10);
        p += d;
      } else {
        const s = String(a);
        p = writeHeader(out, p, 0x24, s.length);
        p += out.write(s, p, 'latin1');
      }
    } else {
      p = writeHeader(out, p, 0x24, a.length);
      p += a.copy(out, p);
    }
    out[p++] = 13;
    out[p++] = 10;
  }
  return p;
}

/** Writes `<prefix><n>\r\n` (n a non-negative integer: a length or a count) at out[p]; returns the end. */
export function writeHeader(out: Buffer, p: number, prefix: number, n: number): number {
  out[p++] = prefix;
  // NOTE: digits by hand: Buffer#write of a number's string was the encoder's hottest call.
  if (n < 10) {
    out[p++] = 48 + n;
  } else if (n < 100) {
    out[p++] = 48 + ((n / 10) | 0);
    out[p++] = 48 + (n % 10);
  } else if (n < 1000) {
    out[p++] = 48 + ((n / 100) | 0);
    out[p++] = 48 + (((n / 10) | 0) % 10);
    out[p++] = 48 + (n % 10);
  } else {
    const d = decimalLength(n);
    for (let i = d - 1, v = n; i >= 0; i--, v = Math.floor(v / 10)) out[p + i] = 48 + (v % 10);
    p += d;
  }
  out[p++] = 13;
  out[p++] = 10;
  return p;
}

/**
 * Accumulates encoded commands for one socket write. `take()` returns the Buffers to write, in
 * order: copied small commands share one buffer; big arguments travel as their own slices.
 */
export class CommandBuffer {
  private buf: Buffer;
  private len = 0;
  private out: Buffer[] = [];
  private total = 0;

  constructor(private readonly initialSize = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** Bytes appended since the last `take()`. */
  get size(): number {
    return this.total;
  }

  /** Appends one command; returns its encoded length. */
  push(args: readonly Arg[]): number {
    let big = false;
    for (const a of args) if (typeof a !== 'string' && typeof a !== 'number' && a.length >= BIG_ARG) big = true;
    const n = big ? this.pushWithBigArgs(args) : this.pushSmall(args);
    this.total += n;
    return n;
  }

  /** Appends bytes that are already RESP (e.g. a forwarded command). */
  pushRaw(bytes: Buffer): void {
    if (bytes.length >= BIG_ARG) {
      this.seal();
      this.out.push(bytes);
    } else {
      this.ensure(bytes.length);
      this.len += bytes.copy(this.buf, this.len);
    }
    this.total += bytes.length;
  }

  /**
   * Appends one command of exactly `n` bytes that `fill(buf, off)` writes in place (it returns the
   * offset after what it wrote): for callers that encode from their own packed data (no argument
   * array, no Buffer per argument, no intermediate copy).
   */
  pushWith(n: number, fill: (buf: Buffer, off: number) => number): void {
    this.ensure(n);
    const end = fill(this.buf, this.len);
    if (end !== this.len + n) throw new Error(`CommandBuffer.pushWith: wrote ${end - this.len} bytes, announced ${n}`);
    this.len = end;
    this.total += n;
  }

  /** The encoded commands since the last call (possibly several Buffers), and resets. */
  take(): Buffer[] {
    this.seal();
    const out = this.out;
    this.out = [];
    this.total = 0;
    return out;
  }

  private pushSmall(args: readonly Arg[]): number {
    const need = commandLength(args);
    this.ensure(need);
    const end = writeCommandAt(this.buf, this.len, args);
    const n = end - this.len;
    this.len = end;
    return n;
  }

  private pushWithBigArgs(args: readonly Arg[]): number {
    let n = 0;
    const head = (prefix: number, v: number): void => {
      this.ensure(24);
      const end = writeHeader(this.buf, this.len, prefix, v);
      n += end - this.len;
      this.len = end;
    };
    head(0x2a, args.length);
    for (const a of args) {
      const b = typeof a === 'string' || typeof a === 'number' ? Buffer.from(String(a)) : a;
      head(0x24, b.length);
      if (b.length >= BIG_ARG) {
        this.seal();
        this.out.push(b);
      } else {
        this.ensure(b.length);
        this.len += b.copy(this.buf, this.len);
      }
      this.ensure(2);
      this.buf[this.len++] = 13;
      this.buf[this.len++] = 10;
      n += b.length + 2;
    }
    return n;
  }

  /** Makes room for `n` more bytes in the current buffer. */
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    this.seal();
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(n, this.initialSize));
  }

  /** Moves the filled part of the current buffer to the output list. */
  private seal(): void {
    if (this.len === 0) return;
    this.out.push(this.buf.subarray(0, this.len));
    // NOTE: the sealed part is still referenced by `out` until written, so continue in a new
    // buffer rather than overwrite it.
    this.buf = this.buf.length - this.len >= 16 * 1024 ? this.buf.subarray(this.len) : Buffer.allocUnsafe(this.initialSize);
    this.len = 0;
  }
}
