/** Pieces the run-like commands share: signals, confirmations, output sinks. */
import { createInterface } from 'node:readline/promises';
import { InterruptedError, UsageError } from '../core/errors.js';

/**
 * SIGINT/SIGTERM abort the returned signal (the runner then stops cleanly, exit 130); so does
 * `interrupt()`, for a Ctrl-C that a prompt caught before it became a signal.
 */
export function abortOnSignals(): { signal: AbortSignal; interrupt(): void; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (ac.signal.aborted) return; // a second Ctrl-C while cleaning up: keep cleaning up
    process.stderr.write(`\nferry: ${name} received, stopping cleanly…\n`);
    ac.abort(new Error(name));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    interrupt: () => onSignal('SIGINT'),
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * The confirmation function for a run: none with --yes; a terminal prompt on a TTY; without a
 * TTY and without --yes the run is refused up front (exit 2) naming --yes. Ctrl-C at the prompt
 * calls `onCtrlC` (a run then stops as on SIGINT) and rejects with an InterruptedError (exit 130).
 */
export function confirmer(yes: boolean, onCtrlC?: () => void): ((q: string) => Promise<boolean>) | undefined {
  if (yes) return undefined;
  if (!process.stdin.isTTY) throw new UsageError('this command changes servers and needs a confirmation, but there is no terminal to ask; pass --yes');
  return async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } catch (err) {
      // NOTE: readline reads the terminal raw, so Ctrl-C is no SIGINT here: the question rejects
      // with an AbortError (code ABORT_ERR; node's lib/internal/readline/interface.js).
      if ((err as { code?: string }).code !== 'ABORT_ERR') throw err;
      onCtrlC?.();
      throw new InterruptedError('interrupted at the question; nothing more was done');
    } finally {
      rl.close();
    }
  };
}
