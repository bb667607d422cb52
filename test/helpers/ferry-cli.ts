/** Runs the compiled CLI (bin/ferry) as a child process, bounded in time. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const FERRY_BIN = join(import.meta.dirname, '..', '..', 'bin', 'ferry');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawns `ferry ...args`; `onStart` gets the child (e.g. to send it a signal later). */
export function ferry(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; onStart?(child: ChildProcess, out: () => { stdout: string; stderr: string }): void } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY_BIN, ...args], { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ferry ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 60_000} ms\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
    opts.onStart?.(child, () => ({ stdout, stderr }));
  });
}
