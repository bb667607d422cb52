import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from './helpers/cli.js';
import { startRedis, type TestServer } from './helpers/redis-server.js';

interface Ev {
  event: string;
  step?: string;
  phase?: string;
  done?: number;
  total?: number;
  unit?: string;
  ts: string;
}

const KEYS = 150_000;

describe('progress of a real engine sync (--json)', () => {
  let a: TestServer;
  let b: TestServer;
  let dir: string;
  beforeAll(async () => {
    [a, b] = await Promise.all([startRedis({ args: ['--enable-debug-command', 'yes'] }), startRedis()]);
    const c = a.client();
    await c.call('DEBUG', 'POPULATE', String(KEYS), 'key', '100');
    c.disconnect();
    dir = mkdtempSync(join(tmpdir(), 'ferry-progress-'));
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('ferry run reports RDB bytes and keys applied out of the source keys, at most once per second per phase', async () => {
    const r = await ferry(['run', '--from', a.url, '--to', b.url, '--sync', 'engine', '--repoint', 'none', '--yes', '--json', '--state', join(dir, 's.json')], { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Ev);
    const keys = events.filter((e) => e.event === 'progress' && e.phase === 'keys');
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(k).toMatchObject({ step: 'converge', unit: 'keys', total: KEYS });
      expect(k.done).toBeLessThanOrEqual(KEYS);
    }
    const byPhase = new Map<string, number>();
    for (const e of events.filter((x) => x.event === 'progress')) {
      const key = `${e.step}/${e.phase}`;
      const prev = byPhase.get(key);
      const final = e.total !== undefined && (e.done ?? 0) >= e.total;
      if (prev !== undefined && !final) expect(Date.parse(e.ts) - prev).toBeGreaterThanOrEqual(990);
      byPhase.set(key, Date.parse(e.ts));
    }
    const c = b.client();
    expect(await c.dbsize()).toBe(KEYS);
    c.disconnect();
  });
});
