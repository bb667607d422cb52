/**
 * The paced writer (rate-writer.ts) in a process of its own, so that in the backlog bench it does
 * not share an event loop with the engine it loads:
 *   node dist/bench/rate-writer-process.js PORT BYTES_PER_SEC
 * It prints `ready` once connected and writing, and writes to 127.0.0.1:PORT until its stdin
 * closes (its parent ended it, or died), then exits.
 */
import { Redis } from 'ioredis';
import { startRateWriter } from './rate-writer.js';

const [port, rate] = process.argv.slice(2).map(Number);
const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => null });
client.on('error', () => {});
await client.ping();
const writer = startRateWriter(client, { bytesPerSec: rate, maxMs: 120_000, prefix: 'bench' });
process.stdout.write('ready\n'); // the parent measures from here
const end = async (): Promise<void> => {
  await writer.stop();
  client.disconnect();
  process.exit(writer.error ? 1 : 0);
};
process.stdin.on('end', () => void end());
process.stdin.on('close', () => void end());
process.stdin.resume();
