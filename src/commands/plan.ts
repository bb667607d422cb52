/** `ferry plan`: preflight findings and every step with its commands; changes nothing. */
import type { Command } from 'commander';
import { addMigrationOptions, type MigrationFlags } from '../core/spec-from-flags.js';

export function register(program: Command): void {
  addMigrationOptions(program.command('plan').description('dry run: check both servers and print every step with the commands it would send; changes nothing'))
    .option('--json', 'print the plan as one JSON document')
    .action(async (flags: MigrationFlags & { json?: boolean }) => {
      const { printPlan } = await import('./print-plan.js');
      await printPlan(flags);
    });
}
