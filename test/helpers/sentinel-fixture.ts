/**
 * The fixture the Sentinel test files share: a temporary working directory, a cleanup list run
 * after each test (whether it passed or failed), a Sentinel group whose master holds 200 keys, and
 * plain servers (targets). Call at the top level of a test file: it registers the vitest hooks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { fill } from './cli.js';
import { startRedis, type TestServer } from './redis-server.js';
import { type SentinelGroup, startSentinelGroup } from './sentinel.js';

export interface SentinelFixture {
  dir: string;
  /** Run (and emptied) after each test; failures are ignored. */
  cleanup: Array<() => Promise<void>>;
  group(opts?: Parameters<typeof startSentinelGroup>[0]): Promise<SentinelGroup>;
  server(args?: string[]): Promise<TestServer>;
}

export function sentinelFixture(): SentinelFixture {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sentinel-'));
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map((f) => f().catch(() => {})));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    cleanup,
    async group(opts = {}) {
      const g = await startSentinelGroup(opts);
      cleanup.push(() => g.stop());
      const c = g.master.client();
      await fill(c, 200);
      c.disconnect();
      return g;
    },
    async server(args = []) {
      const s = await startRedis({ args });
      cleanup.push(() => s.stop());
      return s;
    },
  };
}
