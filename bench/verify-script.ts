/**
 * The baseline of bench/verify.bench.ts, run as its own process: what a user would write to compare
 * two servers — SCAN the source, DUMP each batch on both sides (ioredis pipelines, both sides at
 * once), compare the payloads. One direction only, no TTLs, every value held whole.
 *
 *   node dist/bench/verify-script.js SOURCE_PORT TARGET_PORT   → prints {"keys":…,"differ":…}
 */
import { Redis } from 'ioredis';

async function main(): Promise<void> {
  const [sp, tp] = process.argv.slice(2).map(Number);
  const src = new Redis({ port: sp, host: '127.0.0.1' });
  const dst = new Redis({ port: tp, host: '127.0.0.1' });
  let cursor = '0';
  let keys = 0;
  let differ = 0;
  do {
    const [next, batch] = await src.scanBuffer(cursor, 'COUNT', 1000);
    cursor = String(next);
    if (batch.length === 0) continue;
    const a = src.pipeline();
    const b = dst.pipeline();
    for (const k of batch) {
      a.dumpBuffer(k);
      b.dumpBuffer(k);
    }
    const [ra, rb] = await Promise.all([a.exec(), b.exec()]);
    for (let i = 0; i < batch.length; i++) {
      const x = ra![i][1] as Buffer | null;
      const y = rb![i][1] as Buffer | null;
      if (!x || !y || !x.equals(y)) differ++;
    }
    keys += batch.length;
  } while (cursor !== '0');
  process.stdout.write(`${JSON.stringify({ keys, differ })}\n`);
  src.disconnect();
  dst.disconnect();
}

await main();
