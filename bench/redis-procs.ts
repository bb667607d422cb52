/**
 * Bench helpers: start and stop throwaway redis-server processes on free loopback ports (the test
 * helpers are not compiled into dist/, so the bench has its own small copy of the idea).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface BenchServer {
  port: number;
  pid: number;
  /** Its --dir (SAVE writes dump.rdb here); removed by stop(). */
  dir: string;
  client: Redis;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts redis-server with `args` and waits for PING. */
export async function startServer(args: string[] = [], opts: { bin?: string; debugFlag?: boolean } = {}): Promise<BenchServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  // `bin`: another server version (../shared/redis-servers); 5.0 and 6.2 lack --enable-debug-command.
  const child = spawn(opts.bin ?? 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--logfile', join(dir, 'log'), '--repl-diskless-sync-delay', '0', ...(opts.debugFlag === false ? [] : ['--enable-debug-command', 'yes']), ...args], { stdio: 'ignore' });
  const pid = child.pid!;
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 50 });
  client.on('error', () => {});
  for (let i = 0; ; i++) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (e) {
      if (i > 200) throw new Error(`redis-server did not start: ${readFileSync(join(dir, 'log'), 'utf8').slice(-500)} ${e}`);
      client.disconnect();
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    port,
    pid,
    dir,
    client,
    async stop() {
      client.disconnect();
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
