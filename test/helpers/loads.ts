/**
 * Every background load a test starts (write workloads, pollers) registers here, so that:
 * - it is stopped when its test ends or fails (test/setup.ts stops what is left after each test);
 * - a load that died (its server went away, its connection closed) fails the test at the next
 *   wait (`waitFor` calls `assertLoadsHealthy`) instead of leaving the test to time out.
 * A load also stops by itself when its connection closes and after its own time limit, so nothing
 * can keep a test worker alive.
 */
export interface BackgroundLoad {
  readonly name: string;
  /** Why the load ended by itself (connection closed, time limit), or null while it runs. */
  readonly error: Error | null;
  /** Stops the load; resolves when its last request is answered. */
  halt(): Promise<void>;
}

const running = new Set<BackgroundLoad>();

export function trackLoad(load: BackgroundLoad): void {
  running.add(load);
}

export function untrackLoad(load: BackgroundLoad): void {
  running.delete(load);
}

/** Throws if a load still registered ended by itself with an error. */
export function assertLoadsHealthy(): void {
  for (const l of running) {
    if (l.error) throw new Error(`background load "${l.name}" stopped by itself: ${l.error.message}`);
  }
}

/** Stops every registered load (after each test); returns the names of those still running. */
export async function stopAllLoads(): Promise<string[]> {
  const names = [...running].map((l) => l.name);
  await Promise.all([...running].map((l) => l.halt().catch(() => {})));
  running.clear();
  return names;
}

/** Number of loads registered now (for tests of this module). */
export function loadsRunning(): number {
  return running.size;
}

/**
 * Paces a loop to `opsPerSec`: call `await pace(n)` after issuing n operations. A throttled load
 * writes at a rate known in advance, so a test can size the source's backlog for it whatever the
 * machine's speed (a slower machine writes less, never more).
 */
export function pacer(opsPerSec: number): (ops: number) => Promise<void> {
  const started = Date.now();
  let total = 0;
  return async (ops: number) => {
    total += ops;
    if (!Number.isFinite(opsPerSec)) return;
    const due = started + (total / opsPerSec) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  };
}
