/**
 * The gate's last resort for a key still being written in every round: compared once with writes
 * paused on the source (CLIENT PAUSE 1000 WRITE), then unpaused at once. The step runs against
 * real servers with a stand-in replication driver that, like a replica always one write behind,
 * gives the target a value newer than the one just read from the source, except while writes are
 * paused: so the key differs in every round and must agree at rest.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { EventBus } from '../../src/core/events.js';
import { parseRedisUrl } from '../../src/core/endpoint.js';
import { newState } from '../../src/core/state.js';
import { specFromFlags } from '../../src/core/spec-from-flags.js';
import { PAUSED_AT } from '../../src/steps/fence.js';
import type { StepContext } from '../../src/steps/step.js';
import { verify } from '../../src/steps/verify.js';
import { startRedis, type TestServer } from '../helpers/redis-server.js';

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe('the gate compares keys still being written with writes paused', () => {
  it('a key that differs in every round agrees at rest: the gate passes and the source is unpaused', async () => {
    const [source, target] = await Promise.all([startRedis(), startRedis()]);
    servers.push(source, target);
    const s = source.client();
    const t = target.client();
    for (let i = 0; i < 50; i++) await s.set(`k:${i}`, 'v');
    for (let i = 0; i < 50; i++) await t.set(`k:${i}`, 'v');
    await s.set('hot', '0');
    await t.set('hot', '0');
    const spec = { ...specFromFlags({ from: source.url, to: target.url, verify: 'full' }, {}) };
    const state = newState(spec);
    const warnings: string[] = [];
    let pausesSeen = 0;
    let calls = 0;
    const ctx = {
      spec,
      target: parseRedisUrl(target.url, '--to'),
      facts: { source: { version: (await s.info('server')).match(/redis_version:(\S+)/)![1] } },
      state,
      statePath: '(test)',
      bus: new EventBus(),
      signal: new AbortController().signal,
      yes: true,
      confirm: async () => true,
      sourceClient: async () => s,
      sourceMasters: async () => [{ addr: 'source', client: s }],
      sourceNode: async () => s,
      targetClient: async () => t,
      save: async () => {},
      warn: (m: string) => warnings.push(m),
      info: () => {},
      driver: {
        // The source moves on at every look and the target follows it (so after a source read the
        // target is one write ahead); the first look (converge) leaves the target behind; while
        // writes are paused the target simply catches up.
        async offsets() {
          if (state.data[PAUSED_AT] === undefined) await s.incr('hot');
          else pausesSeen++;
          if (calls++ > 0) await t.set('hot', (await s.get('hot'))!);
          return { masterOffset: 1, replicaOffset: 1, linkUp: true, syncing: false };
        },
      },
    } as unknown as StepContext;
    const detail = (await verify.run(ctx, () => {})) as Record<string, any>;
    expect(detail.agree).toBe(true);
    expect(detail.rounds.differing).toEqual([1, 1, 1, 1]); // the hot key differed in every round
    expect(detail.pausedCheck).toMatchObject({ keys: 1, stillDiffering: 0 });
    expect(detail.pausedCheck.pauseMs).toBeLessThan(1000);
    expect(pausesSeen).toBeGreaterThan(0);
    expect(state.data[PAUSED_AT]).toBeUndefined();
    // Not paused any more: a write is answered at once.
    const t0 = Date.now();
    await (source.client() as Redis).set('after', '1');
    expect(Date.now() - t0).toBeLessThan(300);
  });
});
