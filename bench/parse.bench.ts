/**
 * RDB parse throughput (MB/s of RDB bytes), against baselines measured in the same run:
 *   - copy:  Buffer.copy of the file in 64 KiB chunks (memory bandwidth floor for touching bytes)
 *   - crc64: the CRC64 of the file (what any parser verifying the trailer must at least do)
 * Files: "strings" = DEBUG POPULATE 1000000 on a real redis-server, SAVE; "mixed" = every type and
 * encoding (test/helpers/dataset.ts) + 300k small keys of mixed types + big collections, SAVE.
 * Modes: payload (skip: keys sliced, values not decoded, payloads not built), payload+build
 * (every KeyEntry.payload materialized: copy + CRC64, the full-sync RESTORE path), decode (every
 * element decoded into chunk records). Input is fed from memory in 64 KiB chunks like a socket.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Crc64 } from '../src/engine/rdb/crc64.js';
import type { RdbKeyEntry } from '../src/engine/rdb/key-record.js';
import { RdbParser, type RdbParserOptions } from '../src/engine/rdb/parser.js';
import { fillEveryType } from '../test/helpers/dataset.js';

const CHUNK = 64 * 1024;
const REPEAT = 15;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function startServer(dir: string): Promise<{ client: Redis; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: (n) => (n > 100 ? null : 50), maxRetriesPerRequest: 50 });
  client.on('error', () => {});
  await client.ping();
  return {
    client,
    stop: async () => {
      client.disconnect();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function bigCollections(c: Redis): Promise<void> {
  for (let k = 0; k < 100; k++) {
    const pipe = c.pipeline();
    const h: string[] = [];
    const z: string[] = [];
    const l: string[] = [];
    const s: string[] = [];
    for (let i = 0; i < 1000; i++) {
      h.push(`field:${i}`, `value:${k}:${i}`);
      z.push(String(i * 1.5), `member:${k}:${i}`);
      l.push(`item:${k}:${i}`);
      s.push(`m:${k}:${i}`);
    }
    pipe.hset(`big:hash:${k}`, ...h);
    pipe.zadd(`big:zset:${k}`, ...z);
    pipe.rpush(`big:list:${k}`, ...l);
    pipe.sadd(`big:set:${k}`, ...s);
    for (let i = 0; i < 300; i++) pipe.xadd(`big:stream:${k}`, '*', 'n', String(i), 'payload', `p-${k}-${i}`);
    await pipe.exec();
  }
}

/** A writer's output buffer: keys and payloads are copied into it, as RESTORE commands would be. */
const OUT = Buffer.allocUnsafe(4 << 20);

function feed(buf: Buffer, opts: RdbParserOptions, how: 'skip' | 'write' | 'objects'): number {
  const p = new RdbParser(opts);
  let keys = 0;
  let off = 0;
  for (let i = 0; i < buf.length; i += CHUNK) {
    const recs = p.write(buf.subarray(i, i + CHUNK));
    for (let j = 0; j < recs.length; j++) {
      const r = recs[j];
      if (r.kind !== 'key') continue;
      keys++;
      if (how === 'skip' || r.chunked) continue;
      const e = r as RdbKeyEntry;
      if (how === 'objects') {
        off += e.key.length + e.payload!.length;
        continue;
      }
      if (off + e.keyLength + e.payloadLength > OUT.length) off = 0;
      off = e.writeKey(OUT, off);
      off = e.writePayload(OUT, off);
    }
  }
  p.end();
  return keys + (off & 0);
}

function best(fn: () => unknown): number {
  let bestMs = Infinity;
  for (let i = 0; i < REPEAT; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    // NOTE: CPU time of this process, not wall time: the machine is shared (other test suites run
    // at the same time), and a synchronous parse loop uses exactly one core while it runs.
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    const ms = (d.user + d.system) / 1000;
    bestMs = Math.min(bestMs, ms);
  }
  return bestMs;
}

function measure(name: string, buf: Buffer): void {
  const mb = buf.length / 1e6;
  const copy = best(() => {
    const dst = Buffer.allocUnsafe(CHUNK);
    for (let i = 0; i < buf.length; i += CHUNK) buf.copy(dst, 0, i, Math.min(buf.length, i + CHUNK));
  });
  const crc = best(() => new Crc64().update(buf).digest());
  const rows: Array<[string, number]> = [
    ['baseline: copy', copy],
    ['baseline: crc64', crc],
    ['payload (skip)', best(() => feed(buf, { mode: 'payload' }, 'skip'))],
    ['payload (skip), no CRC check', best(() => feed(buf, { mode: 'payload', verifyChecksum: false }, 'skip'))],
    ['payload + writeKey/writePayload into a buffer', best(() => feed(buf, { mode: 'payload' }, 'write'))],
    ['payload + entry.key/entry.payload Buffers', best(() => feed(buf, { mode: 'payload' }, 'objects'))],
    ['decode', best(() => feed(buf, { mode: 'decode' }, 'skip'))],
  ];
  process.stdout.write(`\n${name}: ${mb.toFixed(1)} MB, ${feed(buf, {}, 'skip')} keys\n`);
  process.stdout.write('| mode | ms | MB/s | vs crc64 |\n|---|---:|---:|---:|\n');
  for (const [label, ms] of rows) {
    process.stdout.write(`| ${label} | ${ms.toFixed(1)} | ${(mb / (ms / 1000)).toFixed(0)} | ${(crc / ms).toFixed(2)}x |\n`);
  }
}

/** Entry point (bench/run.ts). */
export async function run(): Promise<void> {
  process.stdout.write(`machine: ${cpus()[0]?.model ?? '?'} x${cpus().length}, node ${process.version}\n`);
  const cached = process.env.FERRY_BENCH_RDB_DIR;
  if (cached) {
    measure('strings (DEBUG POPULATE 1000000)', readFileSync(join(cached, 'strings.rdb')));
    measure('mixed types', readFileSync(join(cached, 'mixed.rdb')));
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-parse-'));
  const server = await startServer(dir);
  try {
    const c = server.client;
    await c.call('DEBUG', 'POPULATE', '1000000');
    await c.save();
    const strings = readFileSync(join(dir, 'dump.rdb'));
    if (process.env.FERRY_BENCH_KEEP) copyFileSync(join(dir, 'dump.rdb'), join(process.env.FERRY_BENCH_KEEP, 'strings.rdb'));
    await c.flushall();
    await fillEveryType(c, { bulk: 300_000, debug: true });
    await bigCollections(c);
    await c.save();
    const mixed = readFileSync(join(dir, 'dump.rdb'));
    if (process.env.FERRY_BENCH_KEEP) copyFileSync(join(dir, 'dump.rdb'), join(process.env.FERRY_BENCH_KEEP, 'mixed.rdb'));
    measure('strings (DEBUG POPULATE 1000000)', strings);
    measure('mixed types', mixed);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
