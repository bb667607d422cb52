/** `ferry run`: performs the migration (or, with --dry-run, prints the plan). */
import type { Command } from 'commander';
import { addMigrationOptions, type MigrationFlags } from '../core/spec-from-flags.js';
import { addPlaybookOption } from '../playbook/option.js';

/** Flags of `ferry run` beyond the migration flags. */
export interface RunFlags extends MigrationFlags {
  state?: string;
  yes?: boolean;
  json?: boolean;
  dryRun?: boolean;
  playbook?: string;
}

export function register(program: Command): void {
  addPlaybookOption(addMigrationOptions(program.command('run').description('migrate the live dataset from --from to --to')))
    .option('--state <file>', 'state file for status and resume (default .ferry/run-<time>-<pid>.json)')
    .option('--yes', 'answer every confirmation with yes (needed without a terminal)')
    .option('--json', 'one JSON event per line on stdout')
    .option('--dry-run', 'print the plan (like ferry plan) and change nothing')
    .action(async (cliFlags: RunFlags, command: Command) => {
      const { withPlaybook } = await import('../playbook/merge.js');
      const flags = withPlaybook(cliFlags, command);
      if (flags.dryRun) {
        const { printPlan } = await import('./print-plan.js');
        return printPlan(flags);
      }
      const { specFromFlags } = await import('../core/spec-from-flags.js');
      const { executeRun } = await import('./execute-run.js');
      await executeRun(specFromFlags(flags), { statePath: flags.state, yes: !!flags.yes, json: !!flags.json });
    });
}
