/**
 * The parser's input side: chunks as they arrive, the bytes the parser has not consumed yet, and the
 * file CRC over the bytes it has. The parser (parser.ts) extends it and only ever reads through `r`.
 *
 * NOTE (chunk boundaries): a unit (one opcode or key record) that runs past the end of the buffered
 * bytes is rewound; chunks are then only collected (not copied) until the failed read's `needAbs`
 * is buffered, and joined once. A record straddling two chunks is the common case (every chunk
 * boundary), so for it only the first bytes of the new chunk are copied behind the leftover, into
 * a small "bridge" buffer; the parser crosses the boundary there, then continues in the chunk
 * itself (leaveBridge at the next unit boundary).
 */
import { Crc64 } from './crc64.js';
import { Reader } from './reader.js';

/** Bridge buffers: at least this many bytes of the new chunk, for leftovers up to BRIDGE_MAX_LEFT. */
const BRIDGE_BYTES = 4096;
const BRIDGE_MAX_LEFT = 1 << 16;

/** See the module comment. */
export abstract class RdbInput {
  protected readonly r = new Reader();
  /** Chunks collected while waiting for `needAbs`, and their total length. */
  protected pending: Buffer[] = [];
  protected pendingLen = 0;
  /** After a rewind: the absolute offset the failed read needed to reach. */
  protected needAbs = 0;
  /** Bridge mode: the chunk being bridged into (null when not bridging) and where it starts in the bridge buffer. */
  protected bridgeChunk: Buffer | null = null;
  protected bridgeSplit = 0;
  /** How many of bridgeChunk's bytes the bridge buffer holds. */
  private bridgeRest = 0;
  private readonly crc = new Crc64();
  /** Absolute offset up to which the CRC has been computed. */
  private crcAbs = 0;
  private trail: Buffer[] = [];

  /** @param verify whether to compute the file CRC (checked by checkCrc). */
  constructor(protected readonly verify: boolean) {}

  /** Bytes of the RDB consumed so far (after the end: the RDB's total length). */
  get bytesConsumed(): number {
    return this.r.base + this.r.pos;
  }

  /** Bytes that followed the RDB's end in the input (empty until the parser reached it). */
  get trailing(): Buffer {
    if (this.trail.length > 1) this.trail = [Buffer.concat(this.trail)];
    return this.trail[0] ?? Buffer.alloc(0);
  }

  /**
   * Hook: the reader is about to leave its buffer for another in which reading continues at
   * `nextPos` (the parser keeps the value bytes it needs from the old one).
   */
  protected abstract leavingBuffer(nextPos: number): void;

  /** Takes a chunk of input; false while more is needed before parsing can go on. */
  protected accept(chunk: Buffer): boolean {
    const r = this.r;
    if (r.pos >= r.end && this.pendingLen === 0) {
      this.flushCrc();
      this.leavingBuffer(0);
      r.reset(chunk, 0, chunk.length, r.base + r.end, false);
      return true;
    }
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    if (r.base + r.end + this.pendingLen < this.needAbs) return false;
    this.combine();
    return true;
  }

  /** After a rewind: true when the bytes the failed read needs are now buffered (then parse on). */
  protected retryAfterShort(): boolean {
    this.needAbs = this.r.needAbs;
    if (this.bridgeChunk === null) return false;
    // The unit needs more than the bridge holds: join it with the rest of the chunk.
    const chunk = this.bridgeChunk;
    this.bridgeChunk = null;
    this.pending.unshift(chunk.subarray(this.bridgeRest));
    this.pendingLen += chunk.length - this.bridgeRest;
    if (this.r.base + this.r.end + this.pendingLen < this.needAbs) return false;
    this.combine();
    return true;
  }

  /** Unconsumed input bytes held (buffered, collected, and the bridged chunk's rest). */
  protected get heldBytes(): number {
    const r = this.r;
    const rest = this.bridgeChunk !== null ? this.bridgeChunk.length - this.bridgeRest : 0;
    return r.end - r.pos + this.pendingLen + rest;
  }

  /** Joins the unconsumed tail with the collected chunks into one buffer (or a bridge). */
  private combine(): void {
    const r = this.r;
    this.flushCrc();
    this.leavingBuffer(0);
    const parts = this.pending;
    const left = r.end - r.pos;
    this.pending = [];
    this.pendingLen = 0;
    if (parts.length === 1 && left <= BRIDGE_MAX_LEFT) {
      const chunk = parts[0];
      const m = Math.max(this.needAbs - (r.base + r.end), BRIDGE_BYTES);
      if (m * 2 < chunk.length) {
        const bridge = Buffer.allocUnsafe(left + m);
        r.buf.copy(bridge, 0, r.pos, r.end);
        chunk.copy(bridge, left, 0, m);
        r.reset(bridge, 0, left + m, r.base + r.pos, false);
        this.bridgeChunk = chunk;
        this.bridgeSplit = left;
        this.bridgeRest = m;
        return;
      }
    }
    if (r.pos < r.end) parts.unshift(r.buf.subarray(r.pos, r.end));
    const base = r.base + r.pos;
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    r.reset(buf, 0, buf.length, base, false);
  }

  /** Moves from the bridge buffer into the chunk it was cut from (call at a unit boundary past bridgeSplit). */
  protected leaveBridge(): void {
    const r = this.r;
    const chunk = this.bridgeChunk!;
    this.flushCrc();
    const off = r.pos - this.bridgeSplit;
    this.leavingBuffer(off);
    r.reset(chunk, off, chunk.length, r.base + this.bridgeSplit, false);
    this.bridgeChunk = null;
  }

  /** Ends bridge mode without leaving the buffer: returns the bridged chunk's bytes not in it. */
  protected takeBridgeRest(): Buffer[] {
    const chunk = this.bridgeChunk;
    this.bridgeChunk = null;
    return chunk !== null ? [chunk.subarray(this.bridgeRest)] : [];
  }

  /** Adds the consumed bytes not yet hashed to the file CRC. */
  protected flushCrc(): void {
    if (!this.verify) return;
    const r = this.r;
    const from = this.crcAbs - r.base;
    if (r.pos > from) {
      this.crc.update(r.buf, from, r.pos);
      this.crcAbs = r.base + r.pos;
    }
  }

  /** Checks the CRC of everything consumed against buf[p, p + 8) (little-endian); throws naming both. */
  protected checkCrc(buf: Buffer, p: number): void {
    if (this.crc.equalsLE(buf, p)) return;
    this.r.fail(`CRC64 trailer (file says 0x${buf.readBigUInt64LE(p).toString(16)}, content hashes to 0x${this.crc.digest().toString(16)})`);
  }

  /** The RDB ended at the cursor: everything after it, buffered or collected, is trailing input. */
  protected endInput(): void {
    const r = this.r;
    if (r.pos < r.end) this.trail.push(r.buf.subarray(r.pos, r.end));
    this.trail.push(...this.takeBridgeRest(), ...this.pending);
    this.pending = [];
    this.pendingLen = 0;
    r.end = r.pos;
  }

  /** After the end: input that follows the RDB. */
  protected addTrailing(chunk: Buffer): void {
    if (chunk.length > 0) this.trail.push(chunk);
  }
}
