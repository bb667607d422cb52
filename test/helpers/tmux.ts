/**
 * Drives a program in a real pseudo-terminal through tmux: its own server socket, keys sent with
 * send-keys, the screen read with capture-pane, the exit code written to a file. Every wait is
 * bounded.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TmuxSession {
  /** Sends literal text (no key names). */
  type(text: string): void;
  /** Sends tmux key names: 'Enter', 'Down', 'C-c'. */
  keys(...names: string[]): void;
  /** The whole screen and its history, wrapped lines joined. */
  screen(): string;
  /** Waits until the screen matches; throws with the screen after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  /** Waits for the program's exit code. */
  exitCode(ms?: number): Promise<number>;
  kill(): void;
}

/** Starts `command` (a shell command line) in a new detached session in `dir`. */
export function startTmux(dir: string, command: string, env: Record<string, string> = {}): TmuxSession {
  const socket = `ferry-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const exitFile = join(dir, 'exit-code');
  const script = join(dir, 'session.sh');
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v.replace(/'/g, "'\\''")}'`);
  // NOTE: CI must be unset inside the terminal: with CI set, ink renders only its final frame.
  writeFileSync(script, ['unset CI', ...exports, `cd '${dir}'`, command, `echo $? > '${exitFile}'`, 'sleep 600', ''].join('\n'));
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  tmux('new-session', '-d', '-x', '150', '-y', '50', `sh '${script}'`);
  tmux('set-option', '-g', 'history-limit', '5000');
  const session: TmuxSession = {
    type: (text) => void tmux('send-keys', '-l', text),
    keys: (...names) => void tmux('send-keys', ...names),
    screen: () => tmux('capture-pane', '-p', '-J', '-S', '-'),
    async waitFor(re, ms = 20_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const s = session.screen();
        if (re.test(s)) return s;
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${re}; screen:\n${s.trimEnd()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async exitCode(ms = 30_000) {
      const deadline = Date.now() + ms;
      while (!existsSync(exitFile) || readFileSync(exitFile, 'utf8').trim() === '') {
        if (Date.now() > deadline) throw new Error(`no exit code after ${ms} ms; screen:\n${session.screen().trimEnd()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return Number(readFileSync(exitFile, 'utf8').trim());
    },
    kill() {
      try {
        tmux('kill-server');
      } catch {
        /* already gone */
      }
    },
  };
  return session;
}
