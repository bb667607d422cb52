/**
 * Entry of the wizard (`ferry` with no arguments in a terminal). Imported lazily: ink and react
 * cost ~0.75 s to load, which no other command should pay.
 */
import { render } from 'ink';
import { realDeps } from './deps.js';
import { Wizard } from './Wizard.js';

/** Runs the wizard to its end; resolves with the exit code. */
export async function runWizard(): Promise<number> {
  let code = 0;
  // NOTE: Ctrl-C must not kill the process mid-migration: the wizard asks, then aborts cleanly.
  const app = render(<Wizard deps={realDeps} onExit={(c) => (code = c)} />, { exitOnCtrlC: false, stdout: process.stdout, stdin: process.stdin });
  await app.waitUntilExit();
  return code;
}
