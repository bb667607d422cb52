/** `ferry plan`: preflight findings and every step with its commands; changes nothing. */
import type { Command } from 'commander';
import { addMigrationOptions, type MigrationFlags } from '../core/spec-from-flags.js';
import { addPlaybookOption } from '../playbook/option.js';

export function register(program: Command): void {
  addPlaybookOption(addMigrationOptions(program.command('plan').description('dry run: check both servers and print every step with the commands it would send; changes nothing')))
    .option('--json', 'print the plan as one JSON document')
    .action(async (flags: MigrationFlags & { json?: boolean; playbook?: string }, command: Command) => {
      const { withPlaybook } = await import('../playbook/merge.js');
      const { printPlan } = await import('./print-plan.js');
      await printPlan(withPlaybook(flags, command));
    });
}
