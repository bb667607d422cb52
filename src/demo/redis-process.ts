/**
 * Starts local redis-server processes (used by `ferry demo` and the tests): a free loopback port,
 * its own temp dir, config given as args, torn down by pid (also when the process exits).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { UsageError } from '../core/errors.js';
import { pickFreePort } from '../core/provision-server.js';

export interface LocalRedis {
  port: number;
  host: string;
  pid: number;
  dir: string;
  url: string;
  /** The config file, when started with `config` (Sentinel rewrites its own). */
  configPath?: string;
  /** A fresh ioredis client (closed by stop()). */
  client(): Redis;
  stop(): Promise<void>;
}

const live = new Set<LocalRedis>();

function killAll(): void {
  for (const s of live) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.once('exit', killAll);

/** Asks the kernel for a free loopback port. */
export async function freePort(): Promise<number> {
  return pickFreePort('127.0.0.1');
}

export interface StartOptions {
  /** Extra config, e.g. ['--requirepass', 'x'] or ['--maxmemory', '100mb']. */
  args?: string[];
  port?: number;
  /** Config file content: written to the server's dir and passed first (Sentinel needs a file). */
  config?: string;
  /** Run as Redis Sentinel (`redis-server FILE --sentinel`; needs `config`). */
  sentinel?: boolean;
  /**
   * The server binary (default `redis-server` on PATH), e.g. one of ../shared/redis-servers for a
   * cross-version test. It is only executed: the data dir is always a fresh temp dir (--dir).
   */
  bin?: string;
}

/** Starts redis-server and waits until it answers PING. */
export async function startRedis(opts: StartOptions = {}): Promise<LocalRedis> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'ferry-test-redis-'));
  const configPath = opts.config !== undefined ? join(dir, 'redis.conf') : undefined;
  if (configPath) writeFileSync(configPath, opts.config!);
  const args = [
    ...(configPath ? [configPath] : []),
    ...(opts.sentinel ? ['--sentinel'] : []),
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--logfile', join(dir, 'redis.log'),
    '--repl-diskless-sync-delay', '0',
    ...(opts.args ?? []),
  ];
  const bin = opts.bin ?? 'redis-server';
  const child = spawn(bin, args, { stdio: 'ignore', detached: false });
  child.on('error', () => {}); // a missing binary: reported below, not as an unhandled 'error' event
  const pid = child.pid;
  if (!pid) {
    rmSync(dir, { recursive: true, force: true });
    throw new UsageError(opts.bin ? `${bin} did not start` : 'redis-server is not on PATH; install it (apt-get install redis-server, or bash scripts/demo.sh does it)');
  }
  watchdog(pid, dir);
  const clients: Redis[] = [];
  const password = passwordFrom(opts.args ?? []);
  const server: LocalRedis = {
    port,
    host: '127.0.0.1',
    pid,
    dir,
    url: `redis://${password ? `:${encodeURIComponent(password)}@` : ''}127.0.0.1:${port}`,
    configPath,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', password, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    async stop() {
      live.delete(server);
      for (const c of clients) c.disconnect();
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await waitExit(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(server);
  await waitForPing(server, child, password);
  return server;
}

/**
 * A process killed hard (SIGKILL, a test runner timeout) runs no exit handler. A detached shell
 * watches this process and the server: when this process is gone it kills the server (by pid, and
 * only while the server still runs in its own temp dir) and removes the dir; when the server is
 * gone first it just exits.
 */
function watchdog(serverPid: number, dir: string): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${serverPid} 2>/dev/null; do sleep 1; done; ` +
    `if [ "$(readlink /proc/${serverPid}/cwd 2>/dev/null)" = "${dir}" ]; then kill -9 ${serverPid}; sleep 0.2; rm -rf "${dir}"; fi`;
  const w = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  w.unref();
}

function passwordFrom(args: string[]): string | undefined {
  const i = args.indexOf('--requirepass');
  return i >= 0 ? args[i + 1] : undefined;
}

async function waitForPing(s: LocalRedis, child: ReturnType<typeof spawn>, password?: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) {
      const log = existsSync(join(s.dir, 'redis.log')) ? readFileSync(join(s.dir, 'redis.log'), 'utf8') : '';
      live.delete(s);
      throw new Error(`redis-server on port ${s.port} exited at start:\n${log.slice(-2000)}`);
    }
    const c = new Redis({ port: s.port, host: '127.0.0.1', password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.ping().catch((e: Error) => {
        if (!/NOAUTH/.test(e.message)) throw e;
      });
      c.disconnect();
      return;
    } catch {
      c.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await s.stop();
  throw new Error(`redis-server on port ${s.port} did not answer PING within 10s`);
}

async function waitExit(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Kills a pid (e.g. a redis-server ferry started detached) and waits for it to go. */
export async function killPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitExit(pid);
}
