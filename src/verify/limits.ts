/** Bounds for the verifier: a byte budget for replies in flight, a keys-per-second rate. */

/** A counting semaphore over bytes (or any unit): `acquire(n)` waits until n fit. */
export class Budget {
  private used = 0;
  private waiters: Array<{ n: number; go: () => void }> = [];

  constructor(readonly total: number) {}

  /** Waits until `n` units fit (a request above the total waits until nothing else is held). */
  acquire(n: number): Promise<void> {
    const want = Math.min(n, this.total);
    if (this.used + want <= this.total && this.waiters.length === 0) {
      this.used += want;
      return Promise.resolve();
    }
    return new Promise((go) => this.waiters.push({ n: want, go: () => ((this.used += want), go()) }));
  }

  release(n: number): void {
    this.used -= Math.min(n, this.total);
    while (this.waiters.length && this.used + this.waiters[0].n <= this.total) this.waiters.shift()!.go();
  }

  /** Runs `fn` holding `n` units. */
  async with<T>(n: number, fn: () => Promise<T>): Promise<T> {
    await this.acquire(n);
    try {
      return await fn();
    } finally {
      this.release(n);
    }
  }
}

/**
 * `--rate KEYS/S`: a token bucket holding at most one second of keys. `take(n)` waits until n keys
 * may be read; no rate means no wait.
 */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();

  constructor(
    readonly perSecond: number | undefined,
    private readonly signal?: AbortSignal,
  ) {
    this.tokens = perSecond ?? 0;
  }

  async take(n: number): Promise<void> {
    const rate = this.perSecond;
    if (!rate) return;
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(rate, this.tokens + ((now - this.last) * rate) / 1000);
      this.last = now;
      // NOTE: a batch bigger than one second of keys goes through once the bucket is full, so a
      // tiny rate still makes progress (the average stays at the rate).
      if (this.tokens >= Math.min(n, rate)) {
        this.tokens -= n;
        return;
      }
      const waitMs = Math.ceil(((Math.min(n, rate) - this.tokens) * 1000) / rate);
      await sleep(Math.max(1, waitMs), this.signal);
    }
  }
}

/** Sleeps `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
