/**
 * Script replication from 5.0 and 6.2 (issue 11): with `lua-replicate-commands no` the source sends
 * scripts verbatim (EVAL, EVALSHA of scripts loaded earlier, also before the sync began); with `yes`
 * their effects. The engine must end with the target equal to the source either way, also after the
 * target lost its script cache (SCRIPT FLUSH on the target itself): the source then still sends
 * EVALSHA, which the engine sends as EVAL (src/engine/apply/script-cache.ts). And, as on a Redis
 * replica, the scripts of the full sync's RDB (AUX `lua`) are in the target's script cache.
 * Without the EVALSHA rewrite the `no` cases fail (NOSCRIPT on the target, counters short).
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { CHECKPOINT_KEY, decodeCheckpoint } from '../../src/engine/checkpoint.js';
import { canonicalDump, diffDumps } from '../helpers/canonical.js';
import { spawnFerry } from '../helpers/cli.js';
import { waitFor } from '../helpers/engine.js';
import { HAVE_VERSIONS, VERSIONS, startVersion } from '../helpers/versions.js';

const WRITE_SCRIPT = "redis.call('INCRBY', KEYS[1], ARGV[1]); redis.call('HSET', KEYS[2], ARGV[1], redis.call('GET', KEYS[1])); return 1";
const PUSH_SCRIPT = "return redis.call('RPUSH', KEYS[1], ARGV[1])";

async function scriptLoad(c: Redis, body: string): Promise<string> {
  return String(await c.call('SCRIPT', 'LOAD', body));
}

describe.skipIf(!HAVE_VERSIONS).concurrent('verbatim and effects script replication', () => {
  for (const name of ['5.0', '6.2']) {
    for (const setting of ['no', 'yes']) {
      it(`${name} source, lua-replicate-commands ${setting}`, async () => {
        const [source, target] = await Promise.all([startVersion(VERSIONS[name], { args: ['--lua-replicate-commands', setting] }), startVersion(VERSIONS['7.0'])]);
        const ferry = spawnFerry(['sync', '--from', source.url, '--to', target.url, '--json']);
        try {
          const s = source.client();
          const t = target.client();
          // Loaded before the sync began (so only in the RDB's `lua` AUX fields and the master's cache).
          const sha = await scriptLoad(s, WRITE_SCRIPT);
          await s.evalsha(sha, 2, 'sc:n', 'sc:h', '1');
          await s.eval(PUSH_SCRIPT, 1, 'sc:l', 'before');
          const pushSha = await scriptLoad(s, PUSH_SCRIPT);
          await waitFor(async () => decodeCheckpoint((await t.getBuffer(CHECKPOINT_KEY)) as Buffer | null)?.phase === 'stream', 20_000, 'the stream phase');
          // As on a Redis replica, the full sync's RDB brought the scripts: clients moved to the
          // target can EVALSHA what they loaded on the old master.
          expect(await t.call('SCRIPT', 'EXISTS', sha, pushSha)).toEqual([1, 1]);
          for (let i = 2; i < 40; i++) {
            await s.evalsha(sha, 2, 'sc:n', 'sc:h', String(i));
            await s.evalsha(pushSha, 1, 'sc:l', `e${i}`);
            if (i === 20) await t.call('SCRIPT', 'FLUSH'); // the target loses its scripts; the source does not know
          }
          await s.eval(PUSH_SCRIPT, 1, 'sc:l', 'after');
          const master = Number(/master_repl_offset:(\d+)/.exec(await s.info('replication'))![1]);
          await waitFor(async () => (decodeCheckpoint((await t.getBuffer(CHECKPOINT_KEY)) as Buffer | null)?.offset ?? 0) >= master, 20_000, 'the target to catch up');
          const cmp = { streamMeta: false, fieldTtl: false };
          const skip = (k: Buffer) => k.toString() === CHECKPOINT_KEY;
          expect(diffDumps(await canonicalDump(s, cmp, skip), await canonicalDump(t, cmp, skip))).toEqual([]);
          expect(await t.get('sc:n')).toBe(String((39 * 40) / 2));
          expect(await t.llen('sc:l')).toBe(40);
        } finally {
          ferry.kill('SIGINT');
          const res = await ferry;
          await Promise.all([source.stop(), target.stop()]);
          expect(String(res.stdout)).not.toMatch(/NOSCRIPT|returned an error/);
        }
      }, 60_000);
    }
  }
});
