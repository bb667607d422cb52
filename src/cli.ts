/**
 * The CLI: a thin shell over the core (STYLE.md #1). Each command lives in src/commands/NAME.ts and
 * exports `register(program)`; its heavy imports happen inside its action, so `--help` stays fast.
 */
import { Command } from 'commander';
import { exitCodeOf, FerryError } from './core/errors.js';
import { redact } from './core/redact.js';
import { packageVersion } from './core/version.js';

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

/** Below the command list of `ferry --help`: the wizard, where the flags are, the exit codes. */
const HELP_AFTER = `
Run ferry with no arguments in a terminal for the wizard; ferry COMMAND --help lists a command's flags.

Exit codes: 0 done, 1 internal error (a bug), 2 bad input, 3 refused by a safety check (nothing changed),
4 a step failed (ferry resume --state FILE continues), 5 data differences or lost writes, 130 interrupted.`;

export async function main(argv: string[]): Promise<void> {
  const program = new Command('ferry')
    .description('Move a live Redis dataset to a new instance with zero downtime and zero lost writes')
    .version(packageVersion(), '-V, --version', 'print the version of ferry and exit')
    .addHelpText('after', HELP_AFTER)
    .exitOverride();
  for (const load of COMMANDS) (await load()).register(program);
  oneLineErrors(program);
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

/**
 * Commander's own errors (unknown option, missing value, too many arguments) in ferry's form: one
 * line starting `ferry: `, ending with the help that lists the right options. They exit 2.
 */
function oneLineErrors(cmd: Command, path = cmd.name()): void {
  const line = (text: string) => text.trim().replace(/^error: /, '').replace(/\.?\s*\n\s*/g, ' ').replace(/\.$/, '');
  cmd.configureOutput({ outputError: (text, write) => write(`ferry: ${line(text)}; see ${path} --help\n`) });
  for (const sub of cmd.commands) oneLineErrors(sub, `${path} ${sub.name()}`);
}
