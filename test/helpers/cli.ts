/**
 * Runs the compiled CLI (`node bin/ferry …`, built by `npm test` before vitest starts) as a real
 * child process, the way a user or a CI job would.
 */
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { Redis } from 'ioredis';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = `${ROOT}bin/ferry`;

export interface CliResult {
  /** Exit code, or -1 when the process was killed by a signal (see `signal`). */
  code: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

/** Runs ferry to completion (bounded by `timeoutMs`). */
export async function ferry(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const r = await execa('node', [BIN, ...args], { reject: false, env: { ...opts.env }, cwd: opts.cwd ?? ROOT, timeout: opts.timeoutMs ?? 60_000, stdin: 'ignore' });
  return { code: r.exitCode ?? -1, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Starts ferry without waiting (for signal tests). */
export function spawnFerry(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): ResultPromise {
  return execa('node', [BIN, ...args], { reject: false, env: { ...opts.env }, cwd: opts.cwd ?? ROOT, timeout: 60_000, stdin: 'ignore', buffer: true });
}

/** JSON lines from --json output. */
export function jsonEvents(stdout: string): Array<Record<string, any>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

/** Everything a test compares to prove a server was not changed: keys+values, config, role. */
export async function snapshot(c: Redis): Promise<{ data: Record<string, string | null>; config: Record<string, string>; role: string }> {
  const keys = (await c.keys('*')).sort();
  const data: Record<string, string | null> = {};
  for (const k of keys) data[k] = await c.get(k);
  const flat = (await c.call('CONFIG', 'GET', '*')) as string[];
  const config: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) config[flat[i]] = flat[i + 1];
  const role = ((await c.call('ROLE')) as unknown[])[0] as string;
  return { data, config, role };
}

/** Fills a server with `n` small string keys. */
export async function fill(c: Redis, n: number, prefix = 'seed'): Promise<void> {
  const p = c.pipeline();
  for (let i = 0; i < n; i++) p.set(`${prefix}:${i}`, `value-${i}`);
  await p.exec();
}
