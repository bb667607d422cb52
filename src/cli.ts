/**
 * The CLI: a thin shell over the core (STYLE.md #1). Each command lives in src/commands/NAME.ts and
 * exports `register(program)`; its heavy imports happen inside its action, so `--help` stays fast.
 */
import { Command } from 'commander';
import { exitCodeOf, FerryError } from './core/errors.js';
import { redact } from './core/redact.js';

/** Command modules, in help order. Add one line per command. */
const COMMANDS: Array<() => Promise<{ register(program: Command): void }>> = [
  () => import('./commands/plan.js'),
  () => import('./commands/run.js'),
  () => import('./commands/resume.js'),
  () => import('./commands/status.js'),
  () => import('./commands/rollback.js'),
  () => import('./commands/sync.js'),
  () => import('./commands/verify.js'),
  () => import('./commands/rdb.js'),
  () => import('./commands/demo.js'),
];

export async function main(argv: string[]): Promise<void> {
  const program = new Command('ferry')
    .description('Move a live Redis dataset to a new instance with zero downtime and zero lost writes')
    .exitOverride();
  for (const load of COMMANDS) (await load()).register(program);
  try {
    // `ferry` alone in a terminal: the wizard; elsewhere commander prints the help.
    if (argv.length <= 2 && process.stdin.isTTY && process.stdout.isTTY) {
      const { runWizard } = await import('./ui/wizard/index.js');
      process.exit(await runWizard());
    }
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
    if (e.code?.startsWith('commander.')) process.exit(2);
    const code = exitCodeOf(err);
    const msg = err instanceof FerryError ? err.message : `internal error: ${(err as Error)?.stack ?? err} (please report this bug)`;
    process.stderr.write(`ferry: ${redact(msg)}\n`);
    process.exit(code);
  }
}
