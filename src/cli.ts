/**
 * The CLI: a thin shell over the core (STYLE.md #1). Commands load lazily.
 */
import { Command } from 'commander';
import { exitCodeOf, FerryError } from './core/errors.js';
import { redact } from './core/redact.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('ferry')
    .description('Move a live Redis dataset to a new instance with zero downtime and zero lost writes')
    .exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') process.exit(0);
    if (e.code?.startsWith('commander.')) process.exit(2);
    const code = exitCodeOf(err);
    const msg = err instanceof FerryError ? err.message : `internal error: ${(err as Error)?.stack ?? err} (please report this bug)`;
    process.stderr.write(`ferry: ${redact(msg)}\n`);
    process.exit(code);
  }
}
