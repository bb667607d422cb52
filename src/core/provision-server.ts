/**
 * `--to start[:PORT]`: ferry starts redis-server itself, detached so it outlives ferry, with its own
 * config file, data dir, log and pid file under the data dir.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { execa } from 'execa';
import { StepError, UsageError } from './errors.js';
import type { Endpoint } from './endpoint.js';

/** What `startServer` needs. */
export interface ServerLaunch {
  host: string;
  port: number;
  dataDir: string;
  password?: string;
  /** Extra config lines, "name value". */
  serverArgs: string[];
}

/** A server ferry started. */
export interface StartedServer {
  pid: number;
  dataDir: string;
  configPath: string;
  logPath: string;
}

/** The redis-server binary (FERRY_REDIS_SERVER overrides PATH lookup). */
export function redisServerBinary(): string {
  return process.env.FERRY_REDIS_SERVER || 'redis-server';
}

/** Default data dir for a started server: ./.ferry/<port>. */
export function defaultDataDir(port: number): string {
  return join('.ferry', String(port));
}

/** The config file ferry writes (password as `requirepass`, shown redacted in plans). */
export function serverConfig(l: ServerLaunch, showPassword = true): string {
  const dir = resolve(l.dataDir);
  const lines = [
    `port ${l.port}`,
    `bind ${l.host}`,
    `dir ${dir}`,
    `logfile ${join(dir, 'redis.log')}`,
    `pidfile ${join(dir, 'redis.pid')}`,
    'daemonize no',
    ...(l.password ? [`requirepass ${showPassword ? quote(l.password) : '<redacted>'}`] : []),
    ...l.serverArgs,
  ];
  return `${lines.join('\n')}\n`;
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** True when nothing listens on host:port. */
export async function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, host, () => srv.close(() => res(true)));
  });
}

/** Asks the kernel for a free port on host. */
export async function pickFreePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, host, () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? res(a.port) : rej(new Error('no free port'))));
    });
  });
}

/** Throws a UsageError when the redis-server binary cannot be run. */
export async function assertServerBinary(): Promise<void> {
  const bin = redisServerBinary();
  try {
    await execa(bin, ['--version'], { timeout: 10_000 });
  } catch {
    throw new UsageError(`cannot run ${bin}: install redis-server (apt-get install redis-server) or attach to a running server with --to redis://host:port`);
  }
}

/** `--to start`: the binary must run and a given port must be free (else UsageError, exit 2). */
export async function assertCanStart(target: Pick<Endpoint, 'host' | 'port'>): Promise<void> {
  await assertServerBinary();
  if (target.port && !(await isPortFree(target.host, target.port))) {
    throw new UsageError(`port ${target.port} on ${target.host} is in use; choose another with --to start:PORT`);
  }
}

/**
 * Starts redis-server detached and waits until it answers PING (10 s). A server that exits at
 * start fails with the last line of its log.
 */
export async function startServer(l: ServerLaunch): Promise<StartedServer> {
  await assertCanStart(l);
  const dataDir = resolve(l.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const configPath = join(dataDir, 'redis.conf');
  writeFileSync(configPath, serverConfig(l), { mode: 0o600 });
  chmodSync(configPath, 0o600);
  const logPath = join(dataDir, 'redis.log');
  // NOTE: detached + unref + cleanup:false: the server is the new master and must outlive ferry.
  // Errors before the log file opens (a bad config line) go to stderr: keep them in a file.
  const startErr = join(dataDir, 'redis-start.err');
  // NOTE: node's spawn with a raw fd for stderr, not execa: execa's stderr-to-file pipes through
  // this process, which would keep ferry alive as long as the server runs.
  const errFd = openSync(startErr, 'w', 0o600);
  const child = spawn(redisServerBinary(), [configPath], { detached: true, stdio: ['ignore', 'ignore', errFd], cwd: dataDir });
  closeSync(errFd);
  child.on('error', () => {});
  child.unref();
  const pid = child.pid;
  if (!pid) throw new StepError('provision', `${redisServerBinary()} did not start`);
  await waitForServer(l, pid, logPath, startErr);
  return { pid, dataDir, configPath, logPath };
}

async function waitForServer(l: ServerLaunch, pid: number, logPath: string, startErr: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw startFailure(logPath, startErr);
    if (await answersPing(l.host, l.port, l.password)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new StepError('provision', `redis-server (pid ${pid}) did not answer on ${l.host}:${l.port} within 10 s; see ${logPath}`);
}

/** True when a server answers PING at host:port (with the password, if any). */
export async function answersPing(host: string, port: number, password?: string): Promise<boolean> {
  const c = new Redis({ host, port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  c.on('error', () => {});
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

/** True when the process exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The reason a started server gave for exiting: a config error is the user's (exit 2). */
function startFailure(logPath: string, startErr: string): Error {
  const err = readTail(startErr);
  if (/CONFIG FILE ERROR/.test(err)) {
    const why = /^(Bad directive.*|.*argument.*|.*Invalid.*)$/im.exec(err)?.[1] ?? err.split('\n').pop();
    return new UsageError(`redis-server refused its config (${why}); check --server-arg`);
  }
  const reason = lastLine(readTail(logPath)) || lastLine(err) || 'no log written';
  return new StepError('provision', `redis-server exited at start: ${reason}; see ${logPath}`);
}

function readTail(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trim().slice(-4000) : '';
}

function lastLine(text: string): string {
  const lines = text.split('\n');
  return (lines[lines.length - 1] ?? '').replace(/^\d+:\w \d+ \w+ \d+ [\d:.]+ [#*.-] /, '');
}
