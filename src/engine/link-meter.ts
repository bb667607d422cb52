/**
 * What the engine needs to explain a refused partial resync: the replication stream's recent rate
 * (growth of the received offset over the last few seconds) and when, and at which offset, the
 * source link was lost. Plain bookkeeping; sync.ts feeds it and asks it.
 */

/** Samples older than this are dropped: the rate is the recent one. */
const WINDOW_MS = 5000;
/** At most one sample per this interval (the stream delivers many batches a second). */
const EVERY_MS = 100;

export class LinkMeter {
  private samples: Array<{ t: number; offset: number }> = [];
  private lostAt: number | null = null;
  private lostOffset = 0;

  /** Records the received offset now (cheap; call it per batch). */
  sample(offset: number, now = Date.now()): void {
    const last = this.samples[this.samples.length - 1];
    if (last && now - last.t < EVERY_MS) return;
    if (last && offset < last.offset) this.samples = []; // a new history (full sync)
    this.samples.push({ t: now, offset });
    while (this.samples.length > 2 && now - this.samples[0].t > WINDOW_MS) this.samples.shift();
  }

  /** Forgets the samples (after a full sync the offsets belong to a new history). */
  reset(): void {
    this.samples = [];
  }

  /** Stream bytes per second over the recent samples; 0 when there are too few. */
  rate(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    const dt = b.t - a.t;
    return dt >= 200 ? ((b.offset - a.offset) * 1000) / dt : 0;
  }

  /** The link was lost (the first loss counts until the link is back). */
  lost(offset: number, now = Date.now()): void {
    if (this.lostAt !== null) return;
    this.lostAt = now;
    this.lostOffset = offset;
  }

  /** The link is back (a PSYNC was answered). */
  restored(): void {
    this.lostAt = null;
  }

  /** True between a loss of the stream and the next PSYNC reply. */
  isDown(): boolean {
    return this.lostAt !== null;
  }

  /** How long the link has been down, ms (0 when it is not). */
  downMs(now = Date.now()): number {
    return this.lostAt === null ? 0 : now - this.lostAt;
  }

  /**
   * The write rate to explain a +FULLRESYNC with: the recent stream rate, or else the source's
   * offset growth while the link was down (from the offset the FULLRESYNC reported).
   */
  rateFor(masterOffset: number, now = Date.now()): number {
    const r = this.rate();
    if (r > 0) return r;
    const down = this.downMs(now);
    return down > 0 ? Math.max(0, ((masterOffset - this.lostOffset) * 1000) / down) : 0;
  }
}
